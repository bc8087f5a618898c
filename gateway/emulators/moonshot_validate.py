"""What Moonshot's ``/v1/chat/completions`` refuses, checked as strictly as the real API.

Moonshot ignores unknown fields (it is OpenAI-compatible), but the ones it knows are
typed, and it differs from OpenAI: temperature is 0..1, ``n`` is at most 5 and needs a
temperature away from 0, ``tool_choice: "required"`` is unsupported on K2, and vision
takes base64 data URLs only (it does not fetch http(s) URLs).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from ..translate._check import is_int, is_number, is_str_list
from .checks import bad_request, content_type_is_json
from .errors import ApiError
from .moonshot_prompt import THINKING_MODELS

DEFAULT_MODELS = (
    "kimi-k2-0905-preview",
    "kimi-k2-0711-preview",
    "kimi-k2-turbo-preview",
    "kimi-k2-thinking",
    "moonshot-v1-8k",
    "moonshot-v1-32k",
    "moonshot-v1-128k",
)
CONTEXT_WINDOWS = {
    "kimi-k2-0711-preview": 131072,
    "moonshot-v1-8k": 8192,
    "moonshot-v1-32k": 32768,
    "moonshot-v1-128k": 131072,
}
DEFAULT_CONTEXT = 262144
MAX_BODY_BYTES = 100 * 1024 * 1024
ROLES = ("system", "user", "assistant", "tool")
DATA_URL = re.compile(r"^data:image/(png|jpe?g|gif|webp|bmp);base64,[A-Za-z0-9+/=\s]+$")
TOOL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_-]{0,63}$")
MAX_TOOLS = 128
MAX_STOPS = 5


def check_auth(headers: Mapping[str, str], api_key: str) -> None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or token.strip() != api_key:
        raise ApiError(401, "invalid_authentication_error", "Invalid Authentication")


def check_json_request(headers: Mapping[str, str], raw_length: int, json_error: str | None) -> None:
    if raw_length > MAX_BODY_BYTES:
        raise ApiError(413, "invalid_request_error", "Request body too large")
    if not content_type_is_json(headers):
        raise bad_request("Invalid request: Content-Type must be application/json")
    if json_error is not None:
        raise bad_request(f"Invalid request: invalid JSON body: {json_error}")


def validate_chat(body: Any, models: Collection[str]) -> None:
    if not isinstance(body, dict):
        raise bad_request("Invalid request: the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str):
        raise bad_request("Invalid request: model is required and must be a string")
    if model not in models:
        raise ApiError(
            404, "resource_not_found_error", f"Not found the model {model} or Permission denied"
        )
    _validate_sampling(body)
    # Thinking models want each earlier tool-call turn's reasoning back.
    _validate_messages(body.get("messages"), thinking=model in THINKING_MODELS)
    _validate_tools(body.get("tools"), body.get("tool_choice"))
    response_format = body.get("response_format")
    if response_format is not None and (
        not isinstance(response_format, dict)
        or response_format.get("type") not in ("text", "json_object", "json_schema")
    ):
        raise bad_request("Invalid request: response_format.type must be text or json_object")


def _validate_sampling(body: dict[str, Any]) -> None:
    temperature = body.get("temperature")
    if temperature is not None:
        if not is_number(temperature):
            raise bad_request("Invalid request: temperature must be a number")
        if not 0 <= temperature <= 1:
            raise bad_request(
                f"Invalid request: temperature {temperature} is out of range, expected [0, 1]"
            )
    top_p = body.get("top_p")
    if top_p is not None and (not is_number(top_p) or not 0 <= top_p <= 1):
        raise bad_request("Invalid request: top_p must be a number in [0, 1]")
    for name in ("presence_penalty", "frequency_penalty"):
        value = body.get(name)
        if value is not None and (not is_number(value) or not -2 <= value <= 2):
            raise bad_request(f"Invalid request: {name} must be a number in [-2, 2]")
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if value is not None and (not is_int(value) or value < 1):
            raise bad_request(f"Invalid request: {name} must be a positive integer")
    n = body.get("n")
    if n is not None:
        if not is_int(n) or not 1 <= n <= 5:
            raise bad_request("Invalid request: n must be an integer in [1, 5]")
        if n > 1 and temperature is not None and temperature < 0.3:
            raise bad_request(
                "Invalid request: when temperature is close to 0, n must be 1 (got "
                f"temperature {temperature} and n {n})"
            )
    if "stream" in body and not isinstance(body["stream"], bool):
        raise bad_request("Invalid request: stream must be a boolean")
    options = body.get("stream_options")
    if options is not None and (
        not isinstance(options, dict) or not isinstance(options.get("include_usage", False), bool)
    ):
        raise bad_request("Invalid request: stream_options must be an object")
    stop = body.get("stop")
    if (
        stop is not None
        and not isinstance(stop, str)
        and (not is_str_list(stop) or len(stop) > MAX_STOPS)
    ):
        raise bad_request(f"Invalid request: stop must be a string or up to {MAX_STOPS} strings")
    if "parallel_tool_calls" in body and not isinstance(body["parallel_tool_calls"], bool):
        raise bad_request("Invalid request: parallel_tool_calls must be a boolean")


def _validate_messages(messages: Any, *, thinking: bool = False) -> None:
    if not isinstance(messages, list) or not messages:
        raise bad_request("Invalid request: messages must be a non-empty array")
    call_ids: set[str] = set()
    last = len(messages) - 1
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise bad_request(f"Invalid request: messages[{i}] must be an object")
        role = message.get("role")
        if role not in ROLES:
            raise bad_request(
                f"Invalid request: messages[{i}].role {role!r} is not one of {', '.join(ROLES)}"
            )
        content = message.get("content")
        where = f"messages[{i}]"
        if role == "assistant":
            call_ids.update(_validate_assistant(message, where, is_last=i == last))
            reasoning = message.get("reasoning_content")
            if thinking and message.get("tool_calls") and not (
                    isinstance(reasoning, str) and reasoning):
                raise bad_request(
                    "thinking is enabled but reasoning_content is missing in assistant tool "
                    f"call message at index {i}")
        elif role == "user":
            _validate_parts(content, where, images=True)
        else:
            _validate_parts(content, where, images=False)
        if role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str):
                raise bad_request(f"Invalid request: {where}.tool_call_id is required")
            if call_id not in call_ids:
                raise bad_request(
                    f"Invalid request: tool_call_id {call_id} is not found in the tool_calls "
                    "of any previous assistant message"
                )
        if message.get("partial") is not None and (role != "assistant" or i != last):
            raise bad_request(
                "Invalid request: partial is only allowed on the last assistant message"
            )


def _validate_assistant(message: dict[str, Any], where: str, *, is_last: bool) -> list[str]:
    tool_calls = message.get("tool_calls")
    content = message.get("content")
    if content is None and not tool_calls and not is_last:
        raise bad_request(f"Invalid request: {where}.content is required without tool_calls")
    if content is not None:
        _validate_parts(content, where, images=False)
    if tool_calls is None:
        return []
    if not isinstance(tool_calls, list):
        raise bad_request(f"Invalid request: {where}.tool_calls must be an array")
    ids = []
    for j, call in enumerate(tool_calls):
        spot = f"{where}.tool_calls[{j}]"
        if not isinstance(call, dict) or not isinstance(call.get("id"), str):
            raise bad_request(f"Invalid request: {spot}.id is required")
        function = call.get("function")
        if call.get("type", "function") != "function" or not isinstance(function, dict):
            raise bad_request(f"Invalid request: {spot} must be a function call")
        if not isinstance(function.get("name"), str):
            raise bad_request(f"Invalid request: {spot}.function.name is required")
        if not isinstance(function.get("arguments"), str):
            raise bad_request(f"Invalid request: {spot}.function.arguments must be a string")
        ids.append(call["id"])
    return ids


def _validate_parts(content: Any, where: str, *, images: bool) -> None:
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise bad_request(f"Invalid request: {where}.content must be a string or an array")
    for k, part in enumerate(content):
        spot = f"{where}.content[{k}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if not isinstance(part.get("text"), str):
                raise bad_request(f"Invalid request: {spot}.text must be a string")
        elif kind == "image_url" and images:
            _validate_image(part.get("image_url"), spot)
        else:
            raise bad_request(f"Invalid request: {spot}.type {kind!r} is not supported here")


def _validate_image(image: Any, spot: str) -> None:
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str):
        raise bad_request(f"Invalid request: {spot}.image_url.url must be a string")
    if url.startswith(("http://", "https://")):
        # Moonshot's vision models do not download images: only inline data works.
        raise bad_request(
            f"Invalid request: {spot}: image url is not supported, use a base64 data url "
            "(data:image/png;base64,...)"
        )
    if not DATA_URL.match(url):
        raise bad_request(
            f"Invalid request: {spot}.image_url.url is not a valid base64 image data url"
        )


def _validate_tools(tools: Any, tool_choice: Any) -> None:
    names: set[str] = set()
    if tools is not None:
        if not isinstance(tools, list) or len(tools) > MAX_TOOLS:
            raise bad_request(f"Invalid request: tools must be an array of at most {MAX_TOOLS}")
        for i, tool in enumerate(tools):
            names.add(_validate_tool(tool, f"tools[{i}]"))
    if tool_choice is None or tool_choice in ("none", "auto"):
        return
    if tool_choice == "required":
        raise bad_request(
            "Invalid request: tool_choice 'required' is not supported, use 'auto' or 'none'"
        )
    function = tool_choice.get("function") if isinstance(tool_choice, dict) else None
    if (
        not isinstance(tool_choice, dict)
        or tool_choice.get("type") != "function"
        or not isinstance(function, dict)
        or not isinstance(function.get("name"), str)
    ):
        raise bad_request("Invalid request: tool_choice must be 'none', 'auto' or a function")
    if function["name"] not in names:
        raise bad_request(
            f"Invalid request: tool_choice names an unknown function {function['name']}"
        )


def _validate_tool(tool: Any, where: str) -> str:
    if not isinstance(tool, dict) or tool.get("type") not in ("function", "builtin_function"):
        raise bad_request(f"Invalid request: {where}.type must be function")
    function = tool.get("function")
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise bad_request(f"Invalid request: {where}.function.name is required")
    name: str = function["name"]
    if tool["type"] == "builtin_function":  # Moonshot's own tools, e.g. $web_search
        return name
    if not TOOL_NAME.match(name):
        raise bad_request(
            f"Invalid request: {where}.function.name {name!r} must start with a letter or "
            "underscore and contain only letters, digits, underscores and hyphens (max 64)"
        )
    parameters = function.get("parameters")
    if parameters is not None and (
        not isinstance(parameters, dict) or parameters.get("type") != "object"
    ):
        raise bad_request(f"Invalid request: {where}.function.parameters must be an object schema")
    return name
