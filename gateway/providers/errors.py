"""The upstream HTTP client's errors (``h1``); ``ProviderClient`` maps them onto the
gateway's."""

from __future__ import annotations


class HttpClientError(Exception):
    """Base of the upstream client's errors."""


class ConnectFailed(HttpClientError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConnectTimeout(ConnectFailed, TimeoutError):
    """No connection within the connect timeout (TCP and TLS)."""


class Disconnected(HttpClientError):
    """The connection ended before the response did. ``started``: some of the response
    had arrived."""

    def __init__(self, message: str, *, started: bool) -> None:
        super().__init__(message)
        self.started = started


class BadResponse(HttpClientError):
    pass


class TooLarge(HttpClientError):
    pass
