"""OpenAI Responses request -> the hub's chat-completions request (``hub.py``).

The Responses surface's to-hub half; from the hub the wire-format adapters reach Kimi
and Claude, and the answer comes back in ``responses_response.py`` /
``responses_stream.py``.

Decisions (each documented in the README's Responses section):
- ``instructions`` and ``system``/``developer`` messages become system messages;
- ``function`` tools map one to one; a ``custom`` tool (free-form text input, Codex's
  ``apply_patch``) becomes a function taking ``{"input": string}`` whose calls come
  back as ``custom_tool_call`` items; a ``namespace`` is flattened into functions
  named ``<namespace>__<name>``. Every name sent upstream matches
  ``^[a-zA-Z0-9_-]{1,64}$`` (Anthropic's rule, 64 being the chat translator's own
  bound), a reversible mapping being kept in :class:`ToolNames`;
- hosted tools (``web_search``, ``file_search``, ``code_interpreter``, ``computer*``,
  ``image_generation``, ``mcp``, ``local_shell``...) are dropped, on both providers,
  and named in the ``x-gateway-dropped-tools`` response header (Codex always sends
  ``web_search``, so refusing would break it);
- ``reasoning`` input items open the assistant turn that follows: with an
  ``encrypted_content`` the gateway made, as the signed thinking block it stands for
  (the hub's ``thinking_blocks``: Claude's go back to Claude as they came; Kimi gets
  their text as ``reasoning_content``); without one, their summary (which
  the gateway fills with the whole reasoning text) becomes ``reasoning_content``,
  which Moonshot's thinking models want back on tool-call turns and Claude never
  sees. Another provider's ``encrypted_content`` is ignored. ``reasoning.effort``
  becomes chat's ``reasoning_effort`` (on Claude, extended thinking: ``thinking.py``);
  ``include: ["reasoning.encrypted_content"]`` asks for the sealed blocks back;
- ``text.format`` becomes ``response_format``; ``max_output_tokens`` becomes
  ``max_completion_tokens`` (capped at the model's limit by the chat translators);
- ``item_reference`` items must have been resolved from the store before (see
  ``gateway/surfaces/responses.py``); one left here is a 400.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from . import _check as check
from .reasoning import unseal

HOSTED_TOOLS = frozenset({
    "web_search", "web_search_preview", "web_search_preview_2025_03_11", "web_search_2025_08_26",
    "file_search", "code_interpreter", "computer", "computer_use", "computer_use_preview",
    "image_generation", "mcp", "local_shell", "shell", "apply_patch", "tool_search"})
_NAME_OK = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_NAME_BAD_CHARS = re.compile(r"[^a-zA-Z0-9_-]")
CUSTOM_INPUT = "input"
_CUSTOM_PARAMS = {"type": "object", "properties": {CUSTOM_INPUT: {"type": "string"}},
                  "required": [CUSTOM_INPUT], "additionalProperties": False}


@dataclass(frozen=True, slots=True)
class ToolRef:
    """What a provider-side function name stands for."""

    name: str
    kind: str = "function"  # "function" | "custom"
    namespace: str | None = None


@dataclass(slots=True)
class ToolNames:
    """The reversible mapping between Responses tool names and upstream names."""

    by_upstream: dict[str, ToolRef] = field(default_factory=dict)
    by_client: dict[tuple[str | None, str], str] = field(default_factory=dict)

    def add(self, ref: ToolRef) -> str:
        key = (ref.namespace, ref.name)
        if key in self.by_client:
            return self.by_client[key]
        wanted = f"{ref.namespace}__{ref.name}" if ref.namespace else ref.name
        name = wanted
        if not _NAME_OK.fullmatch(name) or name in self.by_upstream:
            digest = hashlib.sha256(wanted.encode("utf-8", "surrogatepass")).hexdigest()[:8]
            name = f"{_NAME_BAD_CHARS.sub('_', wanted)[:55]}_{digest}"
        self.by_upstream[name] = ref
        self.by_client[key] = name
        return name

    def upstream(self, name: str, namespace: str | None = None) -> str:
        return self.by_client.get((namespace, name)) or self.add(ToolRef(name, "function",
                                                                          namespace))

    def ref(self, upstream_name: str) -> ToolRef:
        return self.by_upstream.get(upstream_name) or ToolRef(upstream_name)


@dataclass(slots=True)
class ResponsesTranslation:
    """What the answer's translation needs to know about the request."""

    names: ToolNames
    dropped_tools: list[str]
    sealed: bool = False  # include asks for reasoning.encrypted_content


