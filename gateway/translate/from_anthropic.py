"""Anthropic Messages response (whole or streamed) -> OpenAI chat completion.

Thinking blocks are not message content: their text is exposed as
``message.reasoning_content`` (``delta.reasoning_content`` when streaming), the field
Moonshot's and other OpenAI-compatible thinking models use, so clients see one shape
whichever provider answered. Signatures and redacted thinking are dropped, unless the
surface asked for them (``signed``): then they travel in the hub's ``thinking_blocks``
(``hub.py``), so that a client able to send them back can continue Claude's thinking.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from .stream_errors import anthropic_stream_error
from .to_anthropic import ChatTranslation
from .tool_ids import from_safe_tool_id
from .usage import anthropic_to_openai_usage

# refusal: the streaming classifier stopped the answer; context-window overflow is a
# length stop as far as an OpenAI client can tell; pause_turn only happens with
# server tools, which the gateway never sends.
FINISH_REASONS: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def finish_reason(stop_reason: Any, tr: ChatTranslation) -> str:
    reason = FINISH_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"
    # A response_format answer arrives as a forced tool call; to the client it is text.
    if reason == "tool_calls" and tr.json_tool is not None:
        return "stop"
    return reason


def _arguments(value: Any) -> str:
    return orjson.dumps(value if isinstance(value, dict) else {}).decode()


def messages_to_chat_response(
    msg: dict[str, Any], *, model: str, tr: ChatTranslation, created: int | None = None,
    signed: bool = False,
) -> dict[str, Any]:
    texts: list[str] = []
    thinking: list[str] = []
    blocks: list[dict[str, Any]] = []
    tool_calls: list[dict[str, Any]] = []
    json_text: str | None = None
    for block in msg.get("content") or ():
        btype = block.get("type")
        if btype == "text":
            texts.append(block.get("text") or "")
        elif btype == "tool_use":
            if tr.json_tool is not None and block.get("name") == tr.json_tool:
                json_text = _arguments(block.get("input"))
                continue
            tool_calls.append(
                {
                    "id": from_safe_tool_id(str(block.get("id") or "")),
                    "type": "function",
                    "function": {
                        "name": block.get("name") or "",
                        "arguments": _arguments(block.get("input")),
                    },
                }
            )
        elif btype == "thinking":
            thinking.append(block.get("thinking") or "")
            if signed:
                blocks.append(block)
        elif btype == "redacted_thinking" and signed:
            blocks.append(block)
    message: dict[str, Any] = {"role": "assistant"}
    if json_text is not None:
        message["content"] = json_text  # JSON mode: any prose around it is not JSON
    else:
        message["content"] = "".join(texts) if texts or not tool_calls else None
    message["refusal"] = None
    if tool_calls:
        message["tool_calls"] = tool_calls
    if thinking:
        message["reasoning_content"] = "".join(thinking)
    if blocks:
        message["thinking_blocks"] = blocks
    usage = msg.get("usage")
    return {
        "id": "chatcmpl-" + str(msg.get("id") or ""),
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason(msg.get("stop_reason"), tr),
            }
        ],
        "usage": anthropic_to_openai_usage(usage if isinstance(usage, dict) else {}),
    }


def _block_index(data: dict[str, Any]) -> int:
    index = data.get("index")
    return index if isinstance(index, int) else -1


# What an open content block turns into on the OpenAI side.
_TEXT, _TOOL, _JSON, _THINKING, _IGNORED = range(5)


class MessagesStreamToChat:
    """Translate Anthropic stream events into ``chat.completion.chunk`` dicts.

    Work per event is constant: the open blocks live in a dict keyed by Anthropic's
    block index, and nothing accumulates the streamed text.
    """

    __slots__ = (
        "_base",
        "_blocks",
        "_finish_reason",
        "_final_usage",
        "_finished",
        "_include_usage",
        "_next_tool",
        "_provider",
        "_signed",
        "_tr",
        "_usage",
    )

    def __init__(
        self, *, model: str, tr: ChatTranslation, include_usage: bool, chunk_id: str, created: int,
        signed: bool = False, provider: str = "upstream", final_usage: bool = False,
    ) -> None:
        self._tr = tr
        # include_usage: OpenAI's stream (usage null on every chunk, then the usage
        # chunk); final_usage: the usage chunk only (for a translation reading it there).
        self._final_usage = include_usage or final_usage
        self._signed = signed
        self._provider = provider
        self._include_usage = include_usage
        self._base: dict[str, Any] = {
            "id": chunk_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
        }
        self._blocks: dict[int, tuple[int, int]] = {}  # block index -> (kind, tool index)
        self._next_tool = 0
        self._usage: dict[str, Any] = {}
        self._finish_reason: str | None = None
        self._finished = False

    @property
    def usage(self) -> dict[str, Any]:
        """OpenAI-shaped usage so far (also after a stream that ended early)."""
        return anthropic_to_openai_usage(self._usage)

    @property
    def finished(self) -> bool:
        return self._finished

    @property
    def finish_reason(self) -> str | None:
        return self._finish_reason

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        chunk = {
            **self._base,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if self._include_usage:
            chunk["usage"] = None  # OpenAI: null on every chunk but the last
        return chunk

    def feed(self, event: str, data: dict[str, Any]) -> list[dict[str, Any]]:
        if not isinstance(data, dict):
            data = {}
        etype = data.get("type", event)
        if etype == "content_block_delta":
            return self._delta(data)
        if etype == "content_block_start":
            return self._start(data)
        if etype == "message_start":
            message = data.get("message") or {}
            usage = message.get("usage")
            if isinstance(usage, dict):
                self._usage.update(usage)
            return [self._chunk({"role": "assistant", "content": ""})]
        if etype == "message_delta":
            return self._message_delta(data)
        if etype == "message_stop":
            self._finished = True
            if self._final_usage:
                return [{**self._base, "choices": [], "usage": self.usage}]
            return []
        if etype == "error":
            raise anthropic_stream_error(data, provider=self._provider)
        # ping, content_block_stop, and event types added after this was written
        # (Anthropic's versioning policy allows new ones) need no output.
        return []

    def _start(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        block = data.get("content_block") or {}
        index = _block_index(data)
        btype = block.get("type")
        if btype == "text":
            self._blocks[index] = (_TEXT, -1)
            text = block.get("text")
            return [self._chunk({"content": text})] if text else []
        if btype == "tool_use":
            name = block.get("name") or ""
            initial = block.get("input")
            if self._tr.json_tool is not None and name == self._tr.json_tool:
                self._blocks[index] = (_JSON, -1)
                return [self._chunk({"content": _arguments(initial)})] if initial else []
            tool_index = self._next_tool
            self._next_tool += 1
            self._blocks[index] = (_TOOL, tool_index)
            call = {
                "index": tool_index,
                "id": from_safe_tool_id(str(block.get("id") or "")),
                "type": "function",
                # The input streams as input_json_delta; a non-empty start input (not
                # seen from Anthropic, but legal) is sent whole as the first fragment.
                "function": {"name": name, "arguments": _arguments(initial) if initial else ""},
            }
            return [self._chunk({"tool_calls": [call]})]
        if btype == "thinking":
            self._blocks[index] = (_THINKING, -1)
            text = block.get("thinking")
            return [self._chunk({"reasoning_content": text})] if text else []
        self._blocks[index] = (_IGNORED, -1)  # redacted_thinking, server tool blocks
        if btype == "redacted_thinking" and self._signed:
            return [self._chunk({"thinking_blocks": [block]})]
        return []

    def _delta(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        kind, tool_index = self._blocks.get(_block_index(data), (_IGNORED, -1))
        delta = data.get("delta") or {}
        dtype = delta.get("type")
        if dtype == "text_delta" and kind == _TEXT:
            text = delta.get("text")
            return [self._chunk({"content": text})] if text else []
        if dtype == "input_json_delta":
            fragment = delta.get("partial_json")
            if not fragment:  # Anthropic opens tool input with an empty fragment
                return []
            if kind == _TOOL:
                call = {"index": tool_index, "function": {"arguments": fragment}}
                return [self._chunk({"tool_calls": [call]})]
            if kind == _JSON:
                return [self._chunk({"content": fragment})]
            return []
        if dtype == "thinking_delta" and kind == _THINKING:
            text = delta.get("thinking")
            return [self._chunk({"reasoning_content": text})] if text else []
        if dtype == "signature_delta" and kind == _THINKING and self._signed:
            # The end of the thinking block whose text came as reasoning_content.
            block = {"type": "thinking", "signature": delta.get("signature") or ""}
            return [self._chunk({"thinking_blocks": [block]})]
        return []  # signature_delta (unsigned), citations_delta

    def _message_delta(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        usage = data.get("usage")
        if isinstance(usage, dict):
            # Cumulative counts; input counts appear here only on some models.
            self._usage.update({k: v for k, v in usage.items() if v is not None})
        stop_reason = (data.get("delta") or {}).get("stop_reason")
        self._finish_reason = finish_reason(stop_reason, self._tr)
        return [self._chunk({}, self._finish_reason)]
