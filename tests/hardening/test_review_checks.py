"""Issue 18, the review's unconfirmed findings, each confirmed and fixed or ruled out:

- both ``max_completion_tokens`` and ``max_tokens``: estimated with one, forwarded
  with both (Kimi honours max_tokens): now a 400 unless they agree;
- ``n`` in the admission estimate: n choices are n times the output;
- a key with non-ASCII characters could never match (the server decodes headers as
  latin-1, the key ring hashed that text as UTF-8);
- a cacheable stream's assembly is bounded (``test_cacheable_stream_assembly_*``).
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.limits_support import keys_yaml, nonce


def chat(gw: Any, body: dict[str, Any], key: bytes = b"ka") -> httpx.Response:
    return httpx.post(gw.url + "/v1/chat/completions", json=body, timeout=10,
                      headers={"authorization": b"Bearer " + key})


def test_max_tokens_and_max_completion_tokens_must_agree(make_gateway: Any, kimi: Any) -> None:
    gw = make_gateway(keys=keys_yaml(a="{tpm: 100000}"))
    base = {"model": "kimi-k2", "messages": [{"role": "user", "content": nonce()}]}
    r = chat(gw, {**base, "max_completion_tokens": 5, "max_tokens": 50_000})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == "max_completion_tokens"
    assert "differ" in r.json()["error"]["message"]
    assert kimi.control.requests == []
    assert chat(gw, {**base, "max_completion_tokens": 5, "max_tokens": 5}).status_code == 200


def test_n_multiplies_the_output_in_the_estimate(make_gateway: Any, kimi: Any) -> None:
    """tpm 1000: one choice of 300 tokens fits, five (1,500) do not."""
    gw = make_gateway(keys=keys_yaml(a="{tpm: 1000}"))
    body = {"model": "kimi-k2", "max_tokens": 300, "temperature": 0.7,
            "messages": [{"role": "user", "content": "hi"}]}
    r = chat(gw, {**body, "n": 5})
    assert r.status_code == 429, r.text
    assert "tokens per minute" in r.json()["error"]["message"]
    assert kimi.control.requests == []
    assert chat(gw, body).status_code == 200


def test_a_non_ascii_key_matches(make_gateway: Any) -> None:
    keys = "keys:\n  - name: u\n    key: \"clé-ключ-鍵\"\n    policy: open\n"
    gw = make_gateway(keys=keys)
    body = {"model": "claude-opus", "max_tokens": 10,
            "messages": [{"role": "user", "content": "hi"}]}
    assert chat(gw, body, "clé-ключ-鍵".encode()).status_code == 200
    assert chat(gw, body, "cle-ключ-鍵".encode()).status_code == 401
    assert chat(gw, body, "clé-ключ-鍵".encode("utf-8")[:-1]).status_code == 401
    r = httpx.post(gw.url + "/v1/messages", json=body, timeout=10,
                   headers={"x-api-key": "clé-ключ-鍵".encode()})
    assert r.status_code == 200, r.text


def test_cacheable_stream_assembly_is_bounded(make_gateway: Any, kimi: Any,
                                              caplog: Any) -> None:
    """A temperature-0 stream is assembled for the cache only up to 64 times the cache's
    entry limit (here 64 KiB of stream); past it the assembly is dropped, the stream
    goes on whole and nothing is stored. (Before: assembled whatever its length.)"""
    gw = make_gateway(extra="cache: {mode: deterministic, max_entry_bytes: 1024}")
    kimi.control.text_override = "word " * 4000
    body = {"model": "kimi-k2", "stream": True, "temperature": 0,
            "messages": [{"role": "user", "content": nonce()}]}
    with caplog.at_level("INFO", logger="gateway"):
        r = httpx.post(gw.url + "/v1/chat/completions", json=body, timeout=10,
                       headers={"authorization": "Bearer x"})
    assert r.status_code == 200 and len(r.content) > 64 * 1024
    assert r.text.rstrip().endswith("data: [DONE]")
    assert any("its answer is not cached" in rec.getMessage() for rec in caplog.records)
    again = httpx.post(gw.url + "/v1/chat/completions", json=body, timeout=10)
    assert again.headers["x-gateway-cache"] == "miss"

    # A short one is still assembled and stored.
    kimi.control.text_override = "short answer"
    body = {**body, "messages": [{"role": "user", "content": nonce()}]}
    httpx.post(gw.url + "/v1/chat/completions", json=body, timeout=10)
    assert httpx.post(gw.url + "/v1/chat/completions", json=body,
                      timeout=10).headers["x-gateway-cache"] == "hit"