def _tool_function(t: dict[str, Any], p: str, names: ToolNames,
                   namespace: str | None = None) -> dict[str, Any]:
    kind = t.get("type")
    tname = check.nonempty_string(t.get("name"), f"{p}.name")
    desc = t.get("description")
    if kind == "custom":
        fmt = t.get("format")
        extra = ""
        if isinstance(fmt, dict) and fmt.get("type") == "grammar":
            extra = (f"\n\nThe input is free-form text following this {fmt.get('syntax')} "
                     f"grammar:\n{fmt.get('definition', '')}")
        fn: dict[str, Any] = {
            "name": names.add(ToolRef(tname, "custom", namespace)),
            "description": ((desc or "") + extra +
                            f"\n\nPut the whole input, as text, in the '{CUSTOM_INPUT}' field.").strip(),
            "parameters": _CUSTOM_PARAMS}
        return {"type": "function", "function": fn}
    fn = {"name": names.add(ToolRef(tname, "function", namespace))}
    if isinstance(desc, str):
        fn["description"] = desc
    params = t.get("parameters")
    fn["parameters"] = params if isinstance(params, dict) else {"type": "object", "properties": {}}
    if t.get("strict") is not None:
        fn["strict"] = check.boolean(t["strict"], f"{p}.strict")
    return {"type": "function", "function": fn}


def convert_tools(tools: Any, names: ToolNames) -> tuple[list[dict[str, Any]], list[str]]:
    """(chat tools, names of the hosted tools dropped)."""
    out: list[dict[str, Any]] = []
    dropped: list[str] = []
    for i, t in enumerate(check.arr(tools, "tools")):
        p = f"tools[{i}]"
        t = check.obj(t, p)
        kind = t.get("type")
        if kind in ("function", "custom"):
            out.append(_tool_function(t, p, names))
        elif kind == "namespace":
            ns = check.nonempty_string(t.get("name"), f"{p}.name")
            for j, inner in enumerate(check.arr(t.get("tools"), f"{p}.tools")):
                q = f"{p}.tools[{j}]"
                inner = check.obj(inner, q)
                if inner.get("type") not in ("function", "custom"):
                    raise check.bad(f"{q}.type", "must be 'function' or 'custom' in a namespace")
                out.append(_tool_function(inner, q, names, ns))
        elif isinstance(kind, str) and kind in HOSTED_TOOLS:
            dropped.append(kind)
        else:
            raise check.bad(f"{p}.type", f"{kind!r} is not a tool type this gateway supports "
                            "(function, custom, namespace; hosted tools are dropped)")
    return out, dropped


def _tool_choice(choice: Any, names: ToolNames, tools: list[dict[str, Any]]
                 ) -> tuple[Any, list[dict[str, Any]]]:
    if choice is None or choice in ("auto", "none", "required"):
        return choice, tools
    c = check.obj(choice, "tool_choice")
    kind = c.get("type")
    if kind in ("function", "custom"):
        name = check.nonempty_string(c.get("name"), "tool_choice.name")
        ref = ToolRef(name, kind, c.get("namespace") if isinstance(c.get("namespace"), str) else None)
        up = names.by_client.get((ref.namespace, ref.name)) or next(
            (v for (_, n), v in names.by_client.items() if n == name), None)
        if up is None:
            raise check.bad("tool_choice.name", f"names {name!r}, which is not among the tools")
        return {"type": "function", "function": {"name": up}}, tools
    if kind == "allowed_tools":
        allowed: set[str] = set()
        for i, t in enumerate(check.arr(c.get("tools"), "tool_choice.tools")):
            t = check.obj(t, f"tool_choice.tools[{i}]")
            if isinstance(t.get("name"), str):
                up = names.by_client.get((None, t["name"]))
                if up is not None:
                    allowed.add(up)
        mode = c.get("mode", "auto")
        if mode not in ("auto", "required"):
            raise check.bad("tool_choice.mode", "must be 'auto' or 'required'")
        return mode, [t for t in tools if t["function"]["name"] in allowed]
    if isinstance(kind, str) and kind in HOSTED_TOOLS:
        return "auto", tools  # the hosted tool itself was dropped
    raise check.bad("tool_choice.type", f"{kind!r} is not supported "
                    "(auto, none, required, function, custom, allowed_tools)")


