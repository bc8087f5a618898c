"""Anthropic Messages request (the ``/v1/messages`` ingress) -> the hub's chat request.

The Messages surface's to-hub half, used for providers of the chat-completions wire
format (Kimi); the chat-completions adapter (``kimi.py``) then makes it Moonshot's
request. To Anthropic a Messages body goes as it is (``hub.py``, the native shortcut).

Decisions:
- ``thinking`` (``enabled``, ``adaptive`` or ``disabled``) is dropped: Moonshot's chat
  API has no switch for it (Kimi's thinking models think without being asked), and
  Anthropic's thinking blocks in assistant history are dropped: their signatures mean
  nothing to Moonshot; thinking blocks the gateway made from Kimi's reasoning
  (``reasoning.py``) become the turn's ``reasoning_content`` again;
- ``output_config.effort`` is dropped (Moonshot has no effort or reasoning-budget
  parameter); ``context_management`` is dropped: its ``clear_thinking`` edit is what
  the translation does anyway (no thinking goes back to Moonshot), and other edits
  (clearing old tool results) are not applied, so Kimi sees the whole conversation;
- ``cache_control`` markers are dropped (Moonshot caches prompt prefixes by itself),
  as are tool fields Moonshot has no use for (``defer_loading``...);
- ``system``-role turns inside ``messages`` (Claude Code's mid-conversation system
  turns) become ``system`` messages at the same place;
- assistant text blocks are joined as the text reads: a space between two blocks
  unless one already ends or starts with whitespace;
- a user turn left with nothing (only empty text) is a 400 naming it, not a dropped
  turn;
- ``mcp_servers``, ``container``, tool ``strict``, ``speed`` and ``inference_geo`` ask
  for what Moonshot cannot do: a 400 unless ``drop_params`` allows it (``params.py``);
- ``top_k`` is dropped (not part of the OpenAI wire format); ``output_config.format``
  (structured outputs) is a 400 rather than an answer that silently ignores the schema;
- a final assistant turn (Anthropic's prefill) becomes Moonshot's partial mode
  (``"partial": true``), which continues the text the same way;
- image ``url`` sources are a 400: Moonshot does not fetch URLs and the gateway never
  downloads; base64 sources become data URLs (the base64 text is not re-encoded);
- ``tool_result`` blocks become ``tool`` messages placed before the rest of their user
  turn; ``is_error`` results are prefixed with ``"Error: "``; a result's images (tool
  messages are text only) go into the user message after the tool messages, after a
  line ``Images from tool result <id>:``;
- tool ids are passed through ``from_safe_tool_id``, so ids the gateway made safe for
  Anthropic clients reach Moonshot as Moonshot wrote them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from . import _check as check
from .params import Unsupported
from .reasoning import is_gateway_thinking
from .tool_ids import from_safe_tool_id

ERROR_PREFIX = "Error: "

_PARAMS_SAMPLING = ("temperature", "top_p")


@dataclass(frozen=True, slots=True)
class MessagesTranslation:
    """What the response side needs to know about a translated Messages request."""

    stream: bool = False


def messages_to_chat_request(
    body: dict[str, Any], *, upstream_model: str, unsupported: Unsupported | None = None
) -> tuple[dict[str, Any], MessagesTranslation]:
    if not isinstance(body, dict):
        raise check.bad("body", "must be a JSON object")
    if body.get("max_tokens") == 0:
        # Anthropic's cache pre-warming; Moonshot has no equivalent (its own cache is
        # automatic), and a 400 lets routing fall back to a Claude candidate.
        raise check.bad("max_tokens", "must be at least 1 for this model (0, Anthropic's "
                        "prompt-cache pre-warming, has no Moonshot equivalent)")
    max_tokens = check.integer(body.get("max_tokens"), "max_tokens", minimum=1)
    messages = check.arr(body.get("messages"), "messages")
    if not messages:
        raise check.bad("messages", "must not be empty")
    unsupported = unsupported or Unsupported()
    _check_unservable(body, unsupported)

    out_messages: list[dict[str, Any]] = []
    system = body.get("system")
    if system is not None:
        text = _system_text(system)
        if text:
            out_messages.append({"role": "system", "content": text})
    for i, msg in enumerate(messages):
        p = f"messages[{i}]"
        check.obj(msg, p)
        role = msg.get("role")
        if role == "user":
            out_messages.extend(_user_messages(msg.get("content"), f"{p}.content"))
        elif role == "assistant":
            out_messages.extend(_assistant_messages(msg.get("content"), f"{p}.content"))
        elif role == "system":
            # A mid-conversation system turn (Claude Code sends them) stays in its place.
            text = _system_text(msg.get("content"), f"{p}.content")
            if text:
                out_messages.append({"role": "system", "content": text})
        else:
            raise check.bad(f"{p}.role", "must be 'user', 'assistant' or 'system' for this model")
    last = out_messages[-1] if out_messages else None
    if last is not None and last["role"] == "assistant" and "tool_calls" not in last:
        last["partial"] = True  # Anthropic prefill == Moonshot partial mode

    out: dict[str, Any] = {
        "model": upstream_model,
        "messages": out_messages,
        "max_tokens": max_tokens,
    }
    for name in _PARAMS_SAMPLING:
        value = body.get(name)
        if value is not None:
            out[name] = check.number(value, name)
    stop = body.get("stop_sequences")
    if stop is not None:
        sequences = check.arr(stop, "stop_sequences")
        for j, s in enumerate(sequences):
            check.string(s, f"stop_sequences[{j}]")
        if sequences:
            out["stop"] = sequences
    metadata = body.get("metadata")
    if metadata is not None:
        user = check.obj(metadata, "metadata").get("user_id")
        if user is not None and check.string(user, "metadata.user_id"):
            out["user"] = user
    output_config = body.get("output_config")
    if output_config is not None and check.obj(output_config, "output_config").get("format"):
        raise check.bad(
            "output_config.format", "(structured outputs) is not supported by this model"
        )

    stream = body.get("stream")
    streaming = bool(stream is not None and check.boolean(stream, "stream"))
    if streaming:
        out["stream"] = True  # the adapter asks for usage (Anthropic's message_delta has it)

    tools = body.get("tools")
    if tools is not None:
        converted = _tools(tools, unsupported)
        if converted:
            out["tools"] = converted
            _tool_choice(body.get("tool_choice"), out)
    elif body.get("tool_choice") is not None:
        check.obj(body["tool_choice"], "tool_choice")
    return out, MessagesTranslation(streaming)


def _check_unservable(body: dict[str, Any], unsupported: Unsupported) -> None:
    servers = body.get("mcp_servers")
    if servers is not None and check.arr(servers, "mcp_servers"):
        unsupported.refuse("mcp_servers", "MCP connectors are not available on this model")
    if body.get("container") is not None:
        unsupported.refuse("container", "code-execution containers are not available on "
                           "this model")
    speed = body.get("speed")
    if speed is not None and check.string(speed, "speed") != "standard":
        unsupported.refuse("speed", f"{speed!r} is not available on this model")
    geo = body.get("inference_geo")
    if geo is not None and check.string(geo, "inference_geo") != "global":
        unsupported.refuse("inference_geo", "this model cannot be pinned to a geography")


def _system_text(system: Any, p: str = "system") -> str:
    if isinstance(system, str):
        return system
    texts = []
    for j, block in enumerate(check.arr(system, p)):
        pj = f"{p}[{j}]"
        check.obj(block, pj)
        if block.get("type") != "text":
            raise check.bad(f"{pj}.type", "must be 'text'")
        texts.append(check.string(block.get("text"), f"{pj}.text"))
    return "\n".join(t for t in texts if t)


def _image_part(block: dict[str, Any], p: str) -> dict[str, Any]:
    source = check.obj(block.get("source"), f"{p}.source")
    stype = source.get("type")
    if stype == "base64":
        media = check.nonempty_string(source.get("media_type"), f"{p}.source.media_type")
        data = check.nonempty_string(source.get("data"), f"{p}.source.data")
        return {"type": "image_url", "image_url": {"url": f"data:{media};base64,{data}"}}
    if stype == "url":
        raise check.bad(
            f"{p}.source",
            "must be a base64 image for this model: Moonshot does not fetch image URLs "
            "and the gateway does not download them",
        )
    raise check.bad(f"{p}.source.type", "must be 'base64'")


def _user_messages(content: Any, p: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        if not content:
            raise _empty_turn(p)
        return [{"role": "user", "content": content}]
    out: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(check.arr(content, p)):
        pj = f"{p}[{j}]"
        check.obj(block, pj)
        btype = block.get("type")
        if btype == "text":
            text = check.string(block.get("text"), f"{pj}.text")
            if text:
                parts.append({"type": "text", "text": text})
        elif btype == "image":
            parts.append(_image_part(block, pj))
        elif btype == "tool_result":
            # OpenAI wants tool messages right after the assistant's tool calls; a
            # result's images follow in the user message (tool messages are text).
            message, images = _tool_message(block, pj)
            out.append(message)
            if images:
                parts.append({"type": "text", "text": f"Images from tool result {message['tool_call_id']}:"})
                parts.extend(images)
        else:
            raise check.bad(f"{pj}.type", "must be one of text, image, tool_result for this model")
    if parts:
        only_text = len(parts) == 1 and parts[0]["type"] == "text"
        out.append({"role": "user", "content": parts[0]["text"] if only_text else parts})
    if not out:
        raise _empty_turn(p)
    return out


def _empty_turn(p: str) -> BaseException:
    return check.bad(p, "holds no text, image or tool result (an empty text is no "
                     "message): remove the turn or give it content")


def _tool_message(
    block: dict[str, Any], p: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A ``tool`` message with the result's text, and the result's images as parts."""
    tool_use_id = check.nonempty_string(block.get("tool_use_id"), f"{p}.tool_use_id")
    content = block.get("content")
    images: list[dict[str, Any]] = []
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    else:
        texts = []
        for k, part in enumerate(check.arr(content, f"{p}.content")):
            pk = f"{p}.content[{k}]"
            check.obj(part, pk)
            ptype = part.get("type")
            if ptype == "text":
                texts.append(check.string(part.get("text"), f"{pk}.text"))
            elif ptype == "image":
                images.append(_image_part(part, pk))
            else:
                raise check.bad(
                    f"{pk}.type", "must be 'text' or 'image': tool results for this model "
                    "hold text and images only"
                )
        text = "\n".join(texts)
    if not text and images:
        text = f"[{len(images)} image{'s' if len(images) > 1 else ''}, in the next user message]"
    is_error = block.get("is_error")
    if is_error is not None and check.boolean(is_error, f"{p}.is_error"):
        text = ERROR_PREFIX + text
    return {"role": "tool", "tool_call_id": from_safe_tool_id(tool_use_id), "content": text}, images


