"""One exception tree for the whole gateway.

Every error a client can see is a ``GatewayError``; each class carries its HTTP
status, its OpenAI error ``type`` and its Anthropic error ``type``, so a single
renderer per surface turns any of them into the body that surface's SDK expects::

    GatewayError
    ├── BadRequest            400  invalid_request_error     / invalid_request_error
    │   └── NoRoute           400  invalid_request_error     (no rule kept a candidate)
    ├── AuthError             401  invalid_api_key           / authentication_error
    ├── PolicyForbidden       403  permission_denied         / permission_error
    ├── ModelNotFound         404  invalid_request_error     / not_found_error   (code model_not_found)
    ├── RequestTimeout        408  timeout                   / timeout_error
    ├── PayloadTooLarge       413  invalid_request_error     / request_too_large
    ├── RateLimited           429  rate_limit_exceeded       / rate_limit_error
    ├── ProviderNotConfigured 503  provider_not_configured   / api_error
    ├── StoreUnavailable      503  service_unavailable       / api_error
    └── UpstreamError         (status of the upstream failure, mapped)
        ├── UpstreamStatusError   upstream 4xx passed on faithfully, 5xx as 502, 529 as 503
        │                         (529 on the Anthropic surface: see ``anthropic_status``)
        ├── UpstreamBadResponse   502  upstream sent something that is not its API
        ├── UpstreamConnectError  502  could not connect / connection reset
        └── UpstreamTimeout       504  connect, read or idle timeout

Foreign exceptions (aiohttp, redis, orjson) are mapped onto these at the boundary
where they happen; nothing else in the code catches a bare ``Exception`` to guess a
status.
"""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    status: int = 500
    # The status on /v1/messages when it differs from ``status`` (None: the same).
    # Anthropic's API says 529 for overload and the anthropic SDK maps only 529 to
    # OverloadedError; the openai SDK knows no 529, so the OpenAI surface says 503.
    anthropic_status: int | None = None
    openai_type: str = "server_error"
    anthropic_type: str = "api_error"
    code: str | None = None
    # The routing trace that led to a refusal (routing.decide), for the explain view.
    trace: list[dict[str, Any]] | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers: dict[str, str] = dict(headers or {})

    def openai_body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.openai_type,
                "param": self.param,
                "code": self.code,
            }
        }

    def anthropic_body(self) -> dict[str, Any]:
        return {"type": "error", "error": {"type": self.anthropic_type, "message": self.message}}


class BadRequest(GatewayError):
    status = 400
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"
    # Raised by a translator for what one provider type cannot take (n > 1 for Claude,
    # an image URL for Kimi): another candidate may serve it, so the engine falls back.
    provider_specific = False


class NoRoute(BadRequest):
    code = "no_route"


class AuthError(GatewayError):
    status = 401
    openai_type = "invalid_request_error"
    anthropic_type = "authentication_error"
    code = "invalid_api_key"


class PolicyForbidden(GatewayError):
    status = 403
    openai_type = "permission_denied"
    anthropic_type = "permission_error"
    code = "policy_forbidden"


class ModelNotFound(GatewayError):
    status = 404
    openai_type = "invalid_request_error"
    anthropic_type = "not_found_error"
    code = "model_not_found"


class NotFound(GatewayError):
    status = 404
    openai_type = "invalid_request_error"
    anthropic_type = "not_found_error"
    code = "not_found"


class MethodNotAllowed(GatewayError):
    status = 405
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"
    code = "method_not_allowed"


class RequestTimeout(GatewayError):
    status = 408
    openai_type = "timeout"
    anthropic_type = "timeout_error"
    code = "request_timeout"


class PayloadTooLarge(GatewayError):
    status = 413
    openai_type = "invalid_request_error"
    anthropic_type = "request_too_large"
    code = "request_too_large"


class UnsupportedMediaType(GatewayError):
    status = 415
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"
    code = "unsupported_media_type"


class RateLimited(GatewayError):
    status = 429
    openai_type = "rate_limit_exceeded"
    anthropic_type = "rate_limit_error"
    code = "rate_limit_exceeded"
    limit_kind: str | None = None  # which limit: rpm, tpm, concurrency, budget_usd (metrics)


class ProviderNotConfigured(GatewayError):
    status = 503
    openai_type = "provider_not_configured"
    anthropic_type = "api_error"
    code = "provider_not_configured"


class StoreUnavailable(GatewayError):
    status = 503
    openai_type = "service_unavailable"
    anthropic_type = "api_error"
    code = "store_unavailable"


class UpstreamError(GatewayError):
    """A failure of the upstream provider; ``retryable`` drives fallback."""

    status = 502
    openai_type = "upstream_error"
    anthropic_type = "api_error"
    retryable = True
    kind = "bad_response"  # metrics label: timeout|connect|429|5xx|529|4xx|bad_response

    def __init__(self, message: str, *, provider: str = "", retry_after: float | None = None,
                 retryable: bool | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.provider = provider
        self.retry_after = retry_after
        if retryable is not None:
            self.retryable = retryable


class UpstreamStatusError(UpstreamError):
    """The upstream answered with an error status.

    4xx are passed on with the same status (the client's request was at fault);
    5xx become 502, 529 (overloaded) becomes 503, each with the upstream's message.
    On the Anthropic surface 529 stays 529 (``anthropic_status``).
    """

    def __init__(self, message: str, *, upstream_status: int, upstream_type: str | None,
                 **kw: Any) -> None:
        self.upstream_status = upstream_status
        self.upstream_type = upstream_type
        status, otype, atype, kind = _map_upstream_status(upstream_status)
        super().__init__(message, status=status, **kw)
        self.openai_type = upstream_type if 400 <= upstream_status < 500 and upstream_type else otype
        self.anthropic_type = atype
        if upstream_status == 529:
            self.anthropic_status = 529  # overloaded_error, as Anthropic itself answers
        self.kind = kind
        if "retryable" not in kw:
            quota = upstream_type in ("insufficient_quota", "exceeded_current_quota_error")
            self.retryable = upstream_status in (408, 409, 429) and not quota or upstream_status >= 500


def _map_upstream_status(s: int) -> tuple[int, str, str, str]:
    if s == 400:
        return 400, "invalid_request_error", "invalid_request_error", "4xx"
    if s == 401:
        return 502, "upstream_auth_error", "api_error", "4xx"  # our key is wrong, not the client's
    if s == 403:
        return 403, "permission_denied", "permission_error", "4xx"
    if s == 404:
        return 404, "invalid_request_error", "not_found_error", "4xx"
    if s == 408:
        return 504, "timeout", "timeout_error", "timeout"
    if s == 413:
        return 413, "invalid_request_error", "request_too_large", "4xx"
    if s == 429:
        return 429, "rate_limit_exceeded", "rate_limit_error", "429"
    if s == 529:
        return 503, "overloaded", "overloaded_error", "529"
    if s in (503,):
        return 503, "service_unavailable", "overloaded_error", "5xx"
    if s == 504:
        return 504, "timeout", "timeout_error", "5xx"
    if s >= 500:
        return 502, "upstream_error", "api_error", "5xx"
    return s, "invalid_request_error", "invalid_request_error", "4xx"


class UpstreamBadResponse(UpstreamError):
    status = 502
    kind = "bad_response"


class UpstreamConnectError(UpstreamError):
    status = 502
    openai_type = "upstream_connect_error"
    kind = "connect"


class UpstreamTimeout(UpstreamError):
    status = 504
    openai_type = "timeout"
    anthropic_type = "timeout_error"
    kind = "timeout"
