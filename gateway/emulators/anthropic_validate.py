"""What Anthropic's ``/v1/messages`` and ``/v1/messages/count_tokens`` refuse: headers,
unknown fields ("<field>: Extra inputs are not permitted"), sampling and token limits,
tools, tool_choice and thinking. Messages are checked in ``anthropic_content``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from .anthropic_content import Turn, validate_messages, validate_system
from ..translate._check import is_int, is_number, is_str_list
from .checks import bad_request, content_type_is_json
from .errors import ApiError

DEFAULT_MODELS = (
    "claude-opus-4-5",
    "claude-opus-4-5-20251101",
    "claude-sonnet-4-5",
    "claude-sonnet-4-5-20250929",
    "claude-haiku-4-5",
    "claude-haiku-4-5-20251001",
    "claude-opus-4-1",
    "claude-opus-4-1-20250805",
    "claude-sonnet-4-0",
    "claude-sonnet-4-20250514",
)
OUTPUT_LIMITS = {"claude-opus-4-1": 32000, "claude-opus-4-1-20250805": 32000}
DEFAULT_OUTPUT_LIMIT = 64000
CONTEXT_WINDOW = 200000
MAX_BODY_BYTES = 32 * 1024 * 1024
# 2023-06-01 is the documented version; anthropic-sdk-python 2.14 sends 2026-10-21.
DEFAULT_VERSIONS = ("2023-01-01", "2023-06-01", "2026-10-21")
# Models of the 4.1/4.5 generation take temperature or top_p, not both.
ONE_SAMPLER_PREFIXES = (
    "claude-opus-4-1",
    "claude-opus-4-5",
    "claude-sonnet-4-5",
    "claude-haiku-4-5",
)

CREATE_FIELDS = frozenset(
    {
        "model", "messages", "max_tokens", "system", "metadata", "stop_sequences", "stream",
        "temperature", "top_p", "top_k", "tools", "tool_choice", "thinking", "service_tier",
        "container", "mcp_servers", "context_management", "output_format", "output_config",
        "cache_control", "diagnostics", "inference_geo", "speed",
    }
)  # fmt: skip
COUNT_FIELDS = frozenset(
    {
        "model", "messages", "system", "tools", "tool_choice", "thinking", "mcp_servers",
        "context_management", "output_format", "output_config", "cache_control", "speed",
    }
)  # fmt: skip
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
SERVER_TOOL_TYPE = re.compile(r"^[a-z_]+_\d{8}$")  # web_search_20250305, bash_20250124...
THINKING_TYPES = ("enabled", "disabled", "adaptive", "between_tools")


def check_headers(headers: Mapping[str, str], api_key: str, versions: Collection[str]) -> None:
    key = headers.get("x-api-key")
    scheme, _, token = headers.get("authorization", "").partition(" ")
    bearer = token.strip() if scheme.lower() == "bearer" else None
    if key is None and bearer is None:
        raise ApiError(401, "authentication_error", "x-api-key header is required")
    if api_key not in (key, bearer):
        raise ApiError(401, "authentication_error", "invalid x-api-key")
    version = headers.get("anthropic-version")
    if version is None:
        raise bad_request("anthropic-version: header is required")
    if version not in versions:
        raise bad_request(f"anthropic-version: invalid version {version!r}")


def check_json_request(headers: Mapping[str, str], raw_length: int, json_error: str | None) -> None:
    if raw_length > MAX_BODY_BYTES:
        raise ApiError(
            413, "request_too_large", "Request exceeds the maximum allowed number of bytes."
        )
    if not content_type_is_json(headers):
        raise bad_request("Content-Type must be application/json")
    if json_error is not None:
        raise bad_request(f"There was an issue with your request body: invalid JSON: {json_error}")


def validate_create(body: Any, models: Collection[str]) -> list[Turn]:
    model = _common(body, models, CREATE_FIELDS)
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        raise bad_request("max_tokens: Field required")
    if not is_int(max_tokens):
        raise bad_request("max_tokens: Input should be a valid integer")
    # The SDK documents max_tokens 0 as a way to pre-warm the prompt cache.
    if max_tokens < 0:
        raise bad_request("max_tokens: Input should be greater than or equal to 0")
    limit = OUTPUT_LIMITS.get(model, DEFAULT_OUTPUT_LIMIT)
    if max_tokens > limit:
        raise bad_request(
            f"max_tokens: {max_tokens} > {limit}, which is the maximum allowed number of "
            f"output tokens for {model}"
        )
    _sampling(body, model)
    _thinking(body, max_tokens)
    if "stream" in body and not isinstance(body["stream"], bool):
        raise bad_request("stream: Input should be a valid boolean")
    stops = body.get("stop_sequences")
    if stops is not None:
        if not is_str_list(stops):
            raise bad_request("stop_sequences: Input should be a valid list of strings")
        if any(not s.strip() for s in stops):
            raise bad_request("stop_sequences: each stop sequence must contain non-whitespace")
    metadata = body.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise bad_request("metadata: Input should be a valid dictionary")
        for key in metadata:
            if key != "user_id":
                raise bad_request(f"metadata.{key}: Extra inputs are not permitted")
        if not isinstance(metadata.get("user_id", ""), (str, type(None))):
            raise bad_request("metadata.user_id: Input should be a valid string")
    if body.get("service_tier", "auto") not in ("auto", "standard_only"):
        raise bad_request("service_tier: Input should be 'auto' or 'standard_only'")
    turns = _rest(body)
    _thinking_first(body, turns)
    return turns


def validate_count(body: Any, models: Collection[str]) -> list[Turn]:
    _common(body, models, COUNT_FIELDS)
    _thinking(body, None)
    return _rest(body)


def _common(body: Any, models: Collection[str], fields: frozenset[str]) -> str:
    if not isinstance(body, dict):
        raise bad_request("Input should be a valid dictionary")
    for key in body:
        if key not in fields:
            raise bad_request(f"{key}: Extra inputs are not permitted")
    model = body.get("model")
    if model is None:
        raise bad_request("model: Field required")
    if not isinstance(model, str):
        raise bad_request("model: Input should be a valid string")
    if model not in models:
        raise ApiError(404, "not_found_error", f"model: {model}")
    return model


def _rest(body: dict[str, Any]) -> list[Turn]:
    validate_system(body.get("system"))
    turns = validate_messages(body.get("messages"))
    names = _tools(body.get("tools"))
    _tool_choice(body.get("tool_choice"), names, body.get("tools") is not None)
    for name in ("output_config", "output_format", "context_management", "container"):
        value = body.get(name)
        if value is not None and not isinstance(value, (dict, str)):
            raise bad_request(f"{name}: Input should be a valid dictionary")
    return turns


def _sampling(body: dict[str, Any], model: str) -> None:
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is None:
            continue
        if not is_number(value):
            raise bad_request(f"{name}: Input should be a valid number")
        if value < 0:
            raise bad_request(f"{name}: Input should be greater than or equal to 0")
        if value > 1:
            raise bad_request(f"{name}: Input should be less than or equal to 1")
    top_k = body.get("top_k")
    if top_k is not None and (not is_int(top_k) or top_k < 0):
        raise bad_request("top_k: Input should be a non-negative integer")
    both = body.get("temperature") is not None and body.get("top_p") is not None
    if both and model.startswith(ONE_SAMPLER_PREFIXES):
        raise bad_request(
            "`temperature` and `top_p` cannot both be specified for this model. "
            "Please use only one."
        )


def _thinking(body: dict[str, Any], max_tokens: int | None) -> None:
    thinking = body.get("thinking")
    if thinking is None:
        return
    if not isinstance(thinking, dict) or thinking.get("type") not in THINKING_TYPES:
        raise bad_request(
            "thinking: Input tag found using 'type' does not match any of the expected tags: "
            + ", ".join(repr(t) for t in THINKING_TYPES)
        )
    if thinking["type"] == "disabled":
        return
    if thinking["type"] == "enabled":
        budget = thinking.get("budget_tokens")
        if not is_int(budget):
            raise bad_request("thinking.enabled.budget_tokens: Field required")
        if budget < 1024:
            raise bad_request(
                "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
            )
        if max_tokens is not None and budget >= max_tokens:
            raise bad_request("`max_tokens` must be greater than `thinking.budget_tokens`")
    if body.get("temperature") not in (None, 1, 1.0):
        raise bad_request("`temperature` may only be set to 1 when thinking is enabled")
    if body.get("top_k") is not None:
        raise bad_request("`top_k` must be unset when thinking is enabled")
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in ("any", "tool"):
        raise bad_request("Thinking may not be enabled when tool_choice forces tool use.")


def _thinking_first(body: dict[str, Any], turns: list[Turn]) -> None:
    """With thinking enabled, a tool loop must come back with the assistant turn's
    thinking block first (the API's rule; it keeps the model's reasoning across the
    tool call). Only ``enabled``: with ``adaptive`` the model may not have thought."""
    thinking = body.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") != "enabled" or len(turns) < 2:
        return
    last, called = turns[-1], turns[-2]
    if last.role != "user" or not any(b.get("type") == "tool_result" for b in last.blocks):
        return
    first = called.blocks[0].get("type") if called.blocks else None
    if first not in ("thinking", "redacted_thinking"):
        raise bad_request(
            f"messages.{called.index}.content.0.type: Expected `thinking` or "
            f"`redacted_thinking`, but found `{first}`. When `thinking` is enabled, a final "
            "`assistant` message must start with a thinking block (preceeding the lastmost "
            "set of `tool_use` and `tool_result` blocks). We recommend you include thinking "
            "blocks from previous turns. To avoid this requirement, disable `thinking`. "
            "Please consult our documentation at "
            "https://docs.claude.com/en/docs/build-with-claude/extended-thinking")


def _tools(tools: Any) -> set[str]:
    if tools is None:
        return set()
    if not isinstance(tools, list):
        raise bad_request("tools: Input should be a valid list")
    names: set[str] = set()
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise bad_request(f"tools.{i}: Input should be a valid dictionary")
        kind = tool.get("type")
        name = tool.get("name")
        if kind not in (None, "custom"):
            if not isinstance(kind, str) or not SERVER_TOOL_TYPE.match(kind):
                raise bad_request(
                    f"tools.{i}: Input tag '{kind}' found using 'type' does not match any of "
                    "the expected tags"
                )
        else:
            if not isinstance(name, str):
                raise bad_request(f"tools.{i}.custom.name: Field required")
            if not TOOL_NAME.match(name):
                raise bad_request(
                    f"tools.{i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
                )
            schema = tool.get("input_schema")
            if schema is None:
                raise bad_request(f"tools.{i}.custom.input_schema: Field required")
            if not isinstance(schema, dict) or schema.get("type") != "object":
                raise bad_request(f"tools.{i}.custom.input_schema.type: Input should be 'object'")
        if isinstance(name, str):
            if name in names:
                raise bad_request("tools: Tool names must be unique.")
            names.add(name)
    return names


def _tool_choice(choice: Any, names: set[str], has_tools: bool) -> None:
    if choice is None:
        return
    kinds = ("auto", "any", "tool", "none")
    if not isinstance(choice, dict) or choice.get("type") not in kinds:
        raise bad_request(
            "tool_choice: Input tag found using 'type' does not match any of the expected tags: "
            "'auto', 'any', 'tool', 'none'"
        )
    kind = choice["type"]
    allowed = {"type", "disable_parallel_tool_use"} | ({"name"} if kind == "tool" else set())
    for key in choice:
        if key not in allowed:
            raise bad_request(f"tool_choice.{kind}.{key}: Extra inputs are not permitted")
    if not isinstance(choice.get("disable_parallel_tool_use", False), bool):
        raise bad_request(
            f"tool_choice.{kind}.disable_parallel_tool_use: Input should be a valid boolean"
        )
    if kind in ("any", "tool") and not has_tools:
        raise bad_request("tool_choice may only be specified while providing tools")
    if kind == "tool":
        name = choice.get("name")
        if not isinstance(name, str):
            raise bad_request("tool_choice.tool.name: Field required")
        if name not in names:
            raise bad_request(f"tool_choice.tool.name: Tool '{name}' not found in tools")