def _assistant_messages(content: Any, p: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"role": "assistant", "content": content}] if content else []
    texts: list[str] = []
    reasoning: list[str] = []
    calls: list[dict[str, Any]] = []
    for j, block in enumerate(check.arr(content, p)):
        pj = f"{p}[{j}]"
        check.obj(block, pj)
        btype = block.get("type")
        if btype == "text":
            texts.append(check.string(block.get("text"), f"{pj}.text"))
        elif btype == "tool_use":
            tool_id = check.nonempty_string(block.get("id"), f"{pj}.id")
            name = check.nonempty_string(block.get("name"), f"{pj}.name")
            args = check.obj(block.get("input"), f"{pj}.input")
            calls.append(
                {
                    "id": from_safe_tool_id(tool_id),
                    "type": "function",
                    "function": {"name": name, "arguments": orjson.dumps(args).decode()},
                }
            )
        elif is_gateway_thinking(block):
            reasoning.append(block["thinking"])
        elif btype in ("thinking", "redacted_thinking"):
            continue  # signed for Anthropic only; see the module docstring
        else:
            raise check.bad(f"{pj}.type", "must be one of text, tool_use, thinking for this model")
    text = join_texts(texts)
    if not text and not calls:
        return []
    # Moonshot's own responses carry "" beside tool calls, so "" is what it accepts back.
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    if calls:
        message["tool_calls"] = calls
    return [message]