def _part(part: Any, p: str, role: str) -> dict[str, Any]:
    part = check.obj(part, p)
    kind = part.get("type")
    if kind in ("input_text", "output_text", "text", "summary_text", "reasoning_text"):
        return {"type": "text", "text": check.string(part.get("text"), f"{p}.text")}
    if kind == "refusal":
        return {"type": "text", "text": check.string(part.get("refusal"), f"{p}.refusal")}
    if kind == "input_image":
        url = part.get("image_url")
        if not isinstance(url, str) or not url:
            raise check.bad(f"{p}.image_url", "must be a URL or data URL (file_id is not supported)")
        img: dict[str, Any] = {"url": url}
        if part.get("detail") in ("low", "high", "auto"):
            img["detail"] = part["detail"]
        return {"type": "image_url", "image_url": img}
    if kind == "input_file":
        data = part.get("file_data")
        if not isinstance(data, str) or not data:
            raise check.bad(f"{p}.file_data", "must be a base64 data URL (file_id and "
                            "file_url are not supported)")
        f: dict[str, Any] = {"file_data": data}
        if isinstance(part.get("filename"), str):
            f["filename"] = part["filename"]
        return {"type": "file", "file": f}
    raise check.bad(f"{p}.type", f"{kind!r} is not a content part type for role {role!r}")


def _content(content: Any, p: str, role: str) -> Any:
    if isinstance(content, str):
        return content
    parts = [_part(x, f"{p}[{i}]", role) for i, x in enumerate(check.arr(content, p))]
    if role in ("system", "assistant") and all(x["type"] == "text" for x in parts):
        return "".join(x["text"] for x in parts) if role == "assistant" else \
            "\n\n".join(x["text"] for x in parts)
    return parts


def _output_text(output: Any, p: str) -> Any:
    """A tool output: a string, or parts (text and images). Text parts are joined with a
    newline, as the Messages translator joins a tool result's blocks: glued together, an
    address at the end of one part and a word at the start of the next read as one."""
    if isinstance(output, str):
        return output
    parts = [_part(x, f"{p}[{i}]", "tool") for i, x in enumerate(check.arr(output, p))]
    if all(x["type"] == "text" for x in parts):
        return "\n".join(x["text"] for x in parts)
    return parts


class _Messages:
    """Builds chat messages, folding assistant text and tool calls into one turn."""

    def __init__(self) -> None:
        self.out: list[dict[str, Any]] = []
        # Reasoning items waiting for their assistant turn: texts, and signed blocks.
        self.thought: list[str] = []
        self.blocks: list[dict[str, Any]] = []

    def _new_assistant(self) -> dict[str, Any]:
        turn: dict[str, Any] = {"role": "assistant", "content": None}
        if self.thought:
            turn["reasoning_content"] = "\n\n".join(self.thought)
            self.thought = []
        if self.blocks:
            turn["thinking_blocks"] = self.blocks
            self.blocks = []
        self.out.append(turn)
        return turn

    def _assistant(self) -> dict[str, Any]:
        last = self.out[-1] if self.out else None
        if last is None or last["role"] != "assistant" or self.thought or self.blocks:
            last = self._new_assistant()
        return last

    def reasoning(self, item: dict[str, Any], p: str) -> None:
        parts = [*(item.get("summary") or ()), *(item.get("content") or ())]
        text = "".join(x["text"] for x in parts if isinstance(x, dict)
                       and isinstance(x.get("text"), str))
        sealed = item.get("encrypted_content")
        block = None
        if sealed is not None:
            block = unseal(check.string(sealed, f"{p}.encrypted_content"), text,
                           f"{p}.encrypted_content")
        if block is not None:
            self.blocks.append(block)
        elif text:
            self.thought.append(text)

    def message(self, role: str, content: Any) -> None:
        if role == "assistant":
            turn = self._assistant()
            if turn.get("tool_calls"):  # text after calls starts a new turn
                turn = self._new_assistant()
            text = content if isinstance(content, str) else "".join(
                x.get("text", "") for x in content)
            turn["content"] = (turn["content"] or "") + text
            return
        self.out.append({"role": "system" if role == "developer" else role, "content": content})

    def call(self, call_id: str, name: str, arguments: str) -> None:
        turn = self._assistant()
        turn.setdefault("tool_calls", []).append(
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}})

    def output(self, call_id: str, content: Any) -> None:
        self.out.append({"role": "tool", "tool_call_id": call_id, "content": content})


