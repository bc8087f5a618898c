"""Chat Completions answer -> OpenAI Responses ``response`` object.

Output items, in the order a Responses client expects them: ``reasoning`` items (one
per thinking block of the hub's ``thinking_blocks``, else one for the chat answer's
``reasoning_content``; the text as the summary, the signature sealed in
``encrypted_content`` when the request's ``include`` asks for it, ``reasoning.py``),
a ``message`` with one
``output_text`` part, then one ``function_call`` (or ``custom_tool_call``) per tool
call, names mapped back through :class:`ToolNames`. ``finish_reason`` ``length``
makes the response ``incomplete`` (``max_output_tokens``), ``content_filter``
``incomplete`` (``content_filter``); everything else is ``completed``.
"""

from __future__ import annotations

import itertools
import os
import secrets
from typing import Any

import orjson

from .reasoning import seal, sign_and_seal
from .responses_request import CUSTOM_INPUT, ToolNames

# Request fields a response echoes (the SDK's Response has them all).
_ECHO = ("instructions", "max_output_tokens", "metadata", "previous_response_id", "reasoning",
         "temperature", "top_p", "truncation", "user", "safety_identifier", "prompt_cache_key",
         "service_tier", "store", "background", "text")


class _Ids:
    """Unique ids without a system call each: 32 random hex digits per process (made
    anew in a forked child), then a counter. They need to be unique, not secret: a
    stored response is found only with the key that made it."""

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self.base = secrets.token_hex(16)
        self.count = itertools.count()


_IDS = _Ids()


def new_id(prefix: str) -> str:
    return f"{prefix}_{_IDS.base}{next(_IDS.count):016x}"


def envelope(body: dict[str, Any], resp_id: str, model: str, created: float) -> dict[str, Any]:
    """The response object's fields that do not depend on the answer."""
    out: dict[str, Any] = {
        "id": resp_id, "object": "response", "created_at": created, "model": model,
        "status": "in_progress", "error": None, "incomplete_details": None, "output": [],
        "parallel_tool_calls": body.get("parallel_tool_calls") is not False,
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": body.get("tools") or [], "usage": None,
    }
    for key in _ECHO:
        if key in body:
            out[key] = body[key]
    out.setdefault("metadata", {})
    out["store"] = body.get("store") is not False
    return out


def responses_usage(u: dict[str, Any] | None) -> dict[str, Any]:
    u = u or {}
    inp = int(u.get("prompt_tokens") or 0)
    out = int(u.get("completion_tokens") or 0)
    details = u.get("prompt_tokens_details") or {}
    cached = int(details.get("cached_tokens") or 0)
    written = int(details.get("cache_write_tokens") or details.get("cache_creation_tokens") or 0)
    reasoning = int((u.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0)
    return {"input_tokens": inp,
            "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": written},
            "output_tokens": out, "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": inp + out}


def reasoning_item(text: str, item_id: str | None = None, encrypted: str | None = None
                   ) -> dict[str, Any]:
    return {"id": item_id or new_id("rs"), "type": "reasoning",
            "summary": [{"type": "summary_text", "text": text}] if text else [],
            "encrypted_content": encrypted, "status": "completed"}


def reasoning_items(msg: dict[str, Any], sealed: bool) -> list[dict[str, Any]]:
    """The reasoning items of a whole hub answer's message."""
    blocks = msg.get("thinking_blocks")
    if blocks:
        return [reasoning_item(b.get("thinking") or "", encrypted=seal(b) if sealed else None)
                for b in blocks]
    text = msg.get("reasoning_content")
    if isinstance(text, str) and text:
        return [reasoning_item(text, encrypted=sign_and_seal(text) if sealed else None)]
    return []


def message_item(text: str, item_id: str | None = None, status: str = "completed"
                 ) -> dict[str, Any]:
    return {"id": item_id or new_id("msg"), "type": "message", "role": "assistant",
            "status": status,
            "content": [{"type": "output_text", "text": text, "annotations": [],
                         "logprobs": []}]}


def call_item(names: ToolNames, call_id: str, upstream_name: str, arguments: str,
              item_id: str | None = None, status: str = "completed") -> dict[str, Any]:
    """A ``function_call`` or, for a custom tool, a ``custom_tool_call``."""
    ref = names.ref(upstream_name)
    item: dict[str, Any]
    if ref.kind == "custom":
        try:
            parsed = orjson.loads(arguments) if arguments else {}
        except orjson.JSONDecodeError:
            parsed = None
        text = parsed.get(CUSTOM_INPUT) if isinstance(parsed, dict) else None
        item = {"id": item_id or new_id("ctc"), "type": "custom_tool_call", "call_id": call_id,
                "name": ref.name, "input": text if isinstance(text, str) else arguments}
    else:
        item = {"id": item_id or new_id("fc"), "type": "function_call", "call_id": call_id,
                "name": ref.name, "arguments": arguments, "status": status}
    if ref.namespace:
        item["namespace"] = ref.namespace
    return item


def finish_status(finish_reason: str | None) -> tuple[str, dict[str, Any] | None]:
    if finish_reason == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if finish_reason == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def chat_to_response(chat: dict[str, Any], names: ToolNames, env: dict[str, Any],
                     sealed: bool = False) -> dict[str, Any]:
    """A whole chat.completion -> a finished response object built on ``env``
    (``sealed``: with the reasoning's ``encrypted_content``)."""
    choice = (chat.get("choices") or [{}])[0]
    msg = choice.get("message") or {}
    output = reasoning_items(msg, sealed)
    text = msg.get("content")
    if isinstance(text, str) and (text or not msg.get("tool_calls")):
        output.append(message_item(text))
    for tc in msg.get("tool_calls") or ():
        fn = tc.get("function") or {}
        output.append(call_item(names, tc.get("id") or new_id("call"), fn.get("name") or "",
                                fn.get("arguments") or ""))
    status, details = finish_status(choice.get("finish_reason"))
    return {**env, "status": status, "incomplete_details": details, "output": output,
            "usage": responses_usage(chat.get("usage")),
            "completed_at": env["created_at"] if status == "completed" else None}
