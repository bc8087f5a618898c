"""The chat-completions wire format's adapter pieces: the hub's chat requests and
answers for Moonshot Kimi and other OpenAI-compatible servers (``hub.py``).

Kimi speaks Chat Completions with a few differences (README.md, "Translation
decisions"; the Moonshot emulator, ``gateway/emulators/moonshot_validate.py``, refuses
what the real API refuses):

- ``temperature`` ranges 0..1: values above 1 are clamped to 1, not rescaled (Kimi's
  own recommended values, 0.6 and 1.0, then mean what they say);
- ``tool_choice: "required"`` is unsupported on K2 (named functions are accepted,
  except on thinking models, which reject any forced choice): with a single tool it
  becomes that named tool, which means the same; with several it becomes ``auto``
  plus a system message, after the conversation, telling the model to call one (at
  the end, so the cached prompt prefix stays intact);
- vision accepts base64 data URLs (and ``ms://`` file ids), not public URLs, and the
  gateway never downloads: an http(s) image URL is a 400;
- streamed usage arrives inside ``choices[0].usage`` of the last chunk (sometimes also
  at the top level): :class:`KimiStreamNormalizer` moves it to OpenAI's
  ``choices: []`` usage chunk.

Streamed requests always ask for ``stream_options.include_usage`` (usage reconciles
token limits). The hub's ``thinking_blocks`` on assistant messages (``hub.py``) are not
sent: their texts become the turn's ``reasoning_content`` (unless it has one), which
Moonshot's thinking models want back on tool-call turns, whoever did the thinking (as
a reasoning item's summary does, ``responses_request.py``); signatures and redacted
blocks mean nothing to Moonshot. Everything else is forwarded as parsed (Moonshot
extras such as ``reasoning_content`` or ``partial`` included).
"""

from __future__ import annotations

from typing import Any

from . import _check as check
from .stream_errors import openai_stream_error
from .usage import normalize_openai_usage

REQUIRED_TOOL_INSTRUCTION = (
    "You must answer this turn by calling one of the provided tools, not with text."
)


def chat_to_kimi_request(body: dict[str, Any], *, upstream_model: str) -> dict[str, Any]:
    """The request to send Moonshot; idempotent (translating its output changes nothing)."""
    if not isinstance(body, dict):
        raise check.bad("body", "must be a JSON object")
    messages = check.arr(body.get("messages"), "messages")
    out = dict(body)
    out["model"] = upstream_model
    if _check_messages(messages):
        out["messages"] = messages = [_without_thinking_blocks(m) for m in messages]

    temperature = body.get("temperature")
    if temperature is not None and check.number(temperature, "temperature") > 1:
        out["temperature"] = 1

    if body.get("stream") is True:
        # Always ask for usage: the gateway reconciles token limits from it, and
        # OpenAI-compatible servers (self-hosted vLLM) report it only when asked.
        # KimiStreamNormalizer hides it again from clients that did not ask.
        options = body.get("stream_options")
        if not isinstance(options, dict) or options.get("include_usage") is not True:
            out["stream_options"] = {
                **(options if isinstance(options, dict) else {}),
                "include_usage": True,
            }

    if body.get("tool_choice") == "required":
        out["tool_choice"], instruction = _required_choice(body)
        if instruction is not None:
            out["messages"] = _append_system(messages, instruction)
    return out


def _check_messages(messages: list[Any]) -> bool:
    """Refuse what Moonshot cannot take; True if a message carries ``thinking_blocks``."""
    blocks = False
    for i, msg in enumerate(messages):
        if isinstance(msg, dict) and "thinking_blocks" in msg:
            check.arr(msg["thinking_blocks"], f"messages[{i}].thinking_blocks")
            blocks = True
        reasoning = msg.get("reasoning_content") if isinstance(msg, dict) else None
        if reasoning is not None:
            # Thinking models want it back on earlier tool-call turns; it must be text.
            check.string(reasoning, f"messages[{i}].reasoning_content")
        content = msg.get("content") if isinstance(msg, dict) else None
        if not isinstance(content, list):
            continue
        for j, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "image_url":
                continue
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if isinstance(url, str) and url[:8].lower().startswith(("http://", "https://")):
                raise check.bad(
                    f"messages[{i}].content[{j}].image_url.url",
                    "must be a base64 data URL for this model: Moonshot does not fetch image "
                    "URLs and the gateway does not download them",
                )
    return blocks


def _without_thinking_blocks(msg: Any) -> Any:
    if not isinstance(msg, dict) or "thinking_blocks" not in msg:
        return msg
    out = {k: v for k, v in msg.items() if k != "thinking_blocks"}
    texts = [b["thinking"] for b in msg["thinking_blocks"] if isinstance(b, dict)
             and b.get("type") == "thinking" and isinstance(b.get("thinking"), str)]
    if any(texts) and not out.get("reasoning_content"):
        out["reasoning_content"] = "\n\n".join(t for t in texts if t)
    return out


def _required_choice(body: dict[str, Any]) -> tuple[Any, str | None]:
    """Kimi's stand-in for ``tool_choice: "required"``: ``(tool_choice, instruction)``."""
    tools = body.get("tools")
    if not isinstance(tools, list) or not tools:
        raise check.bad("tool_choice", "is 'required' but the request has no tools")
    if len(tools) == 1:
        # "Call a tool" with one tool is "call this tool", which Moonshot does accept.
        fn = check.obj(check.obj(tools[0], "tools[0]").get("function"), "tools[0].function")
        name = check.nonempty_string(fn.get("name"), "tools[0].function.name")
        return {"type": "function", "function": {"name": name}}, None
    return "auto", REQUIRED_TOOL_INSTRUCTION


