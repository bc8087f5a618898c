"""Stored responses: ``store: true`` keeps a response and its input for
``previous_response_id``, ``GET /v1/responses/{id}`` and ``input_items``.

Entries live in the process's store (memory, or Redis shared by the replicas) under
``responses:<key name>:<id>``, with the TTL of ``responses.ttl_s``: a response is
visible only to the gateway key that created it (any other key gets 404, as for an
id that never existed). An entry holds the conversation up to this response (every
earlier input and output item), so a follow-up needs one read whatever its depth.
They are the store's key-value state (``kv_*``), not cache entries: while Redis is
unreachable a lookup is a 503 (not "not found"), and a new response is not stored
(``fail_open``) or the request fails (``fail_closed``); see gateway/stores/README.md.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..auth import Caller
from ..errors import BadRequest
from ..stores.base import Store
from ..translate import _check as check
from ..translate.responses_response import new_id


def _key(caller: Caller, resp_id: str) -> str:
    return f"responses:{caller.tenant}:{resp_id}"


def _text_parts(content: Any, role: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        kind = "output_text" if role == "assistant" else "input_text"
        part: dict[str, Any] = {"type": kind, "text": content}
        if kind == "output_text":
            part["annotations"] = []
        return [part]
    return list(content) if isinstance(content, list) else []


def normalize_input(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The request's input as stored items: each with an ``id``, a type and a status."""
    inp = body.get("input")
    if isinstance(inp, str):
        inp = [{"type": "message", "role": "user", "content": inp}]
    out: list[dict[str, Any]] = []
    for item in inp if isinstance(inp, list) else ():
        if not isinstance(item, dict):
            continue
        item = dict(item)
        kind = item.setdefault("type", "message")
        if kind == "message":
            role = item.get("role", "user")
            item["content"] = _text_parts(item.get("content"), role)
            item.setdefault("id", new_id("msg"))
        elif kind == "item_reference":
            continue
        else:
            item.setdefault("id", new_id(kind.split("_")[0][:4] or "item"))
        item.setdefault("status", "completed")
        out.append(item)
    return out


class ResponsesState:
    def __init__(self, store: Store | None) -> None:
        self.store = store

    async def load(self, caller: Caller, resp_id: str) -> dict[str, Any] | None:
        if self.store is None:
            return None
        raw = await self.store.kv_get(_key(caller, resp_id))
        return orjson.loads(raw) if raw else None

    async def save(self, caller: Caller, response: dict[str, Any], history: list[dict[str, Any]],
                   own_input: list[dict[str, Any]], ttl_s: int) -> None:
        if self.store is None:
            return
        rec = {"response": response, "history": history, "input": own_input}
        await self.store.kv_set(_key(caller, response["id"]), orjson.dumps(rec), ttl_s)

    async def delete(self, caller: Caller, resp_id: str) -> bool:
        return self.store is not None and await self.store.kv_delete(_key(caller, resp_id))

    async def expand(self, body: dict[str, Any], caller: Caller
                     ) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
        """(body with the whole conversation as input, history to store, own input).

        ``previous_response_id`` prepends that response's conversation and output;
        ``item_reference`` items are replaced by the items they name from it.
        """
        prev_id = body.get("previous_response_id")
        inp = body.get("input")
        if body.get("store") is False and prev_id is None and not (
                isinstance(inp, list) and any(isinstance(i, dict) and i.get("type") ==
                                              "item_reference" for i in inp)):
            return body, [], []  # nothing to resolve, nothing to keep (Codex's turns)
        own = normalize_input(body)
        earlier: list[dict[str, Any]] = []
        if prev_id is not None:
            check.nonempty_string(prev_id, "previous_response_id")
            rec = await self.load(caller, prev_id)
            if rec is None:
                raise BadRequest(f"Previous response with id '{prev_id}' not found.",
                                 param="previous_response_id", code="previous_response_not_found")
            earlier = [*rec["history"], *rec["response"].get("output", [])]
        refs = [i for i in body.get("input") or () if isinstance(i, dict)
                and i.get("type") == "item_reference"] if isinstance(body.get("input"), list) else []
        if refs:
            pool = {i.get("id"): i for i in earlier}
            for r in refs:
                found = pool.get(r.get("id"))
                if found is None:
                    raise BadRequest(f"Item with id {r.get('id')!r} not found in the stored "
                                     "conversation of previous_response_id.", param="input")
                own.append(found)
        if not earlier and not refs:
            return body, own, own
        history = [*earlier, *own]
        return {**body, "input": history}, history, own
