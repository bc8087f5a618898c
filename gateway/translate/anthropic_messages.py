"""OpenAI chat ``messages`` -> Anthropic ``system`` blocks and alternating turns.

The Messages API is stricter than Chat Completions; each rule below is one the real API
enforces with a 400:

- roles alternate user/assistant, so consecutive same-role messages merge into one turn
  (``tool`` messages are user turns: consecutive ones share a turn, and a user message
  that follows them joins that turn after the results);
- "Messages following tool_use blocks must begin with a matching number of tool_result
  blocks": results are kept at the front of their user turn, and every ``tool_use``
  must be answered in the very next turn (checked here so the client gets a 400 naming
  its own message instead of Anthropic's ``messages.5``);
- text blocks must contain non-whitespace text, so empty and blank text is dropped and
  a message left with no content is skipped (an assistant ``refusal`` is its text);
- "final assistant content cannot end with trailing whitespace" (prefill), so the last
  text of a final assistant turn is right-stripped;
- ``tool_use.id`` must match ``^[a-zA-Z0-9_-]+$``: ids go through ``to_safe_tool_id``;
- an assistant message's ``thinking_blocks`` (the hub's signed reasoning, ``hub.py``)
  open its turn as they are, since Anthropic wants a tool-use turn's thinking back
  first and unchanged; the gateway's own blocks (Kimi's reasoning, ``reasoning.py``)
  are left out: their signatures would fail Anthropic's check.

A ``cache_control`` on a system, developer or user text part (the extension
OpenRouter and LiteLLM accept) is kept on its text block: it is how a chat client
asks Claude to cache a prompt prefix.

Strings are referenced, never copied; an image data URL is sliced once and never
decoded or re-encoded.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from . import _check as check
from .reasoning import SIGNATURE_PREFIX
from .tool_ids import from_safe_tool_id, to_safe_tool_id

IMAGE_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
# Browsers and some SDKs write image/jpg; Anthropic accepts only image/jpeg.
_MEDIA_ALIASES = {"image/jpg": "image/jpeg"}

Block = dict[str, Any]


def convert_messages(messages: list[Any]) -> tuple[list[Block], list[dict[str, Any]]]:
    """Return ``(system_text_blocks, turns)`` for an OpenAI ``messages`` array."""
    turns = _Turns()
    system: list[Block] = []
    for i, msg in enumerate(messages):
        p = f"messages[{i}]"
        check.obj(msg, p)
        role = msg.get("role")
        if role in ("system", "developer"):
            system.extend(_texts(msg.get("content"), p))
        elif role == "user":
            turns.extend("user", _user_blocks(msg.get("content"), f"{p}.content"))
        elif role == "assistant":
            turns.extend("assistant", _assistant_blocks(msg, p, turns))
        elif role == "tool":
            turns.add_result(_tool_result(msg, p), p)
        elif role == "function":
            raise check.bad(f"{p}.role", "'function' is deprecated and not supported; use tools")
        else:
            raise check.bad(f"{p}.role", "must be one of system, developer, user, assistant, tool")
    return system, turns.finish()


def has_text(text: str) -> bool:
    # "text content blocks must contain non-whitespace text"; isspace() stops at the
    # first visible character, so this is cheap on long texts.
    return bool(text) and not text.isspace()


def _text_block(part: dict[str, Any], text: str) -> Block:
    block: Block = {"type": "text", "text": text}
    if isinstance(part.get("cache_control"), dict):
        block["cache_control"] = part["cache_control"]
    return block


def _texts(content: Any, p: str) -> Iterator[Block]:
    """Text blocks of a system/developer message's non-empty texts."""
    if isinstance(content, str):
        if has_text(content):
            yield {"type": "text", "text": content}
        return
    if not isinstance(content, list):
        raise check.bad(f"{p}.content", "must be a string or an array of text parts")
    for j, part in enumerate(content):
        pj = f"{p}.content[{j}]"
        check.obj(part, pj)
        if part.get("type") != "text":
            raise check.bad(f"{pj}.type", "must be 'text'")
        text = check.string(part.get("text"), f"{pj}.text")
        if has_text(text):
            yield _text_block(part, text)


def _user_blocks(content: Any, p: str) -> list[Block]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if has_text(content) else []
    if not isinstance(content, list):
        raise check.bad(p, "must be a string or an array of content parts")
    blocks: list[Block] = []
    for j, part in enumerate(content):
        pj = f"{p}[{j}]"
        check.obj(part, pj)
        ptype = part.get("type")
        if ptype == "text":
            text = check.string(part.get("text"), f"{pj}.text")
            if has_text(text):
                blocks.append(_text_block(part, text))
        elif ptype == "image_url":
            blocks.append(image_block(part.get("image_url"), f"{pj}.image_url"))
        elif ptype == "file":
            blocks.append(_file_block(part.get("file"), f"{pj}.file"))
        elif ptype == "input_audio":
            raise check.bad(f"{pj}.type", "'input_audio' is not supported by this model")
        else:
            raise check.bad(f"{pj}.type", "must be one of text, image_url, file")
    return blocks


