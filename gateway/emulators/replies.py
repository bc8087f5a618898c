"""Deterministic replies and token estimates shared by both emulators.

Each emulator reduces its request to a ``Prompt`` (a wire-neutral summary) and renders
the ``Reply`` in its own format, so the same conversation gets the same answer and the
same token counts from Moonshot and from Anthropic, whichever way a gateway translated
it. The rules, in order:

1. the last user turn carries tool results -> "Tool result: <result>" (one line each);
2. tools are offered and the choice forces one, or (auto) tool names appear in the last
   user text -> calls to those tools (all of them, in order of appearance, unless
   parallel calls are disabled), arguments built from each tool's JSON schema;
   with ``eager_tools`` (demo mode) an auto or required choice with no tool named calls
   the tool whose name and description share the most words with the user's text
   (the first tool when none does), so an agent can run a tool round trip against the
   demo; text in backticks in the user's words fills the call's first string argument.
   The user's words leave out ``<system-reminder>`` blocks (``agent_text``): Claude
   Code's name all its tools, and a turn of reminders alone asks for none;
3. otherwise "Echo: <last user text, first 200 chars>" plus " [N images]" when the
   request carried images (JSON when the request asked for JSON output).

Stop sequences cut the text (stop_reason ``stop_sequence``); ``max_tokens`` keeps that
many words (stop_reason ``max_tokens``). Tokens are estimated as characters / 4.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from ..agent_text import user_words

IMAGE_TOKENS = 85  # a flat cost per image (OpenAI's low-detail price), the same in both
ECHO_CHARS = 200
# Neutral stop reasons; the names are Anthropic's, Moonshot maps them to finish_reason.
StopReason = Literal["end_turn", "tool_use", "stop_sequence", "max_tokens"]
ToolMode = Literal["auto", "none", "any", "tool"]


def estimate_tokens(chars: int) -> int:
    return max(1, (chars + 3) // 4)


class TokenMeter:
    """Adds up the text and images of a request into an input-token estimate."""

    def __init__(self) -> None:
        self.chars = 0
        self.images = 0

    def add(self, text: str) -> None:
        self.chars += len(text)

    def add_json(self, value: Any) -> None:
        # Compact, key order kept: the form both emulators see after any translation.
        self.chars += len(orjson.dumps(value))

    def add_image(self) -> None:
        self.images += 1

    @property
    def tokens(self) -> int:
        return estimate_tokens(self.chars) + IMAGE_TOKENS * self.images


@dataclass(frozen=True)
class ToolSpec:
    name: str
    schema: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True)
class Prompt:
    last_user_text: str = ""
    tool_results: tuple[str, ...] = ()  # results in the last user turn, in order
    image_count: int = 0
    tools: tuple[ToolSpec, ...] = ()
    tool_mode: ToolMode = "auto"
    forced_tool: str | None = None  # with tool_mode "tool"
    parallel: bool = True
    stop: tuple[str, ...] = ()
    max_tokens: int | None = None
    json_schema: Mapping[str, Any] | None = None  # structured output requested
    json_mode: bool = False  # any JSON object requested
    thinking: bool = False
    text_override: str | None = None


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: Mapping[str, Any]

    @property
    def arguments_json(self) -> str:
        return orjson.dumps(self.arguments).decode()


@dataclass(frozen=True)
class Reply:
    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    stop_reason: StopReason = "end_turn"
    stop_sequence: str | None = None
    thinking: str | None = None
    output_tokens: int = 1


def generate_reply(prompt: Prompt, *, eager_tools: bool = False) -> Reply:
    thinking = f"Thinking about: {prompt.last_user_text[:100]}" if prompt.thinking else None
    if prompt.max_tokens == 0:
        # Anthropic allows max_tokens 0 to warm the prompt cache: nothing is generated.
        return Reply("", stop_reason="max_tokens", output_tokens=0)
    calls = () if prompt.tool_results else _tool_calls(prompt, eager_tools)
    if calls:
        # Claude writes a line before an unforced call; a forced choice prefills the
        # turn so the call comes first (and OpenAI's forced calls carry no content).
        names = ", ".join(c.name for c in calls)
        text = f"Calling {names}." if prompt.tool_mode == "auto" else ""
        used = text + "".join(c.arguments_json for c in calls) + (thinking or "")
        return Reply(text, calls, "tool_use", None, thinking, estimate_tokens(len(used)))
    text = _text(prompt)
    stop_reason: StopReason = "end_turn"
    stop_sequence = None
    cut = _first_stop(text, prompt.stop)
    if cut is not None:
        text, stop_sequence = text[: cut[0]], cut[1]
        stop_reason = "stop_sequence"
    output_tokens = estimate_tokens(len(text) + len(thinking or ""))
    if prompt.max_tokens is not None:
        words = split_words(text)
        if len(words) > prompt.max_tokens:
            text = "".join(words[: prompt.max_tokens]).rstrip()
            stop_reason, stop_sequence = "max_tokens", None
        output_tokens = min(output_tokens, prompt.max_tokens)
    return Reply(text, (), stop_reason, stop_sequence, thinking, output_tokens)


def _text(prompt: Prompt) -> str:
    if prompt.text_override is not None:
        return prompt.text_override
    if prompt.tool_results:
        return "\n".join(f"Tool result: {r[:ECHO_CHARS]}" for r in prompt.tool_results)
    echo = prompt.last_user_text[:ECHO_CHARS]
    if prompt.json_schema is not None:
        return orjson.dumps(example_from_schema(prompt.json_schema)).decode()
    if prompt.json_mode:
        return orjson.dumps({"echo": echo, "images": prompt.image_count}).decode()
    if prompt.image_count:
        plural = "image" if prompt.image_count == 1 else "images"
        return f"Echo: {echo} [{prompt.image_count} {plural}]"
    return f"Echo: {echo}"


def _tool_calls(prompt: Prompt, eager: bool = False) -> tuple[ToolCall, ...]:
    if not prompt.tools or prompt.tool_mode == "none":
        return ()
    by_name = {t.name: t for t in prompt.tools}
    # The user's own words: an agent's reminders name every tool it has.
    text = user_words(prompt.last_user_text)
    if prompt.tool_mode == "tool" and prompt.forced_tool in by_name:
        chosen = [by_name[prompt.forced_tool]]
    else:
        chosen = mentioned_tools(text, prompt.tools)
        if not chosen and eager and text:
            chosen = [best_matching_tool(text, prompt.tools)]
        elif not chosen and prompt.tool_mode == "any":
            chosen = [prompt.tools[0]]
    if not prompt.parallel:
        chosen = chosen[:1]
    quoted = _BACKTICKED.search(text) if eager else None
    return tuple(ToolCall(t.name, _arguments(t.schema, quoted.group(1) if quoted else None))
                 for t in chosen)


_BACKTICKED = re.compile(r"`([^`\n]{1,500})`")
_WORDS = re.compile(r"[A-Za-z]+|[0-9]+|[^\sA-Za-z0-9_\-.,:;!?'\"`()]")


_STOPWORDS = frozenset(
    "the and for with use using this that you your are what tool tools from into can will "
    "please call run get its any all when how".split())


def _words(text: str) -> set[str]:
    """Lower-case words, with snake_case, kebab-case and camelCase names split; short
    and common ones left out."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)
    words = {w.lower() for w in _WORDS.findall(spaced) if len(w) > 2 or not w.isascii()}
    return words - _STOPWORDS


