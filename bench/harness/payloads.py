"""Request bodies: what each system is sent for each request shape.

A *shape* is what the client wants (a Kimi passthrough or a Claude translation,
streamed or not, a prompt); each system gets it in its own dialect: the gateway's
aliases, LiteLLM's model names, Portkey's headers, and for ``direct`` (the mock
itself) the body the gateway would send upstream, so "added latency vs direct" is
the cost of the hop, translation included.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "features" / "data" / "token_corpus.jsonl"
SYSTEM_PROMPT = "You are a helpful assistant."
SHORT_PROMPT = "Write one sentence about the sea."
# French: the gateway's language detector loads its statistical models (lingua) for
# non-English Latin-script text only; measured once, on a fresh process.
FRENCH_PROMPT = "Bonjour, pourriez-vous m'expliquer comment fonctionne la photosynthèse ?"
UNIQUE = "@@N@@"  # replaced by a per-request counter (wrk_post.lua): a cache miss
KIMI_KEY = "sk-bench-kimi"
CLAUDE_KEY = "sk-ant-bench"
GATEWAY_KEY = "sk-gw-bench"
# LiteLLM refuses to start without a master key (and a weak one).
LITELLM_KEY = "sk-" + "5f3c9a1e" * 8
KIMI_UPSTREAM = "kimi-k2-0905-preview"
CLAUDE_UPSTREAM = "claude-opus-4-5"


@dataclass(frozen=True)
class Shape:
    """What the client asks for, independent of the system."""

    provider: str                  # "kimi" (OpenAI wire upstream) or "claude" (Anthropic)
    alias: str                     # the gateway's model name: kimi-k2, claude-opus, auto
    prompt: str = SHORT_PROMPT
    stream: bool = False
    temperature: float | None = None
    big: int = 0                   # bytes of multi-turn history before the prompt
    surface: str = "chat"          # "chat" (/v1/chat/completions) or "responses" (the gateway's)
    max_tokens: int = 256


@dataclass(frozen=True)
class Call:
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def stream_prompt(chunks: int, delay_ms: float) -> str:
    """Tells the streaming upstream the stream's length; English, like the short prompt."""
    return f"Please write the answer for this test: chunks={chunks} delay_ms={delay_ms:g}"


def corpus_text(size: int) -> str:
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]
    base = "\n\n".join(r["text"] for r in rows if r["category"] == "en")
    text = base * (size // len(base.encode()) + 1)
    return text.encode()[:size].decode(errors="ignore")


def _messages(shape: Shape) -> list[dict[str, str]]:
    msgs: list[dict[str, str]] = []
    if shape.big:
        text = corpus_text(shape.big)
        step = 16_000  # a long conversation: 16 KB turns
        for j, i in enumerate(range(0, len(text), step)):
            msgs.append({"role": "user" if j % 2 == 0 else "assistant",
                         "content": text[i:i + step]})
        if msgs[-1]["role"] == "user":
            msgs.append({"role": "assistant", "content": "Noted."})
    msgs.append({"role": "user", "content": shape.prompt})
    return msgs


def openai_body(shape: Shape, model: str) -> dict[str, object]:
    body: dict[str, object] = {
        "model": model, "max_tokens": shape.max_tokens,
        "messages": [{"role": "system", "content": SYSTEM_PROMPT}, *_messages(shape)]}
    if shape.stream:
        body["stream"] = True
    if shape.temperature is not None:
        body["temperature"] = shape.temperature
    return body


def anthropic_body(shape: Shape, model: str) -> dict[str, object]:
    body: dict[str, object] = {"model": model, "max_tokens": shape.max_tokens,
                               "system": SYSTEM_PROMPT, "messages": _messages(shape)}
    if shape.stream:
        body["stream"] = True
    if shape.temperature is not None:
        body["temperature"] = shape.temperature
    return body


def responses_body(shape: Shape, model: str) -> dict[str, object]:
    """The same request on the Responses API (``store: false``, as Codex sends it)."""
    body: dict[str, object] = {"model": model, "max_output_tokens": shape.max_tokens,
                               "store": False, "instructions": SYSTEM_PROMPT,
                               "input": _messages(shape)}
    if shape.stream:
        body["stream"] = True
    if shape.temperature is not None:
        body["temperature"] = shape.temperature
    return body


def dumps(obj: dict[str, object]) -> bytes:
    return orjson.dumps(obj)


def direct_call(shape: Shape) -> Call:
    """What the gateway itself sends upstream for this shape."""
    if shape.provider == "kimi":
        return Call("/v1/chat/completions",
                    {"content-type": "application/json", "authorization": f"Bearer {KIMI_KEY}"},
                    dumps(openai_body(shape, KIMI_UPSTREAM)))
    return Call("/v1/messages",
                {"content-type": "application/json", "x-api-key": CLAUDE_KEY,
                 "anthropic-version": "2023-06-01"},
                dumps(anthropic_body(shape, CLAUDE_UPSTREAM)))


def gateway_call(shape: Shape) -> Call:
    if shape.surface == "responses":
        return Call("/v1/responses", {"content-type": "application/json",
                                      "authorization": f"Bearer {GATEWAY_KEY}"},
                    dumps(responses_body(shape, shape.alias)))
    return Call("/v1/chat/completions",
                {"content-type": "application/json", "authorization": f"Bearer {GATEWAY_KEY}"},
                dumps(openai_body(shape, shape.alias)))


def litellm_call(shape: Shape) -> Call:
    # The LiteLLM config names its models like the gateway's pinned aliases.
    model = "kimi-k2" if shape.provider == "kimi" else "claude-opus"
    return Call("/v1/chat/completions",
                {"content-type": "application/json", "authorization": f"Bearer {LITELLM_KEY}"},
                dumps(openai_body(shape, model)))


def portkey_call(shape: Shape, upstream_port: int) -> Call:
    if shape.provider == "kimi":
        h = {"x-portkey-provider": "openai", "authorization": f"Bearer {KIMI_KEY}"}
        model = KIMI_UPSTREAM
    else:
        h = {"x-portkey-provider": "anthropic", "authorization": f"Bearer {CLAUDE_KEY}"}
        model = CLAUDE_UPSTREAM
    h["x-portkey-custom-host"] = f"http://127.0.0.1:{upstream_port}/v1"
    h["content-type"] = "application/json"
    return Call("/v1/chat/completions", h, dumps(openai_body(shape, model)))
