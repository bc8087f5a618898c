"""Chat completions in and out of the response cache, without losing anything.

A stream is stored as the ``chat.completion`` it adds up to and a hit is served in
the form asked for, whichever form filled the entry, so both directions must keep
everything a client can see: every choice (``n`` > 1) with its finish reason, text,
refusal, ``reasoning_content``, tool calls and ``logprobs``, and the usage.
"""

from __future__ import annotations

from typing import Any

from ..sse import END


class _Choice:
    __slots__ = ("finish_reason", "logprobs", "reasoning", "refusal", "text", "tools")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.refusal: list[str] = []
        self.tools: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.logprobs: dict[str, list[Any]] | None = None

    def add(self, c: dict[str, Any]) -> None:
        d = c.get("delta") or {}
        for key, parts in (("content", self.text), ("reasoning_content", self.reasoning),
                           ("refusal", self.refusal)):
            if isinstance(d.get(key), str) and d[key]:
                parts.append(d[key])
        for tc in d.get("tool_calls") or ():
            slot = self.tools.setdefault(tc.get("index", 0), {
                "id": "", "type": "function", "function": {"name": "", "arguments": ""}})
            if tc.get("id"):
                slot["id"] = tc["id"]
            fn = tc.get("function") or {}
            if fn.get("name"):
                slot["function"]["name"] = fn["name"]
            if fn.get("arguments"):
                slot["function"]["arguments"] += fn["arguments"]
        lp = c.get("logprobs")
        if isinstance(lp, dict):
            if self.logprobs is None:
                self.logprobs = {"content": [], "refusal": []}
            for key in ("content", "refusal"):
                if isinstance(lp.get(key), list):
                    self.logprobs[key].extend(lp[key])
        if c.get("finish_reason"):
            self.finish_reason = c["finish_reason"]

    def result(self, index: int) -> dict[str, Any]:
        msg: dict[str, Any] = {"role": "assistant",
                               "content": "".join(self.text) if self.text or not self.tools
                               else None}
        if self.refusal:
            msg["refusal"] = "".join(self.refusal)
        if self.reasoning:
            msg["reasoning_content"] = "".join(self.reasoning)
        if self.tools:
            msg["tool_calls"] = [self.tools[i] for i in sorted(self.tools)]
        logprobs = None
        if self.logprobs is not None:
            logprobs = {k: v or None for k, v in self.logprobs.items()}
        return {"index": index, "message": msg, "logprobs": logprobs,
                "finish_reason": self.finish_reason}


class ChunkAssembler:
    """Folds chat.completion.chunk dicts into one chat.completion (for the cache)."""

    def __init__(self) -> None:
        self.id = ""
        self.model = ""
        self.created = 0
        self.choices: dict[int, _Choice] = {}
        self.usage: dict[str, Any] | None = None

    def add(self, ch: dict[str, Any]) -> None:
        self.id = ch.get("id") or self.id
        self.model = ch.get("model") or self.model
        self.created = ch.get("created") or self.created
        if ch.get("usage"):
            self.usage = ch["usage"]
        for c in ch.get("choices") or ():
            index = c.get("index", 0)
            self.choices.setdefault(index if isinstance(index, int) else 0, _Choice()).add(c)

    def result(self) -> dict[str, Any]:
        choices = [self.choices[i].result(i) for i in sorted(self.choices)]
        out: dict[str, Any] = {"id": self.id, "object": "chat.completion",
                               "created": self.created, "model": self.model,
                               "choices": choices or [_Choice().result(0)]}
        if self.usage:
            out["usage"] = self.usage
        return out


def replay_chunks(cached: dict[str, Any], include_usage: bool) -> list[Any]:
    """A cached chat.completion as the chunks (then ``END``) that would have produced it."""
    base: dict[str, Any] = {"id": cached.get("id"), "object": "chat.completion.chunk",
                            "created": cached.get("created"), "model": cached.get("model")}
    if include_usage:
        base["usage"] = None  # OpenAI: null on every chunk but the last

    def chunk(index: int, delta: dict[str, Any], finish: str | None = None,
              logprobs: Any = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": index, "delta": delta,
                                     "logprobs": logprobs, "finish_reason": finish}]}

    out: list[Any] = []
    choices = cached.get("choices") or [{}]
    for n, choice in enumerate(choices):
        index = choice.get("index", n)
        msg = choice.get("message") or {}
        out.append(chunk(index, {"role": "assistant", "content": ""}))
        if msg.get("reasoning_content"):
            out.append(chunk(index, {"reasoning_content": msg["reasoning_content"]}))
        if msg.get("content") or choice.get("logprobs"):
            out.append(chunk(index, {"content": msg.get("content") or ""},
                             logprobs=choice.get("logprobs")))
        if msg.get("refusal"):
            out.append(chunk(index, {"refusal": msg["refusal"]}))
        for i, tc in enumerate(msg.get("tool_calls") or ()):
            fn = tc.get("function") or {}
            out.append(chunk(index, {"tool_calls": [{
                "index": i, "id": tc.get("id"), "type": "function",
                "function": {"name": fn.get("name"), "arguments": fn.get("arguments", "")}}]}))
        out.append(chunk(index, {}, choice.get("finish_reason")))
    if include_usage and cached.get("usage"):
        out.append({**base, "choices": [], "usage": cached["usage"]})
    out.append(END)
    return out
