"""Request features for routing: estimated tokens, dominant language, PII kinds.

``extract_features`` walks a Chat Completions (``surface="chat_completions"``),
Messages (``"messages"``) or Responses (``"responses"``) body once. Every string is handed, without copying or
concatenating, to two bounded-cost consumers:

- ``tokens.TokenTally``: C-speed character-class counts and a linear model calibrated
  against cl100k (no tokenizer on the hot path);
- the language sampler: keeps references to user text, from which a sample of at most
  ``language.SAMPLE_CHARS`` characters is taken (latest user turn first and largest).

PII is scanned in a walk of its own (``_fields.FieldScanner``) over every string of the
body, known field or not, with ``pii.PiiScanner`` (linear-time patterns, validators on
candidates only); it records the field where each kind was first found.

Measured accuracy and cost are in ``gateway/features/README.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..agent_text import user_words
from ._fields import FieldScanner
from ._walk import walk_anthropic, walk_openai
from ._walk_responses import walk_responses
from .language import SAMPLE_CHARS, detect_language
from .pii import PII_KINDS, PiiScanner, find_pii
from .tokens import TokenTally, estimate_tokens

__all__ = [
    "PII_KINDS",
    "Features",
    "detect_language",
    "estimate_tokens",
    "extract_features",
    "find_pii",
]

# Chat formats wrap every message in role/separator tokens (3-4 in OpenAI's and
# Anthropic's published counting guides) and prime the reply with a few more.
MESSAGE_OVERHEAD = 4
REQUEST_OVERHEAD = 3
# A tool definition is counted as the JSON of its name, description and schema plus this:
# the wrapper around them differs by API (cl100k: chat's ~12 tokens more than that JSON,
# Messages' ~7) and each provider renders tools in a template of its own, so one figure
# serves every surface.
TOOL_OVERHEAD = 8
# Default cost of one image. Real costs depend on size and detail (OpenAI: 85 for "low",
# up to ~1,100 for a 1024x1024 "high"; Anthropic: width*height/750, ~1,600 at most), which
# the gateway does not know without decoding the image, so callers pass their own figure.
DEFAULT_IMAGE_TOKENS = 1000

# Language sample: the latest user turn's start and end, then the start of earlier turns.
_LATEST_HEAD = 1200
_LATEST_TAIL = 400
_EARLIER_HEAD = 200


@dataclass(frozen=True, slots=True)
class Features:
    tokens: int  # estimated prompt (input) tokens of the whole request
    requested_output: int | None  # max_completion_tokens or max_tokens, else None
    language: str | None  # ISO 639-1 of the dominant user text, None if no text
    pii: frozenset[str]  # kinds found, a subset of PII_KINDS
    has_images: bool
    has_tools: bool
    stream: bool
    # (kind, field path) for each kind in ``pii``, e.g. ("email", "messages[1].content")
    pii_fields: tuple[tuple[str, str], ...] = ()
    # kinds reported without validation: the scan's candidate budget ran out (fail closed)
    pii_unverified: frozenset[str] = frozenset()

    def to_json(self) -> dict[str, Any]:
        return {
            "tokens": self.tokens,
            "requested_output": self.requested_output,
            "language": self.language,
            "pii": sorted(self.pii),
            "pii_fields": dict(self.pii_fields),
            "pii_unverified": sorted(self.pii_unverified),
            "has_images": self.has_images,
            "has_tools": self.has_tools,
            "stream": self.stream,
        }


class _Collector:
    """The walkers' sink: feeds the tally, remembers user text."""

    __slots__ = (
        "_turn",
        "functions",
        "images",
        "language",
        "messages",
        "system_parts",
        "tally",
        "tools",
        "user_turns",
    )

    def __init__(self, language: bool) -> None:
        self.tally = TokenTally()
        self.language = language
        self.user_turns: list[list[str]] = []
        self.system_parts: list[str] = []
        self._turn: list[str] | None = None
        self.messages = 0
        self.images = 0
        self.functions = 0
        self.tools = False

    def message(self) -> None:
        self.messages += 1
        self._turn = None

    def extra_messages(self, n: int) -> None:
        """Overhead of ``n`` more messages inside the current one (a Messages user turn
        holding tool results, each a message of its own on chat): no new turn."""
        self.messages += n

    def definitions(self, n: int) -> None:
        """``n`` function tool definitions (their fixed overhead)."""
        self.functions += n

    def image(self) -> None:
        self.images += 1

    def tool(self) -> None:
        self.tools = True

    def text(self, s: str, *, user: bool = False, system: bool = False) -> None:
        if not s:
            return
        self.tally.add_text(s)
        if self.language:
            if user:
                words = user_words(s)
                if not words:
                    return
                if self._turn is None:
                    self._turn = []
                    self.user_turns.append(self._turn)
                self._turn.append(words)
            elif system:
                self.system_parts.append(s)


