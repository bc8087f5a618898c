"""Hub chunks (chat completions) -> the Responses API's streaming event sequence.

``response.created``, ``response.in_progress``, then per output item
``response.output_item.added`` .. ``done`` with, inside, the part and delta events
(``content_part.*`` + ``output_text.*``, ``reasoning_summary_part.*`` +
``reasoning_summary_text.*``, ``function_call_arguments.*``,
``custom_tool_call_input.*``), and last ``response.completed`` / ``incomplete`` /
``failed``. Every event carries ``sequence_number`` (0, 1, 2, ...). Events are
``(name, data)`` pairs, framed by ``sse.frame_named``. The same builder replays a
stored response (``replay``), so a hit streams exactly like a miss.

A reasoning item ends where its thinking block does: at the hub's signature delta
(Claude's, ``hub.py``), or where text or a tool call starts (Kimi's reasoning, which
the gateway signs itself, ``reasoning.py``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from .reasoning import seal, sign_and_seal
from .responses_request import ToolNames
from .responses_response import (
    call_item,
    finish_status,
    message_item,
    new_id,
    reasoning_item,
    responses_usage,
)

Event = tuple[str, dict[str, Any]]


class ResponseEvents:
    """Folds hub chunks into output items and the events that announce them."""

    def __init__(self, env: dict[str, Any], names: ToolNames, sealed: bool = False) -> None:
        self.env = env
        self.names = names
        self.sealed = sealed  # reasoning items carry encrypted_content
        self.seq = 0
        self.output: list[dict[str, Any]] = []
        self.started = False
        self.finished = False
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self._open: dict[str, Any] | None = None  # the text or reasoning item being streamed
        self._open_index = -1
        self._text: list[str] = []
        self._signature: str | None = None  # the open reasoning block's, once known
        self._tools: dict[int, dict[str, Any]] = {}  # chat tool index -> item
        self._args: dict[int, list[str]] = {}
        self._up: dict[int, str] = {}  # chat tool index -> upstream function name
        self.response: dict[str, Any] | None = None

    def _ev(self, out: list[Event], kind: str, /, **data: Any) -> None:
        out.append((kind, {"type": kind, "sequence_number": self.seq, **data}))
        self.seq += 1

    def start(self, out: list[Event]) -> None:
        if self.started:
            return
        self.started = True
        self._ev(out, "response.created", response=self.env)
        self._ev(out, "response.in_progress", response=self.env)

    # -- items -------------------------------------------------------------------
    def _add(self, out: list[Event], item: dict[str, Any]) -> int:
        self.output.append(item)
        self._ev(out, "response.output_item.added", output_index=len(self.output) - 1,
                 item={**item, "status": "in_progress"} if "status" in item else item)
        return len(self.output) - 1

    def _open_item(self, out: list[Event], kind: str, item_id: str | None = None) -> None:
        self._close_open(out)
        if kind == "reasoning":
            item = reasoning_item("", item_id)
            idx = self._add(out, item)
            self._ev(out, "response.reasoning_summary_part.added", item_id=item["id"],
                     output_index=idx, summary_index=0,
                     part={"type": "summary_text", "text": ""})
        else:
            item = message_item("", item_id, status="in_progress")
            item["content"] = []
            idx = self._add(out, item)
            self._ev(out, "response.content_part.added", item_id=item["id"],
                     output_index=idx, content_index=0,
                     part={"type": "output_text", "text": "", "annotations": [],
                           "logprobs": []})
        self._open, self._open_index = item, idx

    def _close_open(self, out: list[Event], encrypted: str | None = None) -> None:
        item = self._open
        if item is None:
            return
        self._open = None
        idx = self._open_index
        text = "".join(self._text)
        self._text = []
        if item["type"] == "reasoning":
            part: dict[str, Any] = {"type": "summary_text", "text": text}
            self._ev(out, "response.reasoning_summary_text.done", item_id=item["id"],
                     output_index=idx, summary_index=0, text=text)
            self._ev(out, "response.reasoning_summary_part.done", item_id=item["id"],
                     output_index=idx, summary_index=0, part=part)
            item["summary"] = [part]
            signature, self._signature = self._signature, None
            if encrypted is None and self.sealed:
                encrypted = (seal({"type": "thinking", "signature": signature})
                             if signature is not None else sign_and_seal(text))
            item["encrypted_content"] = encrypted
        else:
            part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
            self._ev(out, "response.output_text.done", item_id=item["id"], output_index=idx,
                     content_index=0, text=text, logprobs=[])
            self._ev(out, "response.content_part.done", item_id=item["id"], output_index=idx,
                     content_index=0, part=part)
            item["content"] = [part]
            item["status"] = "completed"
        self._ev(out, "response.output_item.done", output_index=idx, item=item)

    def _text_delta(self, out: list[Event], kind: str, delta: str) -> None:
        item = self._open
        if item is None or item["type"] != kind:
            self._open_item(out, kind)
            item = self._open
            assert item is not None
        self._text.append(delta)
        # Built in place (not through _ev): one of these per streamed token.
        if kind == "reasoning":
            name = "response.reasoning_summary_text.delta"
            out.append((name, {"type": name, "sequence_number": self.seq,
                               "item_id": item["id"], "output_index": self._open_index,
                               "summary_index": 0, "delta": delta}))
        else:
            name = "response.output_text.delta"
            out.append((name, {"type": name, "sequence_number": self.seq,
                               "item_id": item["id"], "output_index": self._open_index,
                               "content_index": 0, "delta": delta, "logprobs": []}))
        self.seq += 1

    def _blocks(self, out: list[Event], blocks: Iterable[Any]) -> None:
        """The hub's signed reasoning: a signature ends the open reasoning item, a
        redacted block is an item of its own (no summary)."""
        for block in blocks:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "redacted_thinking":
                self._close_open(out)
                item = reasoning_item("", encrypted=seal(block) if self.sealed else None)
                idx = self._add(out, item)
                self._ev(out, "response.output_item.done", output_index=idx, item=item)
            elif self._open is not None and self._open["type"] == "reasoning":
                self._signature = block.get("signature")
                self._close_open(out)

    def _tool_delta(self, out: list[Event], tc: dict[str, Any]) -> None:
        index = tc.get("index", 0)
        fn = tc.get("function") or {}
        item = self._tools.get(index)
        if item is None:
            self._close_open(out)
            item = call_item(self.names, tc.get("id") or new_id("call"), fn.get("name") or "",
                             "", status="in_progress")
            self._tools[index] = item
            self._args[index] = []
            self._up[index] = fn.get("name") or ""
            self._add(out, item)
        args = fn.get("arguments")
        if args:
            self._args[index].append(args)
            if item["type"] == "function_call":
                self._ev(out, "response.function_call_arguments.delta", item_id=item["id"],
                         output_index=self.output.index(item), delta=args)

    def _close_tools(self, out: list[Event]) -> None:
        for index, item in self._tools.items():
            idx = self.output.index(item)
            args = "".join(self._args[index])
            done = call_item(self.names, item["call_id"], self._up[index], args, item["id"])
            self.output[idx] = done
            if done["type"] == "function_call":
                self._ev(out, "response.function_call_arguments.done", item_id=done["id"],
                         output_index=idx, arguments=args, name=done["name"])
            else:
                self._ev(out, "response.custom_tool_call_input.delta", item_id=done["id"],
                         output_index=idx, delta=done["input"])
                self._ev(out, "response.custom_tool_call_input.done", item_id=done["id"],
                         output_index=idx, input=done["input"])
            self._ev(out, "response.output_item.done", output_index=idx, item=done)
        self._tools = {}

    # -- feeding -----------------------------------------------------------------
    def feed(self, chunks: list[dict[str, Any]]) -> list[Event]:
        out: list[Event] = []
        if not self.started:
            self.start(out)
        for ch in chunks:
            usage = ch.get("usage")
            if usage:
                self.usage = usage
            for c in ch.get("choices") or ():
                if c.get("index", 0) != 0:
                    continue
                d = c.get("delta")
                if d:
                    text = d.get("reasoning_content")
                    if text:
                        self._text_delta(out, "reasoning", text)
                    if "thinking_blocks" in d:
                        self._blocks(out, d["thinking_blocks"] or ())
                    text = d.get("content")
                    if text:
                        self._text_delta(out, "message", text)
                    for tc in d.get("tool_calls") or ():
                        self._tool_delta(out, tc)
                reason = c.get("finish_reason")
                if reason:
                    self.finish_reason = reason
        return out

    def finish(self) -> list[Event]:
        """Close every open item and build the final response (sent by ``close``)."""
        out: list[Event] = []
        self.start(out)
        self._close_open(out)
        self._close_tools(out)
        self.finished = True
        status, details = finish_status(self.finish_reason)
        self.response = {**self.env, "status": status, "incomplete_details": details,
                         "output": self.output, "usage": responses_usage(self.usage),
                         "completed_at": int(time.time()) if status == "completed" else None}
        return out

    def close(self) -> list[Event]:
        """The terminal event: ``response.completed`` or ``response.incomplete``."""
        assert self.response is not None
        out: list[Event] = []
        self._ev(out, f"response.{self.response['status']}", response=self.response)
        return out

    def assembled(self) -> dict[str, Any] | None:
        return self.response

    def drop_assembly(self) -> None:
        """The response is the terminal event's: it is built whatever its size."""

    def failed(self, error: dict[str, Any]) -> list[Event]:
        """``error`` then ``response.failed``: the end of a stream that broke."""
        out: list[Event] = []
        self.start(out)
        # ``error`` repeated as an object: the openai SDK raises APIError on an error
        # event carrying one (as on chat completions) instead of ending without a result.
        self._ev(out, "error", code=error.get("code") or error.get("type"),
                 message=error.get("message", ""), param=error.get("param"), error=error)
        self.response = {**self.env, "status": "failed", "output": self.output,
                         "error": {"code": "server_error", "message": error.get("message", "")},
                         "usage": responses_usage(self.usage)}
        self._ev(out, "response.failed", response=self.response)
        return out


def replay(cached: dict[str, Any], names: ToolNames) -> list[Event]:
    """A stored response object as the event sequence that would have built it, with
    its own items (ids, ``encrypted_content``) and then its terminal event."""
    env = {**cached, "status": "in_progress", "output": [], "usage": None,
           "incomplete_details": None}
    ev = ResponseEvents(env, names)
    out: list[Event] = []
    ev.start(out)
    for item in cached.get("output") or ():
        kind = item.get("type")
        if kind in ("reasoning", "message") and (kind == "message" or item.get("summary")):
            parts = item.get("summary") if kind == "reasoning" else item.get("content")
            ev._open_item(out, kind, item.get("id"))
            ev._text_delta(out, kind, "".join(p.get("text", "") for p in parts or ()))
            ev._close_open(out, item.get("encrypted_content"))
        else:
            idx = len(ev.output)
            ev.output.append(item)
            ev._ev(out, "response.output_item.added", output_index=idx, item=item)
            ev._ev(out, "response.output_item.done", output_index=idx, item=item)
    ev.response = cached
    out += ev.close()
    return out
