"""One client request as it moves through the pipeline: a record, not a service.

The ``Exchange`` holds what is known about the request (its surface, body, caller,
features, routing decision) and what happened to it (attempts, usage, cache outcome,
status, the limits it holds). It depends on nothing at run time; the collaborators
that fill it in (``Engine``, ``Limits``, ``CacheLayer``, ``Services``) import it, not
the other way round.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..auth import ANONYMOUS, Caller
from ..surfaces.base import Usage
from ..translate.params import DROPPED_HEADER, Unsupported, resolve

if TYPE_CHECKING:
    from ..errors import GatewayError
    from ..config import ModelConfig
    from ..features import Features
    from ..limits.limiter import ProviderAdmission
    from ..routing import Decision
    from ..runtime import Snapshot
    from ..surfaces.surface import Surface


@dataclass(slots=True)
class Exchange:
    """Everything known about one client request as it moves through the engine."""

    surface: Surface
    snap: Snapshot
    body: dict[str, Any]
    request_id: str
    client_headers: dict[str, str]  # the surface's forwarded headers (``forward_headers``)
    t0: float
    stream: bool
    features: Features
    decision: Decision
    caller: Caller = ANONYMOUS
    alias: str | None = None
    provider: str | None = None
    upstream_model: str | None = None
    upstream_s: float = 0.0
    ttft_s: float | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    cache: str = "bypass"
    status: int = 200
    error: GatewayError | None = None
    # cache bookkeeping (cache/layer.py)
    cache_key: str = ""
    cache_model: str | None = None
    cache_store: bool = False
    cache_ttl: int = 0
    dropped: list[str] = field(default_factory=list)  # fields drop_params let go
    cost_usd: float = 0.0  # at the prices of the model that served it (set by finish)
    # provider quota charges, per attempt, settled when the exchange ends (limits/)
    quota_holds: list[tuple[str, ProviderAdmission]] = field(default_factory=list)

    @property
    def overhead_ms(self) -> float:
        return self.overhead_ms_at(time.perf_counter())

    def overhead_ms_at(self, t: float) -> float:
        """The gateway's own time from the request's start to ``t`` (``perf_counter``):
        the elapsed time less the upstream's."""
        return max(0.0, (t - self.t0 - self.upstream_s) * 1000)

    def headers(self) -> dict[str, str]:
        h = {"x-request-id": self.request_id, "x-gateway-cache": self.cache}
        if self.provider:
            h["x-gateway-provider"] = self.provider
            h["x-gateway-model"] = self.upstream_model or ""
        h["x-gateway-route"] = self.decision.rule
        if len(self.attempts) > 1:
            h["x-gateway-attempts"] = str(len(self.attempts))
        if self.dropped:
            h[DROPPED_HEADER] = ", ".join(self.dropped)
        return h

    def drop_policy(self, model: ModelConfig) -> Unsupported:
        """What this caller may have dropped for ``model``: the key's ``drop_params``,
        else the model's, else the global one."""
        key = self.caller.key
        return Unsupported(resolve(key.drop_params if key is not None else None,
                                   model.drop_params, self.snap.cfg.drop_params))