def _head(parts: list[str], limit: int) -> str:
    out: list[str] = []
    for p in parts:
        if limit <= 0:
            break
        out.append(p[:limit])
        limit -= len(out[-1]) + 1
    return "\n".join(out)


def _tail(parts: list[str], limit: int) -> str:
    out: list[str] = []
    for p in reversed(parts):
        if limit <= 0:
            break
        out.append(p[-limit:])
        limit -= len(out[-1]) + 1
    return "\n".join(reversed(out))


def _language_sample(turns: list[list[str]]) -> str:
    latest = turns[-1]
    if len(turns) == 1 and len(latest) == 1 and len(latest[0]) < _LATEST_HEAD + _LATEST_TAIL:
        return latest[0]  # one short text (most prompts): what the steps below make of it
    size = sum(len(p) + 1 for p in latest)
    if size <= _LATEST_HEAD + _LATEST_TAIL:
        pieces = [_head(latest, size)]
    else:
        pieces = [_head(latest, _LATEST_HEAD), _tail(latest, _LATEST_TAIL)]
    budget = SAMPLE_CHARS - sum(map(len, pieces))
    for turn in reversed(turns[:-1]):
        if budget <= 0:
            break
        piece = _head(turn, min(_EARLIER_HEAD, budget))
        pieces.append(piece)
        budget -= len(piece) + 1
    return "\n".join(pieces)


_WALKERS = {"chat_completions": walk_openai, "messages": walk_anthropic,
            "responses": walk_responses}
_OUTPUT_KEYS = {"chat_completions": ("max_completion_tokens", "max_tokens"),
                "messages": ("max_tokens",), "responses": ("max_output_tokens",)}


def _requested_output(body: dict[str, Any], surface: str) -> int | None:
    keys = _OUTPUT_KEYS[surface]
    for key in keys:
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None


# ``extract_features`` has a keyword argument named like the module-level function.
_detect = detect_language


def extract_features(
    body: dict[str, Any],
    *,
    surface: str = "chat_completions",
    image_tokens: int = DEFAULT_IMAGE_TOKENS,
    detect_pii: bool = True,
    detect_language: bool = True,
) -> Features:
    """Features of a request body; never raises on unexpected shapes (they are skipped).

    ``surface`` names the walker: ``chat_completions``, ``messages`` (Anthropic) or
    ``responses`` (OpenAI Responses), as ``Surface.walker`` does; any other is a
    ValueError (a programming error: walking a body with the wrong walker would
    silently miss its text).
    """
    walker = _WALKERS.get(surface)
    if walker is None:
        raise ValueError(f"unknown surface {surface!r}: one of {sorted(_WALKERS)}")
    if not isinstance(body, dict):
        body = {}
    collector = _Collector(detect_language)
    walker(body, collector)
    tally = collector.tally
    tally.add_fixed(REQUEST_OVERHEAD + MESSAGE_OVERHEAD * collector.messages
                    + TOOL_OVERHEAD * collector.functions)
    tally.add_fixed(max(0, image_tokens) * collector.images)
    language = None
    if detect_language:
        turns = collector.user_turns or ([collector.system_parts] if collector.system_parts else [])
        if turns:
            language = _detect(_language_sample(turns))
    fields = None
    if detect_pii:
        fields = FieldScanner(PiiScanner())
        fields.walk(body)
    return Features(
        tokens=tally.total(),
        requested_output=_requested_output(body, surface),
        language=language,
        pii=frozenset(fields.scanner.found) if fields is not None else frozenset(),
        has_images=collector.images > 0,
        has_tools=collector.tools,
        stream=body.get("stream") is True,
        pii_fields=tuple(sorted(fields.where.items())) if fields is not None else (),
        pii_unverified=frozenset(fields.scanner.unverified) if fields is not None else frozenset(),
    )