def join_texts(texts: list[str]) -> str:
    """Text blocks as one text that reads as they do: ``["Let me", "check."]`` ->
    ``"Let me check."``; blocks that already end or start with whitespace get nothing."""
    out: list[str] = []
    for text in texts:
        if not text:
            continue
        if out and not out[-1][-1:].isspace() and not text[:1].isspace():
            out.append(" ")
        out.append(text)
    return "".join(out)


def _tools(tools: Any, unsupported: Unsupported) -> list[dict[str, Any]]:
    out = []
    for i, tool in enumerate(check.arr(tools, "tools")):
        p = f"tools[{i}]"
        check.obj(tool, p)
        if tool.get("type") not in (None, "custom"):
            raise check.bad(
                f"{p}.type", f"{tool.get('type')!r}: server tools are not supported by this model"
            )
        fn: dict[str, Any] = {"name": check.nonempty_string(tool.get("name"), f"{p}.name")}
        description = tool.get("description")
        if description is not None and check.string(description, f"{p}.description"):
            fn["description"] = description
        fn["parameters"] = check.obj(tool.get("input_schema"), f"{p}.input_schema")
        strict = tool.get("strict")
        if strict is not None and check.boolean(strict, f"{p}.strict"):
            unsupported.refuse(f"{p}.strict", "strict tool schemas are not enforced by this "
                               "model", name="strict")
        out.append({"type": "function", "function": fn})
    return out


def _tool_choice(choice: Any, out: dict[str, Any]) -> None:
    if choice is None:
        return
    check.obj(choice, "tool_choice")
    ctype = choice.get("type")
    if ctype == "auto":
        out["tool_choice"] = "auto"
    elif ctype == "any":
        out["tool_choice"] = "required"
    elif ctype == "none":
        out["tool_choice"] = "none"
    elif ctype == "tool":
        name = check.nonempty_string(choice.get("name"), "tool_choice.name")
        if not any(t["function"]["name"] == name for t in out["tools"]):
            raise check.bad("tool_choice.name", f"names {name!r}, which is not in tools")
        out["tool_choice"] = {"type": "function", "function": {"name": name}}
    else:
        raise check.bad("tool_choice.type", "must be one of auto, any, tool, none")
    disable = choice.get("disable_parallel_tool_use")
    if disable is not None and check.boolean(disable, "tool_choice.disable_parallel_tool_use"):
        out["parallel_tool_calls"] = False
