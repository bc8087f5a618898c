"""OpenAI Chat Completions request -> Anthropic Messages request.

The output is built field by field from an allow-list: the Messages API rejects unknown
top-level fields ("Extra inputs are not permitted"), so OpenAI-only fields (``n``,
``stream_options``, ``response_format``, ``seed``, ``logprobs``, penalties,
``logit_bias``, ``service_tier``, ``store``, ``metadata``...) can never leak.

Decisions (each documented where it is made):
- ``temperature`` is clamped into Anthropic's 0..1, not rescaled from OpenAI's 0..2;
- with both ``temperature`` and ``top_p``, ``top_p`` is dropped (recent models answer
  "`temperature` and `top_p` cannot both be specified for this model");
- ``response_format`` json_object/json_schema becomes a forced tool whose input_schema
  is the schema, turned back into message content by the response translators; when
  the request has tools of its own, a system instruction asks for JSON instead;
- ``reasoning_effort`` is ignored: extended thinking would need its signed thinking
  blocks passed back on every tool-use turn, which OpenAI clients cannot do;
- what Claude cannot do (``logprobs``, ``seed``, ``logit_bias``, penalties,
  ``web_search_options``, whitespace-only ``stop`` entries) follows ``params.py``:
  dropped quietly at its neutral value, else a 400 unless ``drop_params`` allows it;
- ``user`` (or ``safety_identifier``) becomes ``metadata.user_id`` as a stable hash,
  never as written: Anthropic asks that it hold no email address or phone number.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import orjson

from . import _check as check
from .anthropic_messages import convert_messages, has_text
from .params import Unsupported, is_neutral_number

JSON_TOOL_NAME = "json_response"
_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")


@dataclass(frozen=True, slots=True)
class ChatTranslation:
    """What the response side needs to know about a translated chat request."""

    stream: bool = False
    include_usage: bool = False
    # The forced tool that carries a response_format answer; its input becomes the
    # message content and its tool_use stop becomes finish_reason "stop".
    json_tool: str | None = None


_PLAIN_TRANSLATION = ChatTranslation()


def chat_to_messages_request(
    body: dict[str, Any],
    *,
    upstream_model: str,
    default_max_tokens: int,
    max_output_tokens: int | None = None,
    stream: bool | None = None,
    unsupported: Unsupported | None = None,
) -> tuple[dict[str, Any], ChatTranslation]:
    if not isinstance(body, dict):
        raise check.bad("body", "must be a JSON object")
    messages = check.arr(body.get("messages"), "messages")
    if not messages:
        raise check.bad("messages", "must not be empty")
    n = body.get("n")
    if n is not None and check.integer(n, "n", minimum=1) > 1:
        raise check.bad("n", "must be 1: Anthropic models return a single choice")
    unsupported = unsupported or Unsupported()
    if not _UNSERVABLE.isdisjoint(body):  # most requests have none of them
        _reject_unsupported(body)
        _check_unservable(body, unsupported)

    system, turns = convert_messages(messages)
    out: dict[str, Any] = {
        "model": upstream_model,
        "max_tokens": _max_tokens(body, default_max_tokens, max_output_tokens),
        "messages": turns,
    }

    streaming = body.get("stream") if stream is None else stream
    streaming = bool(streaming is not None and check.boolean(streaming, "stream"))
    include_usage = False
    opts = body.get("stream_options")
    if opts is not None:
        usage_flag = check.obj(opts, "stream_options").get("include_usage")
        include_usage = (
            streaming
            and usage_flag is not None
            and check.boolean(usage_flag, "stream_options.include_usage")
        )

    tools = _tools(body.get("tools"))
    tool_choice = _tool_choice(body.get("tool_choice"), tools)
    parallel = body.get("parallel_tool_calls")
    if parallel is not None and not check.boolean(parallel, "parallel_tool_calls") and tools:
        tool_choice = tool_choice or {"type": "auto"}
        if tool_choice["type"] != "none":
            tool_choice["disable_parallel_tool_use"] = True

    json_tool = None
    fmt = _response_format(body.get("response_format"))
    if fmt is not None and not tools:
        name, description, schema = fmt
        tools = [{"name": name, "description": description, "input_schema": schema}]
        tool_choice = {"type": "tool", "name": name}
        json_tool = name
    elif fmt is not None:
        # The client's own tools must stay callable, so JSON cannot be forced through a
        # tool here: ask for it in the system prompt (best effort, the answer is text).
        system.append({"type": "text", "text": _json_instruction(fmt[2])})

    if system:
        plain = len(system) == 1 and "cache_control" not in system[0]
        out["system"] = system[0]["text"] if plain else system
    if tools:
        out["tools"] = tools
        if tool_choice is not None:
            out["tool_choice"] = tool_choice

    stop = body.get("stop")
    if stop is not None:
        # Anthropic: "each stop sequence must contain non-whitespace"; an empty string
        # stops nothing (neutral), a blank one would stop on whitespace.
        sequences = []
        for s in check.string_list(stop, "stop"):
            if has_text(s):
                sequences.append(s)
            elif s:
                unsupported.refuse("stop", f"{s!r}: Claude does not take stop sequences "
                                   "made only of whitespace")
        if sequences:
            out["stop_sequences"] = sequences

    temperature = body.get("temperature")
    if temperature is not None:
        # OpenAI's range is 0..2, Anthropic's 0..1: clamp, do not rescale, so the
        # common values 0..1 keep their meaning.
        out["temperature"] = min(max(check.number(temperature, "temperature"), 0.0), 1.0)
    top_p = body.get("top_p")
    if top_p is not None:
        value = check.number(top_p, "top_p")
        # Claude 4.1+ answers 400 "`temperature` and `top_p` cannot both be specified
        # for this model": temperature, the more common knob, wins.
        if temperature is None:
            out["top_p"] = value

    user = body.get("user")
    if user is None:
        user = body.get("safety_identifier")  # OpenAI's successor to `user`
    if user is not None and check.string(user, "user"):
        out["metadata"] = {"user_id": user_hash(user)}
    if streaming:
        out["stream"] = True
    if not streaming and not include_usage and json_tool is None:
        return out, _PLAIN_TRANSLATION  # the common case, frozen: one instance serves all
    return out, ChatTranslation(stream=streaming, include_usage=include_usage, json_tool=json_tool)


# The fields the two checks below look at: a request with none of them passes both.
_UNSERVABLE = frozenset({
    "functions", "function_call", "modalities", "audio",  # _reject_unsupported
    "logprobs", "top_logprobs", "seed", "logit_bias", "presence_penalty",
    "frequency_penalty", "web_search_options",  # _check_unservable
})


def _reject_unsupported(body: dict[str, Any]) -> None:
    """Fields whose meaning cannot be served at all (ignoring them would mislead)."""
    if body.get("functions") is not None or body.get("function_call") is not None:
        raise check.bad("functions", "(deprecated) is not supported; use tools and tool_choice")
    modalities = body.get("modalities")
    if (isinstance(modalities, list) and "audio" in modalities) or body.get("audio") is not None:
        raise check.bad("modalities", "audio output is not supported by this model")


def user_hash(user: str) -> str:
    """A stable pseudonym for an OpenAI ``user``: the same user gets the same id, and no
    email or phone number reaches Anthropic."""
    return "user-" + hashlib.sha256(user.encode()).hexdigest()[:32]


def _check_unservable(body: dict[str, Any], unsupported: Unsupported) -> None:
    """The OpenAI fields Claude has no equivalent for (``params.py`` decides)."""
    if body.get("logprobs") is not None and check.boolean(body["logprobs"], "logprobs"):
        unsupported.refuse("logprobs", "Claude does not return log probabilities")
    top = body.get("top_logprobs")
    if top is not None and check.integer(top, "top_logprobs", minimum=0) > 0:
        unsupported.refuse("top_logprobs", "Claude does not return log probabilities")
    if body.get("seed") is not None:
        check.integer(body["seed"], "seed")
        unsupported.refuse("seed", "Claude has no seeded sampling")
    bias = body.get("logit_bias")
    if bias is not None and check.obj(bias, "logit_bias"):
        unsupported.refuse("logit_bias", "Claude does not take token biases")
    for name in ("presence_penalty", "frequency_penalty"):
        value = body.get(name)
        if not is_neutral_number(value):
            check.number(value, name)
            unsupported.refuse(name, "Claude has no repetition penalties")
    if body.get("web_search_options") is not None:
        unsupported.refuse("web_search_options", "web search is not available on this model")


def _max_tokens(body: dict[str, Any], default: int, cap: int | None) -> int:
    value = body.get("max_completion_tokens")
    param = "max_completion_tokens"
    if value is None:
        value, param = body.get("max_tokens"), "max_tokens"
    # max_tokens is required by Anthropic: supply the configured default.
    tokens = default if value is None else check.integer(value, param, minimum=1)
    return min(tokens, cap) if cap is not None else tokens


def _tools(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    tools: list[dict[str, Any]] = []
    names: set[str] = set()
    for i, tool in enumerate(check.arr(value, "tools")):
        p = f"tools[{i}]"
        check.obj(tool, p)
        check.function_tool(tool, p)
        fn = check.obj(tool.get("function"), f"{p}.function")
        name = check.nonempty_string(fn.get("name"), f"{p}.function.name")
        if name in names:
            raise check.bad(f"{p}.function.name", f"repeats the tool name {name!r}")
        names.add(name)
        out: dict[str, Any] = {"name": name}
        description = fn.get("description")
        if description is not None and check.string(description, f"{p}.function.description"):
            out["description"] = description
        out["input_schema"] = _object_schema(fn.get("parameters"), f"{p}.function.parameters")
        # `strict` is dropped: Anthropic's strict tool use is model-dependent.
        tools.append(out)
    return tools


def _object_schema(value: Any, p: str) -> dict[str, Any]:
    """A JSON Schema usable as ``input_schema``, whose root must be an object."""
    if value is None:
        return {"type": "object", "properties": {}}
    schema = check.obj(value, p)
    stype = schema.get("type")
    if stype is None:
        return {**schema, "type": "object"}
    if stype != "object":
        raise check.bad(f"{p}.type", "must be 'object'")
    return schema


def _tool_choice(value: Any, tools: list[dict[str, Any]]) -> dict[str, Any] | None:
    if value is None:
        return None
    if value in ("auto", "none"):
        # Without tools there is nothing to choose; Anthropic rejects a lone tool_choice.
        return {"type": value} if tools else None
    if value == "required":
        if not tools:
            raise check.bad("tool_choice", "is 'required' but the request has no tools")
        return {"type": "any"}
    if isinstance(value, dict) and value.get("type") == "function":
        fn = check.obj(value.get("function"), "tool_choice.function")
        name = check.nonempty_string(fn.get("name"), "tool_choice.function.name")
        if not any(t["name"] == name for t in tools):
            raise check.bad("tool_choice.function.name", f"names {name!r}, which is not in tools")
        return {"type": "tool", "name": name}
    raise check.bad(
        "tool_choice",
        "must be 'none', 'auto', 'required' or "
        '{"type": "function", "function": {"name": ...}}',
    )


def _response_format(value: Any) -> tuple[str, str, dict[str, Any]] | None:
    """``(tool name, description, schema)`` for a JSON response_format, else None."""
    if value is None:
        return None
    check.obj(value, "response_format")
    rtype = value.get("type")
    if rtype == "text":
        return None
    if rtype == "json_object":
        return JSON_TOOL_NAME, "Reply with the answer as a JSON object.", {"type": "object"}
    if rtype == "json_schema":
        spec = check.obj(value.get("json_schema"), "response_format.json_schema")
        name = check.nonempty_string(spec.get("name"), "response_format.json_schema.name")
        if not _TOOL_NAME.fullmatch(name):
            name = JSON_TOOL_NAME  # Anthropic tool names: ^[a-zA-Z0-9_-]{1,64}$
        description = spec.get("description")
        if description is None or not check.string(
            description, "response_format.json_schema.description"
        ):
            description = "Reply with the answer as a JSON object matching this schema."
        schema = _object_schema(spec.get("schema"), "response_format.json_schema.schema")
        return name, description, schema
    raise check.bad("response_format.type", "must be one of text, json_object, json_schema")


def _json_instruction(schema: dict[str, Any]) -> str:
    text = (
        "When you give your final answer, reply with a single valid JSON object only: "
        "no prose and no Markdown code fences."
    )
    if schema != {"type": "object"}:
        text += " The object must match this JSON Schema: " + orjson.dumps(schema).decode()
    return text