def parse_data_url(url: str, p: str) -> tuple[str, str]:
    """``data:<media>[;params];base64,<data>`` -> ``(media_type, data)``, data unchanged."""
    header, sep, data = url.partition(",")
    params = header[5:].split(";")
    if not sep or params[-1].lower() != "base64" or not data:
        raise check.bad(
            p, "must be a base64 data URL (data:image/png;base64,...) or an http(s) URL"
        )
    media = params[0].strip().lower()
    return _MEDIA_ALIASES.get(media, media), data


def image_block(image_url: Any, p: str) -> Block:
    # Kimi and some clients send image_url as a bare string; accept both shapes.
    if isinstance(image_url, str):
        url, up = image_url, p
    else:
        url, up = check.string(check.obj(image_url, p).get("url"), f"{p}.url"), f"{p}.url"
    if url[:5].lower() == "data:":
        media, data = parse_data_url(url, up)
        if media not in IMAGE_MEDIA_TYPES:
            raise check.bad(
                up, f"has media type {media!r}; supported: {', '.join(sorted(IMAGE_MEDIA_TYPES))}"
            )
        return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}
    if url[:8].lower() == "https://" or url[:7].lower() == "http://":
        # Anthropic fetches URL images itself: never download and re-encode here.
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise check.bad(up, "must be a base64 data URL (data:image/png;base64,...) or an http(s) URL")


def _file_block(file: Any, p: str) -> Block:
    """A PDF given inline (``file_data``) becomes a base64 ``document`` block."""
    check.obj(file, p)
    data = file.get("file_data")
    if data is None:
        raise check.bad(f"{p}.file_data", "is required: uploaded file ids cannot be forwarded")
    check.string(data, f"{p}.file_data")
    if data[:5].lower() == "data:":
        media, data = parse_data_url(data, f"{p}.file_data")
    else:
        name = file.get("filename")
        media = "application/pdf" if isinstance(name, str) and name.lower().endswith(".pdf") else ""
    if media != "application/pdf":
        raise check.bad(f"{p}.file_data", "must be a PDF (data:application/pdf;base64,...)")
    return {"type": "document", "source": {"type": "base64", "media_type": media, "data": data}}


def _assistant_blocks(msg: dict[str, Any], p: str, turns: _Turns) -> list[Block]:
    blocks: list[Block] = []
    thinking = msg.get("thinking_blocks")
    if thinking is not None:
        blocks.extend(_thinking_blocks(thinking, f"{p}.thinking_blocks"))
    content = msg.get("content")
    if isinstance(content, str):
        if has_text(content):
            blocks.append({"type": "text", "text": content})
    elif isinstance(content, list):
        for j, part in enumerate(content):
            pj = f"{p}.content[{j}]"
            check.obj(part, pj)
            ptype = part.get("type")
            if ptype not in ("text", "refusal"):
                raise check.bad(f"{pj}.type", "must be 'text' or 'refusal'")
            text = check.string(part.get(ptype), f"{pj}.{ptype}")
            if has_text(text):
                blocks.append({"type": "text", "text": text})
    elif content is not None:
        raise check.bad(f"{p}.content", "must be a string, an array of text parts, or null")
    refusal = msg.get("refusal")
    # The SDK's ChatCompletionMessage carries a refusal instead of content; clients put
    # it back into their history as is: it is what the assistant said.
    if refusal is not None and has_text(check.string(refusal, f"{p}.refusal")) and not blocks:
        blocks.append({"type": "text", "text": refusal})
    if msg.get("function_call") is not None:
        raise check.bad(f"{p}.function_call", "is deprecated and not supported; use tool_calls")
    calls = msg.get("tool_calls")
    if calls is not None:
        for k, call in enumerate(check.arr(calls, f"{p}.tool_calls")):
            pk = f"{p}.tool_calls[{k}]"
            check.obj(call, pk)
            if call.get("type", "function") != "function":
                raise check.bad(f"{pk}.type", "must be 'function'")
            call_id = check.nonempty_string(call.get("id"), f"{pk}.id")
            fn = check.obj(call.get("function"), f"{pk}.function")
            name = check.nonempty_string(fn.get("name"), f"{pk}.function.name")
            args = parse_arguments(fn.get("arguments"), f"{pk}.function.arguments")
            safe_id = to_safe_tool_id(call_id)
            turns.note_use(safe_id, pk)
            blocks.append({"type": "tool_use", "id": safe_id, "name": name, "input": args})
    return blocks


