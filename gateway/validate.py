"""Shape checks of client bodies, done once, naming the offending field.

Hand-written rather than a pydantic model: the body is forwarded as parsed, so a
model would mean a second full copy of a possibly 10 MB request on the hot path,
and the checks below only look at the fields the gateway relies on. Fields it does
not use pass through untouched (the upstream validates them).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from .errors import BadRequest
from .translate._check import function_tool, is_int, is_number, is_str_list

_OPENAI_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


def _type_name(v: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean",
            type(None): "null", int: "integer", float: "number"}.get(type(v), type(v).__name__)


def _want(cond: bool, param: str, expected: str, got: Any) -> None:
    if not cond:
        raise BadRequest(f"Invalid type for '{param}': expected {expected}, but got {_type_name(got)}.",
                         param=param, code="invalid_type")


def _opt_number(body: dict[str, Any], name: str, lo: float | None = None,
                hi: float | None = None) -> None:
    v = body.get(name)
    if v is None:
        return
    _want(is_number(v), name, "a number", v)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise BadRequest(f"'{name}' must be between {lo} and {hi}, got {v}.", param=name,
                         code="invalid_value")


def _opt_int(body: dict[str, Any], name: str, lo: int = 0) -> None:
    v = body.get(name)
    if v is None:
        return
    _want(is_int(v), name, "an integer", v)
    if v < lo:
        raise BadRequest(f"'{name}' must be >= {lo}, got {v}.", param=name, code="invalid_value")


def _opt_bool(body: dict[str, Any], name: str) -> None:
    v = body.get(name)
    if v is not None:
        _want(isinstance(v, bool), name, "a boolean", v)


def openai_model(body: Any) -> None:
    """An OpenAI-surface body is an object with a non-empty string ``model``."""
    _want(isinstance(body, dict), "(body)", "a JSON object", body)
    model = body.get("model")
    if model is None:
        raise BadRequest("Missing required parameter: 'model'.", param="model",
                         code="missing_required_parameter")
    _want(isinstance(model, str) and model != "", "model", "a non-empty string", model)


def chat_request(body: Any) -> dict[str, Any]:
    """Check an OpenAI chat-completions body; returns it unchanged."""
    openai_model(body)
    msgs = body.get("messages")
    if msgs is None:
        raise BadRequest("Missing required parameter: 'messages'.", param="messages",
                         code="missing_required_parameter")
    _want(isinstance(msgs, list), "messages", "an array", msgs)
    if not msgs:
        raise BadRequest("'messages' must contain at least one message.", param="messages",
                         code="invalid_value")
    for i, m in enumerate(msgs):
        _chat_message(m, i)
    _check_fields(body, _CHAT_FIELDS)
    return body


def _chat_message(m: Any, i: int) -> None:
    if not isinstance(m, dict):
        _want(False, f"messages[{i}]", "an object", m)
    role = m.get("role")
    # isinstance first: a dict or list role is unhashable and must be a 400, not a 500.
    if not isinstance(role, str) or role not in _OPENAI_ROLES:
        p = f"messages[{i}]"
        raise BadRequest(f"Invalid value for '{p}.role': {role!r}; expected one of "
                         f"{sorted(_OPENAI_ROLES)}.", param=f"{p}.role", code="invalid_value")
    c = m.get("content")
    if isinstance(c, str):
        pass
    elif c is None:
        if role != "assistant":
            raise BadRequest(f"Missing required parameter: 'messages[{i}].content'.",
                             param=f"messages[{i}].content", code="missing_required_parameter")
    elif isinstance(c, list):
        for j, part in enumerate(c):
            _chat_part(part, f"messages[{i}].content[{j}]")
    else:
        _want(False, f"messages[{i}].content", "a string or an array of content parts", c)
    if role == "tool":
        _want(isinstance(m.get("tool_call_id"), str), f"messages[{i}].tool_call_id",
              "a string", m.get("tool_call_id"))
    tcs = m.get("tool_calls")
    if tcs is not None:
        p = f"messages[{i}]"
        _want(isinstance(tcs, list), f"{p}.tool_calls", "an array", tcs)
        for j, tc in enumerate(tcs):
            tp = f"{p}.tool_calls[{j}]"
            _want(isinstance(tc, dict), tp, "an object", tc)
            fn = tc.get("function")
            _want(isinstance(fn, dict) and isinstance(fn.get("name"), str),
                  f"{tp}.function", "an object with a string 'name'", fn)
            _want(isinstance(tc.get("id"), str), f"{tp}.id", "a string", tc.get("id"))


def _chat_part(part: Any, pp: str) -> None:
    _want(isinstance(part, dict), pp, "an object", part)
    t = part.get("type")
    _want(isinstance(t, str), f"{pp}.type", "a string", t)
    if t == "text":
        _want(isinstance(part.get("text"), str), f"{pp}.text", "a string", part.get("text"))
    elif t == "image_url":
        iu = part.get("image_url")
        _want(isinstance(iu, dict) and isinstance(iu.get("url"), str),
              f"{pp}.image_url", "an object with a string 'url'", iu)


FieldCheck = Callable[[dict[str, Any], str], None]


def _check_fields(body: dict[str, Any], fields: tuple[tuple[str, FieldCheck], ...]) -> None:
    """Run the checks of the optional ``fields`` the body has, in the order of ``fields``
    (the first bad one is the 400)."""
    for name, check in fields:
        if name in body:
            check(body, name)


def _opt_object(body: dict[str, Any], name: str) -> None:
    v = body.get(name)
    if v is not None:
        _want(isinstance(v, dict), name, "an object", v)


def _max_completion_tokens(body: dict[str, Any], name: str) -> None:
    _opt_int(body, name, 1)
    mct, mt = body.get(name), body.get("max_tokens")
    if mct is not None and mt is not None and mct != mt:
        # Which one an upstream honours is its business; the gateway budgets one number.
        raise BadRequest("max_tokens and max_completion_tokens differ: give one of them "
                         f"(got {mt} and {mct}).", param="max_completion_tokens")


def _stop(body: dict[str, Any], name: str) -> None:
    stop = body.get(name)
    if stop is not None:
        _want(isinstance(stop, str) or is_str_list(stop),
              "stop", "a string or an array of strings", stop)


def _chat_tools(body: dict[str, Any], name: str) -> None:
    tools = body.get(name)
    if tools is not None:
        _want(isinstance(tools, list), "tools", "an array", tools)
        for i, t in enumerate(tools):
            if isinstance(t, dict):
                function_tool(t, f"tools[{i}]")
            _want(isinstance(t, dict) and isinstance(t.get("function"), dict)
                  and isinstance(t["function"].get("name"), str),
                  f"tools[{i}]", "an object with a 'function' that has a string 'name'", t)


def _tool_choice(body: dict[str, Any], name: str) -> None:
    tc = body.get(name)
    if tc is not None and not isinstance(tc, dict) and tc not in ("none", "auto", "required"):
        raise BadRequest(f"Invalid value for 'tool_choice': {tc!r}.", param="tool_choice",
                         code="invalid_value")


def _response_format(body: dict[str, Any], name: str) -> None:
    rf = body.get(name)
    if rf is not None:
        _want(isinstance(rf, dict) and isinstance(rf.get("type"), str), "response_format",
              "an object with a string 'type'", rf)
        if rf["type"] not in ("text", "json_object", "json_schema"):
            raise BadRequest(f"Invalid value for 'response_format.type': {rf['type']!r}.",
                             param="response_format.type", code="invalid_value")


# A chat body's optional fields the gateway relies on, in the order they are checked.
_CHAT_FIELDS: tuple[tuple[str, FieldCheck], ...] = (
    ("stream", _opt_bool),
    ("stream_options", _opt_object),
    ("temperature", partial(_opt_number, lo=0, hi=2)),
    ("top_p", partial(_opt_number, lo=0, hi=1)),
    ("frequency_penalty", partial(_opt_number, lo=-2, hi=2)),
    ("presence_penalty", partial(_opt_number, lo=-2, hi=2)),
    ("max_tokens", partial(_opt_int, lo=1)),
    ("max_completion_tokens", _max_completion_tokens),
    ("n", partial(_opt_int, lo=1)),
    ("seed", partial(_opt_int, lo=-(2**63))),
    ("parallel_tool_calls", _opt_bool),
    ("stop", _stop),
    ("tools", _chat_tools),
    ("tool_choice", _tool_choice),
    ("response_format", _response_format),
    ("metadata", _opt_object),
)


def messages_request(body: Any) -> dict[str, Any]:
    """Check an Anthropic Messages body (the fields the gateway relies on)."""
    _want(isinstance(body, dict), "(body)", "a JSON object", body)
    model = body.get("model")
    if model is None:
        raise BadRequest("model: Field required", param="model")
    _want(isinstance(model, str) and model != "", "model", "a non-empty string", model)
    mt = body.get("max_tokens")
    if mt is None:
        raise BadRequest("max_tokens: Field required", param="max_tokens")
    # 0 is valid on Anthropic: it pre-warms the prompt cache without generating.
    _opt_int(body, "max_tokens", 0)
    msgs = body.get("messages")
    if msgs is None:
        raise BadRequest("messages: Field required", param="messages")
    _want(isinstance(msgs, list), "messages", "an array", msgs)
    for i, m in enumerate(msgs):
        p = f"messages.{i}"
        _want(isinstance(m, dict), p, "an object", m)
        # Any role string passes: Anthropic adds roles under betas (Claude Code sends
        # "system" turns), and only the upstream knows which it accepts.
        role = m.get("role")
        if not isinstance(role, str) or not role:
            raise BadRequest(f"{p}.role: Input should be a valid string", param=f"{p}.role")
        c = m.get("content")
        if isinstance(c, list):
            for j, b in enumerate(c):
                _want(isinstance(b, dict) and isinstance(b.get("type"), str),
                      f"{p}.content.{j}", "a content block with a string 'type'", b)
        else:
            _want(isinstance(c, str), f"{p}.content", "a string or an array of content blocks", c)
    system = body.get("system")
    if system is not None and not isinstance(system, str):
        _want(isinstance(system, list) and all(isinstance(b, dict) for b in system), "system",
              "a string or an array of text blocks", system)
    _opt_bool(body, "stream")
    _opt_number(body, "temperature", 0, 1)
    _opt_number(body, "top_p", 0, 1)
    _opt_int(body, "top_k", 0)
    tools = body.get("tools")
    if tools is not None:
        _want(isinstance(tools, list) and all(isinstance(t, dict) for t in tools), "tools",
              "an array of objects", tools)
    ss = body.get("stop_sequences")
    if ss is not None:
        _want(isinstance(ss, list) and all(isinstance(s, str) for s in ss), "stop_sequences",
              "an array of strings", ss)
    md = body.get("metadata")
    if md is not None:
        _want(isinstance(md, dict), "metadata", "an object", md)
    return body


_COUNTED_ROLES = frozenset({"user", "assistant", "system"})


def count_tokens_request(body: Any) -> dict[str, Any]:
    _want(isinstance(body, dict), "(body)", "a JSON object", body)
    # count_tokens has no max_tokens; validate the rest like a messages request.
    out = messages_request({**body, "max_tokens": 1})
    # The gateway answers count_tokens itself, so no upstream judges the roles: it
    # takes the ones Anthropic does (system turns included).
    for i, m in enumerate(out["messages"]):
        if m["role"] not in _COUNTED_ROLES:
            raise BadRequest(f"messages.{i}.role: Input should be 'user', 'assistant' or "
                             "'system'", param=f"messages.{i}.role")
    return out


def responses_request(body: Any) -> dict[str, Any]:
    """Check a Responses body (the fields the gateway relies on)."""
    openai_model(body)
    inp = body.get("input")
    if inp is None and body.get("previous_response_id") is None:
        raise BadRequest("Missing required parameter: 'input'.", param="input",
                         code="missing_required_parameter")
    if inp is not None:
        _want(isinstance(inp, (str, list)), "input", "a string or an array of items", inp)
    for name in ("stream", "store", "parallel_tool_calls", "background"):
        _opt_bool(body, name)
    _opt_number(body, "temperature", 0, 2)
    _opt_number(body, "top_p", 0, 1)
    _opt_int(body, "max_output_tokens", 1)
    for name in ("metadata", "text", "reasoning"):
        v = body.get(name)
        if v is not None:
            _want(isinstance(v, dict), name, "an object", v)
    tools = body.get("tools")
    if tools is not None:
        _want(isinstance(tools, list) and all(isinstance(t, dict) for t in tools), "tools",
              "an array of objects", tools)
    return body


def input_tokens_request(body: Any) -> dict[str, Any]:
    """``/v1/responses/input_tokens``: a Responses body whose ``model`` is optional."""
    return responses_request({"model": "auto", **body} if isinstance(body, dict) else body)
