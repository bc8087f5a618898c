"""The YAML config: schema, ``${VAR:-default}`` expansion, loading and validation.

The schema is documented in README.md, "Configuration", with config/gateway.yaml as
the full example; everything beyond it has a default so that file is a complete
config. A bad config raises
``ConfigError`` whose message names the field (``routing.rules[1].to``) and the reason.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .translate.hub import WIRE_FORMATS
from .translate.params import DROPPABLE

def _droppable(v: bool | list[str] | None) -> bool | list[str] | None:
    unknown = [n for n in v if n not in DROPPABLE] if isinstance(v, list) else []
    if unknown:
        raise ValueError(f"unknown field(s) {unknown}; these can be dropped: "
                         f"{sorted(DROPPABLE)}")
    return v


# true (any field a provider cannot serve may be dropped), or the fields' names.
DropParams = Annotated[bool | list[str] | None, AfterValidator(_droppable)]

PII_KINDS = frozenset(
    {"email", "phone", "credit_card", "cn_resident_id", "iban", "us_ssn", "credential"}
)


class ConfigError(Exception):
    """A config that cannot be used; the message names the field and the reason."""


class _Strict(BaseModel):
    # A misspelt key is a silent misconfiguration; refuse it instead.
    model_config = ConfigDict(extra="forbid", frozen=True)


def _none_to_empty(v: Any) -> Any:
    # `api_key: ${KIMI_API_KEY:-}` expands to an empty YAML value, which is null.
    return "" if v is None else v


class RedisConfig(_Strict):
    url: str = ""
    _url_none = field_validator("url", mode="before")(_none_to_empty)
    on_error: Literal["fail_open", "fail_closed"] = "fail_open"
    timeout_ms: int = Field(250, ge=10, le=10_000)


class Timeouts(_Strict):
    connect_s: float = Field(5.0, gt=0)
    # Whole non-streaming request (upstream generation included).
    total_s: float = Field(600.0, gt=0)
    # Streaming: until the first event, and then between two events.
    first_byte_s: float = Field(120.0, gt=0)
    idle_s: float = Field(120.0, gt=0)


class Pool(_Strict):
    max_connections: int = Field(256, ge=1)
    keepalive_s: float = Field(30.0, gt=0)


class ProviderLimits(_Strict):
    rpm: int | None = Field(None, ge=1)
    tpm: int | None = Field(None, ge=1)


class ProviderConfig(_Strict):
    # The file's spelling (a public contract); the code speaks of ``wire_format``.
    type: Literal["openai", "anthropic"]
    base_url: str
    api_key: str = ""
    _key_none = field_validator("api_key", mode="before")(_none_to_empty)
    anthropic_version: str = "2023-06-01"
    timeouts: Timeouts = Timeouts()
    pool: Pool = Pool()
    limits: ProviderLimits | None = None

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError(f"must be an http(s) URL, got {v!r}")
        return v.rstrip("/")

    @property
    def wire_format(self) -> str:
        """``hub.CHAT_COMPLETIONS`` or ``hub.MESSAGES``: what the provider speaks."""
        return WIRE_FORMATS[self.type]


class Price(_Strict):
    input: float = Field(0.0, ge=0)
    output: float = Field(0.0, ge=0)
    cached_input: float | None = Field(None, ge=0)


class ModelConfig(_Strict):
    provider: str
    upstream: str
    context_window: int = Field(ge=1)
    default_max_tokens: int = Field(4096, ge=1)
    max_output_tokens: int | None = Field(None, ge=1)
    price_per_mtok: Price = Price()
    # Fields this model's provider cannot serve that may be dropped rather than
    # refused: true (any) or their names; unset: the global setting (README).
    drop_params: DropParams = None


class PolicyConfig(_Strict):
    providers: list[str] | None = None  # None: any provider
    pii_providers: list[str] | None = None  # None: PII may go anywhere the policy allows


class LanguageNot(_Strict):
    not_: list[str] = Field(alias="not")


class RuleWhen(_Strict):
    min_tokens: int | None = Field(None, ge=0)
    max_tokens: int | None = Field(None, ge=0)
    language: list[str] | LanguageNot | None = None
    pii: bool | list[str] | None = None
    has_images: bool | None = None
    has_tools: bool | None = None
    stream: bool | None = None
    model: list[str] | None = None
    key: list[str] | None = None
    header: dict[str, str] | None = None
    metadata: dict[str, str] | None = None

    @field_validator("pii")
    @classmethod
    def _kinds(cls, v: bool | list[str] | None) -> bool | list[str] | None:
        if isinstance(v, list):
            bad = sorted(set(v) - PII_KINDS)
            if bad:
                raise ValueError(f"unknown PII kind(s) {bad}; known: {sorted(PII_KINDS)}")
        return v

    @field_validator("header")
    @classmethod
    def _lower(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        return {k.lower(): val for k, val in v.items()} if v else v


class RuleConfig(_Strict):
    name: str
    when: RuleWhen = RuleWhen()
    to: list[str] = Field(min_length=1)
    weights: list[float] | None = None

    @model_validator(mode="after")
    def _weights(self) -> RuleConfig:
        if self.weights is not None:
            if len(self.weights) != len(self.to):
                raise ValueError("weights must have one entry per target in `to`")
            if any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
                raise ValueError("weights must be >= 0 and not all zero")
        return self


class RoutingConfig(_Strict):
    default_policy: str = "standard"
    rules: list[RuleConfig] = Field(min_length=1)


class KeyLimitsConfig(_Strict):
    rpm: int | None = Field(None, ge=1)
    tpm: int | None = Field(None, ge=1)
    concurrency: int | None = Field(None, ge=1)
    budget_usd_per_day: float | None = Field(None, gt=0)


class KeyConfig(_Strict):
    name: str
    key: str | None = None
    key_sha256: str | None = None
    policy: str | None = None
    limits: KeyLimitsConfig = KeyLimitsConfig()
    drop_params: DropParams = None  # overrides the model's and the global one

    @field_validator("key_sha256")
    @classmethod
    def _hex(cls, v: str | None) -> str | None:
        if v and not re.fullmatch(r"[0-9a-fA-F]{64}", v):
            raise ValueError("must be 64 hex characters (the SHA-256 of the key)")
        return v.lower() if v else v

    @property
    def digest(self) -> bytes | None:
        """SHA-256 of the key; None when the entry has no key (its env var unset)."""
        if self.key_sha256:
            return bytes.fromhex(self.key_sha256)
        if self.key:
            return hashlib.sha256(self.key.encode()).digest()
        return None


class CacheConfig(_Strict):
    enabled: bool = True
    ttl_s: int = Field(3600, ge=1)
    mode: Literal["deterministic", "all", "off"] = "deterministic"

    @field_validator("mode", mode="before")
    @classmethod
    def _yaml_off(cls, v: Any) -> Any:
        # YAML 1.1 reads an unquoted `off` as false.
        return "off" if v is False else v
    max_entry_bytes: int = Field(1_048_576, ge=1024)
    # Tenants sharing one namespace share entries; default: each key is its own tenant.
    shared_namespace: str | None = None


class ConsoleConfig(_Strict):
    """The web console at /console (README, "Console")."""
    enabled: bool = True
    # Keys for the console and its APIs only; client keys do not open it.
    admin_keys: list[KeyConfig] = []
    # With no keys at all the console answers loopback clients only, unless this is true.
    allow_remote: bool = False
    recent_decisions: int = Field(500, ge=1, le=100_000)  # size of the recent-decision ring


class ResponsesConfig(_Strict):
    # How long a stored (store: true) Responses API response is kept (OpenAI: 30 days).
    ttl_s: int = Field(30 * 86400, ge=1)


class ServerConfig(_Strict):
    # 32 MB admits a 2-million-token prompt (about 4 bytes a token in UTF-8 text).
    max_body_bytes: int = Field(32 * 1024 * 1024, ge=1024)
    body_timeout_s: float = Field(30.0, gt=0)
    graceful_shutdown_s: float = Field(30.0, ge=0)
    # Routes that answer without a key when keys are configured.
    public_paths: list[str] = ["/healthz", "/readyz", "/metrics", "/openapi.json"]
    max_attempts: int = Field(3, ge=1, le=10)
    # No new attempt (fallback or retry) starts after this long since the request came.
    attempts_deadline_s: float = Field(120.0, gt=0)
    retry_after_budget_s: float = Field(2.0, ge=0)
    image_tokens: int = Field(1000, ge=0)
    circuit_failures: int = Field(5, ge=1)
    circuit_cooldown_s: float = Field(30.0, gt=0)
    # Bounds on a body's structure (gateway/bounds.py, docs/hardening.md): 413 past them.
    max_json_nodes: int = Field(100_000, ge=100)
    max_messages: int = Field(10_000, ge=1)
    max_content_parts: int = Field(1_000, ge=1)
    # Client connections (gateway/conn_guard.py), read at start: a complete request head
    # within head_timeout_s, at most max_connections per process.
    head_timeout_s: float = Field(10.0, gt=0)
    max_connections: int = Field(4096, ge=16)
    # A reload that leaves no usable gateway key is refused unless this says open
    # access is meant (gateway/runtime.py).
    open_access: bool = False
    # /metrics (docs/hardening.md, "What the public paths show"): with a metrics_key it
    # needs `Authorization: Bearer <metrics_key>`, public_paths or not; key_labels off
    # puts "-" where a series would name a gateway key.
    metrics_key: str = ""
    _metrics_key_none = field_validator("metrics_key", mode="before")(_none_to_empty)
    metrics_key_labels: bool = True


class GatewayConfig(_Strict):
    server: ServerConfig = ServerConfig()
    redis: RedisConfig = RedisConfig()
    providers: dict[str, ProviderConfig] = Field(min_length=1)
    models: dict[str, ModelConfig] = Field(min_length=1)
    policies: dict[str, PolicyConfig] = {"open": PolicyConfig()}
    routing: RoutingConfig
    keys: list[KeyConfig] = []
    cache: CacheConfig = CacheConfig()
    console: ConsoleConfig = ConsoleConfig()
    drop_params: DropParams = None  # see ModelConfig.drop_params
    # Requested model names (exact, or fnmatch globs such as ``claude-haiku-*``) -> an
    # alias or ``auto``; for names agents ask for that are not aliases (README).
    model_map: dict[str, str] = {}
    responses: ResponsesConfig = ResponsesConfig()

    @model_validator(mode="after")
    def _references(self) -> GatewayConfig:
        errs: list[str] = []
        if "auto" in self.models:
            errs.append("models.auto: `auto` is reserved for routed requests")
        for alias, m in self.models.items():
            if m.provider not in self.providers:
                errs.append(f"models.{alias}.provider: unknown provider {m.provider!r}")
        for pname, p in self.policies.items():
            for field in ("providers", "pii_providers"):
                for prov in getattr(p, field) or []:
                    if prov not in self.providers:
                        errs.append(f"policies.{pname}.{field}: unknown provider {prov!r}")
        if self.routing.default_policy not in self.policies:
            errs.append(f"routing.default_policy: unknown policy {self.routing.default_policy!r}")
        names: set[str] = set()
        for i, r in enumerate(self.routing.rules):
            if r.name in names:
                errs.append(f"routing.rules[{i}].name: duplicate rule name {r.name!r}")
            names.add(r.name)
            for t in r.to:
                if t not in self.models:
                    errs.append(f"routing.rules[{i}].to: unknown model {t!r}")
            for name in r.when.model or []:
                if name != "auto" and name not in self.models:
                    errs.append(f"routing.rules[{i}].when.model: unknown model {name!r}")
        for name, target in self.model_map.items():
            if name == "auto" or name in self.models:
                errs.append(f"model_map.{name}: {name!r} is an alias already; aliases are "
                            "never remapped")
            if target != "auto" and target not in self.models:
                errs.append(f"model_map.{name}: unknown model {target!r}")
        knames: set[str] = set()
        for i, k in enumerate(self.keys):
            if k.name in knames:
                errs.append(f"keys[{i}].name: duplicate key name {k.name!r}")
            knames.add(k.name)
            if k.policy is not None and k.policy not in self.policies:
                errs.append(f"keys[{i}].policy: unknown policy {k.policy!r}")
            if k.key and k.key_sha256:
                errs.append(f"keys[{i}]: give either key or key_sha256, not both")
        if errs:
            raise ValueError("; ".join(errs))
        return self

    def active_keys(self) -> list[KeyConfig]:
        return [k for k in self.keys if k.digest is not None]


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(text: str, env: Mapping[str, str]) -> str:
    """Expand ``${VAR}`` and ``${VAR:-default}`` (empty counts as unset, as in sh)."""

    def sub(m: re.Match[str]) -> str:
        val = env.get(m.group(1))
        if val:
            return val
        if m.group(2) is not None:
            return m.group(2)
        if val is None:
            raise ConfigError(f"environment variable {m.group(1)} is not set (use ${{{m.group(1)}:-}})")
        return val

    return _VAR.sub(sub, text)


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def parse_config(text: str, env: Mapping[str, str], *, source: str = "<config>") -> GatewayConfig:
    try:
        raw = yaml.safe_load(expand_env(text, env))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the config must be a mapping at the top level")
    try:
        return GatewayConfig.model_validate(raw)
    except ValidationError as exc:
        msgs = []
        for e in exc.errors():
            where = _loc(e["loc"])
            msg = e["msg"].removeprefix("Value error, ")
            # Cross-reference errors already name their fields.
            msgs.append(f"{where}: {msg}" if where else msg)
        raise ConfigError(f"{source}: " + "; ".join(msgs)) from None


def load_config(path: str | Path, env: Mapping[str, str]) -> GatewayConfig:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config {p}: {exc.strerror}") from None
    return parse_config(text, env, source=str(p))


# The config used when none is named: ./config/gateway.yaml (a checkout of the
# repository, where it is the file to edit), else the copy shipped in the package.
LOCAL_CONFIG = "config/gateway.yaml"


def builtin_config_path() -> str:
    """The default config shipped inside the package (same text as the repository's
    config/gateway.yaml; a test keeps them equal)."""
    return str(resources.files(__package__) / "default_config.yaml")


def resolve_config_path(arg: str | None, env: Mapping[str, str]) -> str:
    """Which config file is in force: ``--config``, else ``$GATEWAY_CONFIG``, else
    ./config/gateway.yaml if there is one, else the built-in default."""
    if arg:
        return arg
    if env.get("GATEWAY_CONFIG"):
        return env["GATEWAY_CONFIG"]
    return LOCAL_CONFIG if Path(LOCAL_CONFIG).is_file() else builtin_config_path()


def describe_config_path(path: str) -> str:
    """For the start line: the path, or that the built-in default is in force."""
    return f"built-in default {path}" if path == builtin_config_path() else path

