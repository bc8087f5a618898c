"""Request bodies with PII planted in one field each, for every field of both request
schemas as the official SDKs type them (issue 17: a policy cannot be walked around).

Fields are enumerated from the SDKs' TypedDicts: the request parameters, every message
role and every content part / block type. Each field gets three shapes (a string, a list
of strings, an object with a known and an unknown key), since the annotation alone does
not say which one the gateway will accept; a shape the gateway refuses is not forwarded,
which satisfies the rule as well as scanning does. Hand-written cases add the fields the
issue reproduced (Moonshot's ``reasoning_content``, image ``detail``, ``prediction``,
unknown keys in content parts, obfuscated text).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import anthropic.types as at
import openai.types.chat as oc
from anthropic.types import message_create_params as anthropic_params
from openai.types.chat import completion_create_params as openai_params

PII = "ann.lee@example.com"
ZH = "请用两句话总结一下印刷术的历史，并说明它对欧洲的影响。"


def shapes(field: str) -> list[Any]:
    return [PII, [PII], {"type": "text", "text": PII, "content": PII, "x_note": PII, field: PII}]


def _fields(td: type) -> list[str]:
    names: list[str] = []
    for klass in reversed(td.__mro__):
        names += [n for n in getattr(klass, "__annotations__", {}) if n not in names]
    return names


# --- OpenAI Chat Completions ---------------------------------------------------------

OPENAI_ROLES = {  # role -> (TypedDict, base message)
    "system": (oc.ChatCompletionSystemMessageParam, {"role": "system", "content": "你是助手。"}),
    "developer": (oc.ChatCompletionDeveloperMessageParam, {"role": "developer", "content": "简洁。"}),
    "user": (oc.ChatCompletionUserMessageParam, {"role": "user", "content": ZH}),
    "assistant": (oc.ChatCompletionAssistantMessageParam, {
        "role": "assistant", "content": "好的。", "tool_calls": [{
            "id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]}),
    "tool": (oc.ChatCompletionToolMessageParam, {"role": "tool", "tool_call_id": "c1", "content": "结果"}),
    "function": (oc.ChatCompletionFunctionMessageParam, {"role": "function", "name": "lookup",
                                                          "content": "结果"}),
}
OPENAI_PARTS = {  # part type -> (TypedDict, base part)
    "text": (oc.ChatCompletionContentPartTextParam, {"type": "text", "text": ZH}),
    "image_url": (oc.ChatCompletionContentPartImageParam,
                  {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}),
    "input_audio": (oc.ChatCompletionContentPartInputAudioParam,
                    {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}),
    "file": (oc.chat_completion_content_part_param.File,
             {"type": "file", "file": {"file_id": "file-1"}}),
    "refusal": (oc.ChatCompletionContentPartRefusalParam, {"type": "refusal", "refusal": "不行"}),
}


def openai_base() -> dict[str, Any]:
    return {"model": "auto", "max_tokens": 50, "messages": [
        copy.deepcopy(OPENAI_ROLES["system"][1]), {"role": "user", "content": ZH},
        copy.deepcopy(OPENAI_ROLES["assistant"][1]), copy.deepcopy(OPENAI_ROLES["tool"][1]),
        {"role": "user", "content": ZH}]}


def _top_level(params: type, base: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    for field in _fields(params):
        if field != "messages":
            for value in shapes(field):
                yield field, {**base(), field: value}


def openai_planted() -> Iterator[tuple[str, dict[str, Any]]]:
    """(field, body) for every field of the Chat Completions request the SDK types."""
    yield from _top_level(openai_params.CompletionCreateParamsBase, openai_base)
    for role, (td, base) in OPENAI_ROLES.items():
        for field in _fields(td):
            if field == "role":
                continue
            for value in shapes(field):
                body = openai_base()
                body["messages"].insert(-1, {**copy.deepcopy(base), field: value})
                yield f"messages[{role}].{field}", body
    for kind, (td, base) in OPENAI_PARTS.items():
        for field in [*_fields(td), "x_unknown"]:
            if field == "type":
                continue
            for value in shapes(field):
                body = openai_base()
                body["messages"][-1]["content"] = [{"type": "text", "text": ZH},
                                                   {**copy.deepcopy(base), field: value}]
                yield f"messages[user].content[{kind}].{field}", body
    # The reproductions and Moonshot's own assistant field.
    extra = {
        "stop": ["x", PII], "user": PII, "prediction": {"type": "content", "content": PII},
        "metadata": {"note": PII},
    }
    for field, value in extra.items():
        yield f"{field} (as reproduced)", {**openai_base(), field: value}
    body = openai_base()
    body["messages"][2]["reasoning_content"] = "card 4111 1111 1111 1111, " + PII
    yield "messages[assistant].reasoning_content", body
    body = openai_base()
    body["messages"][-1]["content"] = [{"type": "text", "text": ZH}, {
        "type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": PII}}]
    yield "image_url.detail", body


def openai_obfuscated() -> Iterator[tuple[str, dict[str, Any]]]:
    for name, text in OBFUSCATED.items():
        body = openai_base()
        body["messages"][-1]["content"] = f"{ZH} {text}"
        yield name, body


OBFUSCATED = {
    "full-width @": "ann.lee＠example.com",
    "full-width digits": "卡号 ４１１１ １１１１ １１１１ １１１１",
    "zero-width in email": "ann.lee@exa\u200bmple.com",
    "zero-width in number": "卡号 4111\u200b1111\u200b1111\u200b1111",
    "soft hyphen in email": "ann.lee@exam\u00adple.com",
}

# --- Anthropic Messages --------------------------------------------------------------

ANTHROPIC_BLOCKS = {  # block type -> (TypedDict, base block)
    "text": (at.TextBlockParam, {"type": "text", "text": ZH}),
    "image": (at.ImageBlockParam, {"type": "image", "source": {
        "type": "url", "url": "https://example.com/a.png"}}),
    "document": (at.DocumentBlockParam, {"type": "document", "source": {
        "type": "text", "media_type": "text/plain", "data": ZH}}),
    "tool_use": (at.ToolUseBlockParam, {"type": "tool_use", "id": "tu1", "name": "lookup", "input": {}}),
    "tool_result": (at.ToolResultBlockParam, {"type": "tool_result", "tool_use_id": "tu1", "content": "结果"}),
    "thinking": (at.ThinkingBlockParam, {"type": "thinking", "thinking": "想", "signature": "c2ln"}),
    "redacted_thinking": (at.RedactedThinkingBlockParam, {"type": "redacted_thinking", "data": "ZGF0YQ=="}),
    "search_result": (at.SearchResultBlockParam, {"type": "search_result", "source": "https://a.example",
                                                  "title": "标题", "content": [{"type": "text", "text": ZH}]}),
}
_ASSISTANT_BLOCKS = {"tool_use", "thinking", "redacted_thinking"}


def anthropic_base() -> dict[str, Any]:
    return {"model": "auto", "max_tokens": 50, "messages": [{"role": "user", "content": ZH}]}


def anthropic_planted() -> Iterator[tuple[str, dict[str, Any]]]:
    """(field, body) for every field of the Messages request the SDK types."""
    yield from _top_level(anthropic_params.MessageCreateParamsBase, anthropic_base)
    for kind, (td, base) in ANTHROPIC_BLOCKS.items():
        for field in [*_fields(td), "x_unknown"]:
            if field == "type":
                continue
            for value in shapes(field):
                block = {**copy.deepcopy(base), field: value}
                body = anthropic_base()
                if kind in _ASSISTANT_BLOCKS:
                    body["messages"] = [{"role": "user", "content": ZH},
                                        {"role": "assistant", "content": [block]},
                                        {"role": "user", "content": ZH}]
                else:
                    body["messages"][0]["content"] = [{"type": "text", "text": ZH}, block]
                yield f"messages.content[{kind}].{field}", body
    extra = {"stop_sequences": ["x", PII], "metadata": {"user_id": PII}, "system": PII}
    for field, value in extra.items():
        yield f"{field} (as reproduced)", {**anthropic_base(), field: value}