def best_matching_tool(text: str, tools: Sequence[ToolSpec]) -> ToolSpec:
    """The tool whose name (counted twice) and description share the most words with
    ``text``; the first one on a tie or when none shares any."""
    said = _words(text)
    best, best_score = tools[0], 0
    for tool in tools:
        score = 2 * len(said & _words(tool.name)) + len(said & _words(tool.description))
        if score > best_score:
            best, best_score = tool, score
    return best


def _arguments(schema: Mapping[str, Any], quoted: str | None) -> Any:
    """``example_from_schema``, with ``quoted`` (the user's backticked text) as the first
    required string property, so "run `echo hi` with the shell tool" runs ``echo hi``."""
    args = example_from_schema(schema)
    if quoted is not None and isinstance(args, dict):
        for name, value in args.items():
            if isinstance(value, str):
                args[name] = quoted
                break
    return args


def mentioned_tools(text: str, tools: Sequence[ToolSpec]) -> list[ToolSpec]:
    """Tools whose exact name appears in ``text`` as a word, by first appearance."""
    found: list[tuple[int, ToolSpec]] = []
    for tool in tools:
        match = re.search(rf"(?<![\w-]){re.escape(tool.name)}(?![\w-])", text)
        if match:
            found.append((match.start(), tool))
    return [tool for _, tool in sorted(found, key=lambda pair: pair[0])]


def example_from_schema(schema: Any) -> Any:
    """A value for a JSON schema: strings "Paris" (or the first enum value), numbers 1,
    booleans true, arrays [], objects with their required properties filled."""
    if not isinstance(schema, Mapping):
        return {}
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            return example_from_schema(options[0])
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "string":
        return "Paris"
    if kind in ("number", "integer"):
        return 1
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "null":
        return None
    properties = schema.get("properties")
    properties = properties if isinstance(properties, Mapping) else {}
    required = schema.get("required")
    names = [n for n in required if isinstance(n, str)] if isinstance(required, list) else []
    return {name: example_from_schema(properties.get(name, {"type": "string"})) for name in names}


def _first_stop(text: str, stops: Iterable[str]) -> tuple[int, str] | None:
    best: tuple[int, str] | None = None
    for stop in stops:
        at = text.find(stop) if stop else -1
        if at >= 0 and (best is None or at < best[0]):
            best = (at, stop)
    return best


_WORD = re.compile(r"\s*\S+\s*")


def split_words(text: str) -> list[str]:
    """Word-sized pieces that join back to ``text`` (one stream delta each)."""
    pieces = _WORD.findall(text)
    return pieces if pieces else ([text] if text else [])


def split_fragments(text: str, parts: int = 3) -> list[str]:
    """``text`` in up to ``parts`` pieces, for streaming tool arguments in fragments."""
    if not text:
        return []
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)]
