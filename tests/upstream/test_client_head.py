"""The request head ``ProviderClient`` builds from its cached prefix is byte for byte
the one built from its headers (``h1.request_head``), with and without a request's own
headers, for both wire formats and for streams."""

from __future__ import annotations

import pytest

from gateway.config import ProviderConfig
from gateway.providers import h1
from gateway.providers.client import ProviderClient

CLIENTS = [
    ProviderClient("kimi", ProviderConfig(type="openai", base_url="http://127.0.0.1:9/v1",
                                          api_key="sk-kimi")),
    ProviderClient("claude", ProviderConfig(type="anthropic", base_url="https://a.example",
                                            api_key="sk-ant")),
]
EXTRAS = [None, {}, {"anthropic-beta": "x"}, {"anthropic-version": "2099-01-01"},
          {"accept": "text/plain", "x-a": "1"}]


@pytest.mark.parametrize("client", CLIENTS, ids=lambda c: c.name)
@pytest.mark.parametrize("extra", EXTRAS)
@pytest.mark.parametrize("accept", [None, "text/event-stream"])
def test_head_equals_the_plain_definition(client: ProviderClient, extra: dict[str, str] | None,
                                          accept: str | None) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "é"}]}
    head, data = client._payload(body, extra, accept)
    headers = client.headers(extra)
    if accept is not None:
        headers["accept"] = accept
    assert head == h1.request_head(client._origin, client._target, headers, len(data))


def test_a_header_with_a_line_break_is_refused_per_request() -> None:
    bad = ProviderClient("kimi", ProviderConfig(
        type="openai", base_url="http://127.0.0.1:9/v1", api_key="sk\r\nx-injected: 1"))
    with pytest.raises(ValueError, match="line break"):
        bad._payload({}, None)