def _append_system(messages: list[Any], text: str) -> list[Any]:
    note = {"role": "system", "content": text}
    # A trailing partial assistant message (Moonshot's prefill) must stay last.
    last = messages[-1] if messages else None
    if isinstance(last, dict) and last.get("role") == "assistant" and last.get("partial"):
        return [*messages[:-1], note, last]
    return [*messages, note]


def kimi_response_to_chat(resp: dict[str, Any], *, model: str) -> dict[str, Any]:
    """A non-streamed Moonshot response in OpenAI's shape (extras kept, usage normalised)."""
    out = dict(resp)
    out["model"] = model
    usage = resp.get("usage")
    choices = resp.get("choices")
    if not isinstance(usage, dict) and isinstance(choices, list):
        usage = next(
            (
                c["usage"]
                for c in choices
                if isinstance(c, dict) and isinstance(c.get("usage"), dict)
            ),
            None,
        )
    if isinstance(choices, list) and any(isinstance(c, dict) and "usage" in c for c in choices):
        out["choices"] = [_without_usage(c) for c in choices]
    if isinstance(usage, dict):
        out["usage"] = normalize_openai_usage(usage)
    return out


def _without_usage(choice: Any) -> Any:
    if isinstance(choice, dict) and "usage" in choice:
        return {k: v for k, v in choice.items() if k != "usage"}
    return choice


class KimiStreamNormalizer:
    """Pass OpenAI-shaped chunks through, with usage where OpenAI puts it.

    Every chunk gets ``usage: null`` (with ``include_usage``) or no usage at all
    (without); the usage found on a chunk, in ``choices[i].usage`` or at the top level,
    is emitted once as the final ``{"choices": [], "usage": ...}`` chunk (with
    ``include_usage`` or ``final_usage``: a translation that reads usage only there).
    A chunk with nothing to change (no usage, the model's name, not the last) is passed
    on as the same object, which is most of a stream.
    """

    __slots__ = (
        "_base",
        "_emitted",
        "_final_usage",
        "_finish_reason",
        "_include_usage",
        "_model",
        "_n",
        "_provider",
        "_started",
        "_usage",
    )

    def __init__(self, *, include_usage: bool, model: str | None = None, n: int = 1,
                 provider: str = "upstream", final_usage: bool = False) -> None:
        self._include_usage = include_usage
        self._final_usage = include_usage or final_usage
        self._provider = provider
        self._n = n
        self._model = model
        self._usage: dict[str, Any] | None = None
        self._emitted = False
        self._base: dict[str, Any] = {
            "id": "",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model or "",
        }
        self._finish_reason: str | None = None
        self._started = False

    @property
    def usage(self) -> dict[str, Any] | None:
        return self._usage

    @property
    def finish_reason(self) -> str | None:
        return self._finish_reason

    def feed(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        if not isinstance(chunk, dict):
            return []
        if chunk.get("error") is not None:
            raise openai_stream_error(chunk, provider=self._provider)
        if self._started and not self._include_usage and "usage" not in chunk and (
                self._model is None or chunk.get("model") == self._model):
            choices = chunk.get("choices")
            if choices.__class__ is list and choices:
                for c in choices:
                    if c.__class__ is not dict or "usage" in c or c.get("finish_reason"):
                        break
                else:
                    return [chunk]  # nothing to change: no usage, no finish, our model
        out = dict(chunk)
        if self._model is not None:
            out["model"] = self._model
        if not self._started:  # the usage chunk repeats the stream's id/created/model
            self._started = True
            self._base = {
                "id": out.get("id", ""),
                "object": "chat.completion.chunk",
                "created": out.get("created", 0),
                "model": out.get("model", ""),
            }
        usage = out.pop("usage", None)
        finished = False
        choices = out.get("choices")
        if isinstance(choices, list):
            if any(isinstance(c, dict) and "usage" in c for c in choices):
                for c in choices:
                    if isinstance(c, dict) and isinstance(c.get("usage"), dict):
                        usage = c["usage"]
                out["choices"] = choices = [_without_usage(c) for c in choices]
            for c in choices:
                if isinstance(c, dict) and c.get("finish_reason") is not None:
                    self._finish_reason = c["finish_reason"]
                    finished = True
        if isinstance(usage, dict):
            self._usage = normalize_openai_usage(usage)
        emitted: list[dict[str, Any]] = []
        if choices:  # a usage-only chunk ({"choices": []}) is replaced by ours
            if self._include_usage:
                out["usage"] = None
            emitted.append(out)
        # With n > 1 every choice's last chunk may carry usage: the usage chunk waits for
        # a usage-only chunk or the end of the stream (finish), after every choice.
        if (finished and self._n == 1 or not choices) and self._usage is not None:
            emitted.extend(self._usage_chunk())
        return emitted

    def finish(self) -> list[dict[str, Any]]:
        """At the end of the upstream stream: the usage chunk, if it is still owed."""
        return self._usage_chunk() if self._usage is not None else []

    def _usage_chunk(self) -> list[dict[str, Any]]:
        if not self._final_usage or self._emitted:
            return []
        self._emitted = True
        return [{**self._base, "choices": [], "usage": self._usage}]