def convert_input(body: dict[str, Any], names: ToolNames) -> list[dict[str, Any]]:
    msgs = _Messages()
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        msgs.message("system", instructions)
    elif instructions is not None and not isinstance(instructions, str):
        raise check.bad("instructions", "must be a string")
    inp = body.get("input")
    if isinstance(inp, str):
        msgs.message("user", inp)
        return msgs.out
    for i, item in enumerate(check.arr(inp, "input")):
        p = f"input[{i}]"
        item = check.obj(item, p)
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "assistant", "system", "developer"):
                raise check.bad(f"{p}.role", "must be one of user, assistant, system, developer")
            msgs.message(role, _content(item.get("content"), f"{p}.content", role))
        elif kind in ("function_call", "custom_tool_call"):
            call_id = check.nonempty_string(item.get("call_id"), f"{p}.call_id")
            name = check.nonempty_string(item.get("name"), f"{p}.name")
            ns = item.get("namespace") if isinstance(item.get("namespace"), str) else None
            if kind == "function_call":
                args = check.string(item.get("arguments"), f"{p}.arguments")
                msgs.call(call_id, names.upstream(name, ns), args)
            else:
                text = check.string(item.get("input"), f"{p}.input")
                up = names.by_client.get((ns, name)) or names.add(ToolRef(name, "custom", ns))
                msgs.call(call_id, up, orjson.dumps({CUSTOM_INPUT: text}).decode())
        elif kind in ("function_call_output", "custom_tool_call_output"):
            call_id = check.nonempty_string(item.get("call_id"), f"{p}.call_id")
            msgs.output(call_id, _output_text(item.get("output"), f"{p}.output"))
        elif kind == "reasoning":
            msgs.reasoning(item, p)  # see the module docstring
        elif kind == "item_reference":
            raise check.bad(f"{p}.id", "references an item that is not stored (store: true "
                            "responses of this key only)")
        else:
            raise check.bad(f"{p}.type", f"{kind!r} is not an input item type this gateway "
                            "supports")
    return msgs.out


_TEXT_FORMATS = ("text", "json_object", "json_schema")


def _response_format(text: Any) -> dict[str, Any] | None:
    if text is None:
        return None
    fmt = check.obj(text, "text").get("format")
    if fmt is None:
        return None
    fmt = check.obj(fmt, "text.format")
    kind = fmt.get("type")
    if kind not in _TEXT_FORMATS:
        raise check.bad("text.format.type", "must be one of text, json_object, json_schema")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    schema = {"name": check.nonempty_string(fmt.get("name"), "text.format.name"),
              "schema": check.obj(fmt.get("schema"), "text.format.schema")}
    for key in ("strict", "description"):
        if fmt.get(key) is not None:
            schema[key] = fmt[key]
    return {"type": "json_schema", "json_schema": schema}


_UNBUILT = ("background", "conversation")
_EFFORTS = ("low", "medium", "high")


def responses_to_chat_request(body: dict[str, Any]) -> tuple[dict[str, Any], ResponsesTranslation]:
    """The chat-completions body for ``body`` (already expanded with any stored history)."""
    for key in _UNBUILT:
        if body.get(key):
            raise check.bad(key, "is not supported by this gateway")
    names = ToolNames()
    chat: dict[str, Any] = {"model": body.get("model")}
    tools, dropped = convert_tools(body.get("tools") or [], names)
    chat["messages"] = convert_input(body, names)
    choice, tools = _tool_choice(body.get("tool_choice"), names, tools)
    if tools:
        chat["tools"] = tools
        if choice is not None:
            chat["tool_choice"] = choice
        if body.get("parallel_tool_calls") is not None:
            chat["parallel_tool_calls"] = check.boolean(body["parallel_tool_calls"],
                                                        "parallel_tool_calls")
    for src, dst in (("temperature", "temperature"), ("top_p", "top_p"),
                     ("max_output_tokens", "max_completion_tokens"), ("user", "user")):
        if body.get(src) is not None:
            chat[dst] = body[src]
    if chat.get("user") is None and isinstance(body.get("safety_identifier"), str):
        chat["user"] = body["safety_identifier"]
    fmt = _response_format(body.get("text"))
    if fmt is not None:
        chat["response_format"] = fmt
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and reasoning.get("effort") in _EFFORTS:
        chat["reasoning_effort"] = reasoning["effort"]
    if body.get("stream") is True:
        chat["stream"] = True
    include = body.get("include")
    sealed = isinstance(include, list) and "reasoning.encrypted_content" in include
    return chat, ResponsesTranslation(names, dropped, sealed)