def _thinking_blocks(value: Any, p: str) -> Iterator[Block]:
    for j, block in enumerate(check.arr(value, p)):
        pj = f"{p}[{j}]"
        kind = check.obj(block, pj).get("type")
        if kind == "thinking":
            check.string(block.get("thinking"), f"{pj}.thinking")
            if check.string(block.get("signature"), f"{pj}.signature").startswith(
                    SIGNATURE_PREFIX):
                continue
        elif kind == "redacted_thinking":
            check.string(block.get("data"), f"{pj}.data")
        else:
            raise check.bad(f"{pj}.type", "must be 'thinking' or 'redacted_thinking'")
        yield block


def parse_arguments(arguments: Any, p: str) -> dict[str, Any]:
    """Tool-call ``arguments`` (a JSON string) as the object Anthropic wants as ``input``."""
    check.string(arguments, p)
    if not arguments.strip():
        return {}  # some clients send "" for a call without parameters
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError as exc:
        raise check.bad(p, f"is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise check.bad(p, "must encode a JSON object")
    return value


def _tool_result(msg: dict[str, Any], p: str) -> Block:
    call_id = check.nonempty_string(msg.get("tool_call_id"), f"{p}.tool_call_id")
    block: Block = {"type": "tool_result", "tool_use_id": to_safe_tool_id(call_id)}
    content = msg.get("content")
    if isinstance(content, str):
        if has_text(content):  # an empty string is simply a result without content
            block["content"] = content
    elif isinstance(content, list):
        parts = _user_blocks(content, f"{p}.content")
        if any(b["type"] == "document" for b in parts):
            raise check.bad(f"{p}.content", "may hold only text and image parts")
        if parts:
            block["content"] = parts
    else:
        raise check.bad(f"{p}.content", "must be a string or an array of content parts")
    return block


class _Turns:
    """Alternating turns under construction, and where each tool id came from."""

    __slots__ = ("n_results", "results", "turns", "uses")

    def __init__(self) -> None:
        self.turns: list[dict[str, Any]] = []
        self.n_results: list[int] = []  # tool_result blocks at the front of each turn
        self.uses: list[tuple[int, str, str]] = []  # (turn index, safe id, param)
        self.results: list[tuple[int, str, str]] = []

    def _turn(self, role: str) -> int:
        if not self.turns or self.turns[-1]["role"] != role:
            self.turns.append({"role": role, "content": []})
            self.n_results.append(0)
        return len(self.turns) - 1

    def note_use(self, safe_id: str, param: str) -> None:
        # The assistant turn these blocks will join: the current one if it is an
        # assistant turn, else the next one to be opened.
        t = len(self.turns) - 1
        if t < 0 or self.turns[t]["role"] != "assistant":
            t += 1
        self.uses.append((t, safe_id, param))

    def extend(self, role: str, blocks: list[Block]) -> None:
        if blocks:
            self.turns[self._turn(role)]["content"].extend(blocks)

    def add_result(self, block: Block, param: str) -> None:
        t = self._turn("user")
        self.turns[t]["content"].insert(self.n_results[t], block)
        self.n_results[t] += 1
        self.results.append((t, block["tool_use_id"], param))

    def finish(self) -> list[dict[str, Any]]:
        self._check_pairing()
        turns = self.turns
        if turns and turns[-1]["role"] == "assistant":
            content = turns[-1]["content"]
            last = content[-1]
            if last["type"] == "text":
                stripped = last["text"].rstrip()
                if stripped:
                    content[-1] = {"type": "text", "text": stripped}
                else:
                    content.pop()
                    if not content:
                        turns.pop()
        if not turns:
            raise check.bad("messages", "must contain a user or assistant message with content")
        return turns

    def _check_pairing(self) -> None:
        uses_by_turn: dict[int, dict[str, str]] = {}
        seen: set[str] = set()
        for t, sid, param in self.uses:
            if sid in seen:
                raise check.bad(
                    f"{param}.id",
                    f"repeats tool call id {from_safe_tool_id(sid)!r}; "
                    "ids must be unique in a conversation",
                )
            seen.add(sid)
            uses_by_turn.setdefault(t, {})[sid] = param
        answered: dict[int, set[str]] = {}
        for t, sid, param in self.results:
            if sid not in uses_by_turn.get(t - 1, {}):
                raise check.bad(
                    f"{param}.tool_call_id",
                    f"{from_safe_tool_id(sid)!r} does not answer a tool call of the assistant "
                    "message right before it",
                )
            answered.setdefault(t, set()).add(sid)
        for t, uses in uses_by_turn.items():
            done = answered.get(t + 1, set())
            for sid, param in uses.items():
                if sid not in done:
                    raise check.bad(
                        param,
                        f"(id {from_safe_tool_id(sid)!r}) has no tool message answering it "
                        "before the next user or assistant message",
                    )
