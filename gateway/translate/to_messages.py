"""OpenAI chat response (whole or streamed, Kimi's flavour included) -> Anthropic message.

Tool-call ids go through ``to_safe_tool_id``: Moonshot's ``functions.get_weather:0``
would be rejected by Anthropic if the client's next turn were routed there, and
``from_messages`` decodes them back for Moonshot. ``reasoning_content`` becomes a
thinking block first in the message, signed by the gateway (``reasoning.py``), so the
client can send it back as Moonshot's thinking models want.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..errors import UpstreamBadResponse
from .from_messages import MessagesTranslation
from .reasoning import Signer, sign
from .stream_errors import openai_stream_error
from .tool_ids import to_safe_tool_id
from .usage import openai_to_anthropic_usage

STOP_REASONS: dict[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def stop_reason(finish_reason: Any, has_tool_calls: bool) -> str:
    reason = (
        STOP_REASONS.get(finish_reason, "end_turn")
        if isinstance(finish_reason, str)
        else "end_turn"
    )
    # Some OpenAI-compatible servers say "stop" beside tool calls; Anthropic clients run
    # their tool loop only on "tool_use".
    return "tool_use" if has_tool_calls and reason == "end_turn" else reason


def _tool_input(arguments: Any, provider: str) -> dict[str, Any]:
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        return {}
    try:
        value = orjson.loads(arguments) if isinstance(arguments, (str, bytes)) else arguments
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise UpstreamBadResponse(
            f"upstream {provider} returned tool call arguments that are not a JSON object",
            provider=provider)
    return value


def _find_usage(resp: dict[str, Any]) -> dict[str, Any] | None:
    usage = resp.get("usage")
    if isinstance(usage, dict):
        return usage
    choices = resp.get("choices")
    if isinstance(choices, list):
        for choice in choices:  # Moonshot: inside the choice
            inner = choice.get("usage") if isinstance(choice, dict) else None
            if isinstance(inner, dict):
                return inner
    return None


def chat_to_messages_response(
    resp: dict[str, Any], *, model: str, tr: MessagesTranslation, provider: str = "upstream"
) -> dict[str, Any]:
    choices = resp.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else {}
    message = choice.get("message") or {}
    resp_id = str(resp.get("id") or "")
    content: list[dict[str, Any]] = []
    reasoning = message.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning:
        content.append({"type": "thinking", "thinking": reasoning, "signature": sign(reasoning)})
    text = message.get("content")
    if isinstance(text, list):  # text parts, from servers that return them
        text = "".join(p.get("text") or "" for p in text if isinstance(p, dict))
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    calls = message.get("tool_calls") or []
    for k, call in enumerate(calls):
        fn = call.get("function") or {}
        call_id = call.get("id") or f"{resp_id}_{k}"
        content.append(
            {
                "type": "tool_use",
                "id": to_safe_tool_id(str(call_id)),
                "name": fn.get("name") or "",
                "input": _tool_input(fn.get("arguments"), provider),
            }
        )
    usage = _find_usage(resp)
    return {
        "id": "msg_" + resp_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(choice.get("finish_reason"), bool(calls)),
        "stop_sequence": None,
        "usage": openai_to_anthropic_usage(usage or {}),
    }


Event = tuple[str, dict[str, Any]]


class ChatStreamToMessages:
    """Translate ``chat.completion.chunk`` dicts into Anthropic stream events.

    The output is always a valid sequence: ``message_start``, then for each text run or
    tool call (by its 0-based index) ``content_block_start``/``delta``.../``stop``, then
    ``message_delta`` (stop_reason, cumulative usage) and ``message_stop``. Since usage
    follows the finish chunk in OpenAI streams (and sits inside it in Moonshot's),
    ``message_delta`` waits for usage or for :meth:`finish`.
    """

    __slots__ = (
        "_any_tool",
        "_finish_reason",
        "_input_estimate",
        "_message_id",
        "_model",
        "_next_block",
        "_open",
        "_open_kind",
        "_provider",
        "_signer",
        "_started",
        "_stopped",
        "_tool_blocks",
        "_usage",
    )

    def __init__(
        self, *, model: str, tr: MessagesTranslation | None = None, message_id: str | None = None,
        input_estimate: int = 0, provider: str = "upstream",
    ) -> None:
        self._model = model
        self._provider = provider
        self._input_estimate = input_estimate
        self._signer: Signer | None = None  # the open thinking block's
        self._message_id = message_id
        self._started = False
        self._next_block = 0
        self._open: int | None = None  # Anthropic index of the open block
        self._open_kind: str | None = None
        self._tool_blocks: dict[int, int] = {}  # OpenAI tool index -> Anthropic block index
        self._finish_reason: str | None = None
        self._usage: dict[str, Any] | None = None
        self._stopped = False
        self._any_tool = False

    @property
    def usage(self) -> dict[str, Any]:
        """Anthropic-shaped usage so far."""
        return openai_to_anthropic_usage(self._usage or {})

    @property
    def finished(self) -> bool:
        return self._stopped

    def feed(self, chunk: dict[str, Any]) -> list[Event]:
        if self._stopped or not isinstance(chunk, dict):
            return []
        if chunk.get("error") is not None:
            raise openai_stream_error(chunk, provider=self._provider)
        events: list[Event] = []
        if not self._started:
            events.append(self._message_start(chunk))
        usage = _find_usage(chunk)
        if usage is not None:
            self._usage = usage
        choices = chunk.get("choices")
        if isinstance(choices, list):
            for choice in choices:
                if isinstance(choice, dict) and choice.get("index", 0) == 0:
                    self._choice(choice, events)
        if self._finish_reason is not None and self._usage is not None:
            self._end(events)
        return events

    def finish(self) -> list[Event]:
        """Close the message when the upstream stream ended (with or without a finish)."""
        if self._stopped:
            return []
        events: list[Event] = []
        if not self._started:
            events.append(self._message_start({}))
        self._end(events)
        return events

    def _message_start(self, chunk: dict[str, Any]) -> Event:
        self._started = True
        if self._message_id is None:
            self._message_id = "msg_" + str(chunk.get("id") or "gateway")
        message: dict[str, Any] = {
            "id": self._message_id,
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": self._model,
            "stop_reason": None,
            "stop_sequence": None,
            # OpenAI streams report usage only at the end: the gateway's estimate of the
            # prompt now (as Anthropic counts it up front), the real figures in
            # message_delta.
            "usage": {"input_tokens": self._input_estimate, "output_tokens": 0},
        }
        return "message_start", {"type": "message_start", "message": message}

    def _choice(self, choice: dict[str, Any], events: list[Event]) -> None:
        delta = choice.get("delta") or {}
        reasoning = delta.get("reasoning_content")
        if isinstance(reasoning, str) and reasoning:
            if self._open_kind != "thinking":
                self._close(events)
                self._signer = Signer()
                self._start({"type": "thinking", "thinking": "", "signature": ""}, "thinking",
                            events)
            assert self._signer is not None
            self._signer.update(reasoning)
            events.append(self._delta({"type": "thinking_delta", "thinking": reasoning},
                                      self._open))
        text = delta.get("content")
        if isinstance(text, str) and text:
            if self._open_kind != "text":
                self._close(events)
                self._start({"type": "text", "text": ""}, "text", events)
            events.append(self._delta({"type": "text_delta", "text": text}, self._open))
        for call in delta.get("tool_calls") or ():
            self._tool_delta(call, events)
        if choice.get("finish_reason") is not None:
            self._finish_reason = choice["finish_reason"]
            self._close(events)

    def _tool_delta(self, call: dict[str, Any], events: list[Event]) -> None:
        index = call.get("index", 0)
        fn = call.get("function") or {}
        block = self._tool_blocks.get(index)
        if block is None:
            self._close(events)
            call_id = call.get("id") or f"{self._message_id}_{index}"
            self._any_tool = True
            block = self._start(
                {
                    "type": "tool_use",
                    "id": to_safe_tool_id(str(call_id)),
                    "name": fn.get("name") or "",
                    "input": {},
                },
                "tool",
                events,
            )
            self._tool_blocks[index] = block
        fragment = fn.get("arguments")
        if isinstance(fragment, str) and fragment:
            # Deltas of an earlier, already closed call (servers interleave calls only in
            # theory) still name their own block, which is what SDK accumulators key on.
            events.append(
                self._delta({"type": "input_json_delta", "partial_json": fragment}, block)
            )

    def _start(self, content_block: dict[str, Any], kind: str, events: list[Event]) -> int:
        index = self._next_block
        self._next_block += 1
        self._open, self._open_kind = index, kind
        events.append(
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": content_block,
                },
            )
        )
        return index

    @staticmethod
    def _delta(delta: dict[str, Any], index: int | None) -> Event:
        return "content_block_delta", {
            "type": "content_block_delta",
            "index": index,
            "delta": delta,
        }

    def _close(self, events: list[Event]) -> None:
        if self._open_kind == "thinking" and self._signer is not None:
            # As Claude streams it: the signature just before the block stops.
            events.append(self._delta({"type": "signature_delta",
                                       "signature": self._signer.signature()}, self._open))
            self._signer = None
        if self._open is not None:
            events.append(
                ("content_block_stop", {"type": "content_block_stop", "index": self._open})
            )
            self._open = self._open_kind = None

    def _end(self, events: list[Event]) -> None:
        self._close(events)
        self._stopped = True
        reason = stop_reason(self._finish_reason, self._any_tool)
        events.append(
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": reason, "stop_sequence": None},
                    "usage": self.usage,
                },
            )
        )
        events.append(("message_stop", {"type": "message_stop"}))
