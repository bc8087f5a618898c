"""The PII field walk (``_fields.FieldScanner``) scans what its plain definition scans, in
the same order, with the same findings: the walk below (the one ``_fields`` had before
issue 21: a stack of (value, path), a dict's keys and secret pairs scanned as it is popped,
last key first, its values pushed) is the definition. The walk that replaced it caches
what each key means, opens containers without copying their items, writes paths only on
a find, and passes over keys and short strings that hold no candidate
(``pii.has_no_candidate``): those are the only scans it may leave out."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.features import _fields
from gateway.features._fields import FieldScanner
from gateway.features.pii import PiiScanner, _no_candidate, has_no_candidate
from tests.support import planted

from .adversarial import UNITS

DATA = Path(__file__).parent / "data"
ROWS = [json.loads(line)["text"]
        for name in ("pii.jsonl", "pii_written.jsonl", "language.jsonl")
        for line in (DATA / name).read_text(encoding="utf-8").splitlines()]

_NAME_RE = re.compile(r"[A-Za-z_]{1,64}")
_SECRET_KEY_RE = re.compile(r"(?i)pass|pwd|secret|token|key|credential|auth")
_PAIR_VALUE_CHARS = 600


def _name(key: Any) -> str:
    return key if isinstance(key, str) and _NAME_RE.fullmatch(key) else "*"


# --- a string with no candidate changes no scanner -------------------------------------


def _scanners() -> list[PiiScanner]:
    """Scanners in the states a request can leave them in."""
    fresh = PiiScanner()
    per_anchor = PiiScanner()
    per_anchor.per_anchor = True
    spent = PiiScanner()
    spent.budget = 0
    some = PiiScanner()
    some.found |= {"email", "phone"}
    some.budget = 1
    return [fresh, per_anchor, spent, some]


def _state(s: PiiScanner) -> tuple[set[str], set[str], int]:
    return set(s.found), set(s.unverified), s.budget


def _check_no_candidate(text: str) -> None:
    if not has_no_candidate(text):
        return
    for scanner in _scanners():
        before = _state(scanner)
        scanner.scan(text)
        assert _state(scanner) == before, (text, scanner.per_anchor)


SHORT_PARTS = st.sampled_from(sorted({u[:20] for u in UNITS} | {
    "a", "Z", " ", "0", "9", "@", ":", "=", "-", "_", "A", "B", "J", "x", "\u200b", "＠", "４"}))


@settings(max_examples=1500, deadline=None)
@given(st.lists(SHORT_PARTS, max_size=12).map("".join))
def test_a_string_without_candidates_changes_no_scanner(text: str) -> None:
    _check_no_candidate(text)


def test_a_string_without_candidates_changes_no_scanner_labelled() -> None:
    for row in ROWS:
        for i in range(0, len(row), 13):
            _check_no_candidate(row[i:i + 63])


def test_no_candidate_is_the_scan_finding_nothing() -> None:
    assert has_no_candidate("Write one sentence about the sea.")
    assert has_no_candidate("max_tokens") and has_no_candidate("input_schema")
    assert not has_no_candidate("ann.lee@example.com")
    assert not has_no_candidate("ａｎｎ＠ｅｘａｍｐｌｅ．ｃｏｍ")  # read normalized
    assert not has_no_candidate("x" * 64)  # long strings are always scanned
    assert not _no_candidate("4111 1111 1111 1111")


# --- the walk ----------------------------------------------------------------------------


class PlainFieldScanner:
    """The definition: ``_fields.FieldScanner`` as it was."""

    def __init__(self, scanner: PiiScanner) -> None:
        self.scanner = scanner
        self.where: dict[str, str] = {}

    def _scan(self, text: str, parts: tuple[Any, ...]) -> None:
        scanner = self.scanner
        before = len(scanner.found)
        scanner.scan(text)
        if len(scanner.found) != before:
            path = _fields._path(parts)
            for kind in scanner.found:
                self.where.setdefault(kind, path)

    def walk(self, body: Any) -> None:
        stack: list[tuple[Any, tuple[Any, ...]]] = [(body, ())]
        scanner = self.scanner
        while stack and not scanner.done():
            value, parts = stack.pop()
            if isinstance(value, str):
                self._scan(value, parts)
            elif isinstance(value, dict):
                for key, item in reversed(list(value.items())):
                    here = (*parts, _name(key))
                    if isinstance(key, str) and len(key) >= 8:
                        self._scan(key, (*parts, "*key*"))
                    if isinstance(item, str):
                        if _fields._is_media(key, item, value):
                            continue
                        if isinstance(key, str) and len(key) <= 64 and _SECRET_KEY_RE.search(key):
                            self._scan(f'"{key}": "{item[:_PAIR_VALUE_CHARS]}"', here)
                    stack.append((item, here))
            elif isinstance(value, list):
                for i in range(len(value) - 1, -1, -1):
                    stack.append((value[i], (*parts, i)))


class Recording(PiiScanner):
    """A scanner that lists the strings it is given that could change it."""

    __slots__ = ("texts",)

    def __init__(self, budget: int | None = None) -> None:
        super().__init__()
        self.texts: list[str] = []
        if budget is not None:
            self.budget = budget

    def scan(self, text: str) -> None:
        if not self.done() and len(text) >= 8 and not has_no_candidate(text):
            self.texts.append(text)
        super().scan(text)


def _both(body: Any, budget: int | None = None) -> tuple[Any, Any]:
    plain, fast = PlainFieldScanner(Recording(budget)), FieldScanner(Recording(budget))
    plain.walk(body)
    fast.walk(body)
    return plain, fast


def assert_same(body: Any, budget: int | None = None) -> None:
    plain, fast = _both(body, budget)
    a, b = plain.scanner, fast.scanner
    assert b.texts == a.texts
    assert (b.found, b.unverified, b.budget, fast.where) == (a.found, a.unverified, a.budget,
                                                             plain.where)


def test_planted_bodies() -> None:
    cases = [*planted.openai_planted(), *planted.anthropic_planted(),
             *planted.openai_obfuscated()]
    assert len(cases) > 250
    for _, body in cases:
        assert_same(body)
        assert_same(body, budget=0)


EMAIL = "ann.lee@example.com"
CARD = "4111 1111 1111 1111"
KEYS = ["role", "content", "text", "type", "data", "file_data", "format", "source", "url",
        "password", "api_key", "max_tokens", "x-api-key", "token", "auth", "metadata",
        "tool_use_id", "input_schema", "a" * 70 + "key", EMAIL, "key_" + CARD,
        "sk-ant-api03-" + "Zx8kq2LmP9wRt5Yb3Nc7Vd1Hf6Jg4", "日本語のキー", "ｐａｓｓｗｏｒｄ"]
TEXTS = ["", "user", "assistant", "Write one sentence about the sea.", EMAIL, CARD,
         f"mail {EMAIL} card {CARD}", "Xk9#mP2vL5q!w", "sk-proj-Zx8kq2LmP9wRt5Yb3Nc7Vd1Hf6Jg4Ks0",
         "data:image/png;base64,QUtJQVE3VzNFOVIxVDVZMlU4STQ=", "QUtJQVE3VzNFOVIxVDVZMlU4STQ=",
         "data:text/plain;base64,ann.lee@example.com", "base64", "ａｎｎ＠ｅｘａｍｐｌｅ．ｃｏｍ",
         "41\u200b11 1111 1111 1111", "415-555-2671", "078-05-1120", "+44 20 7946 0958",
         "110101199003077777", "GB82 WEST 1234 5698 7654 32", "token: ghp_" + "a1B2" * 9,
         "12:30", "a=b", "x" * 63, "1" * 63, "9" * 200, "-----BEGIN PRIVATE KEY-----\\nA: b\\n"]

values = st.recursive(
    st.sampled_from(TEXTS) | st.integers() | st.none() | st.booleans() | st.text(max_size=30),
    lambda inner: (st.lists(inner, max_size=4)
                   | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=12), inner,
                                     max_size=5)),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(body=values, budget=st.sampled_from([None, 0, 1, 3]))
def test_random_bodies(body: Any, budget: int | None) -> None:
    assert_same(body, budget)
    assert_same({"messages": [body, {"role": "user", "content": body}]}, budget)


def test_key_cache_is_bounded_and_refilled() -> None:
    many = {f"key_{i}_{EMAIL}": {f"k{i}": i} for i in range(_fields._MAX_KEYS + 100)}
    assert_same(many)
    assert len(_fields._KEYS) <= _fields._MAX_KEYS
    assert_same({"password": "Xk9#mP2vL5q!w", "api_key": EMAIL})


def test_deep_bodies_are_walked_without_recursion() -> None:
    body: Any = EMAIL
    for i in range(5000):
        body = {"a": body} if i % 2 else [body]
    plain, fast = _both(body)
    assert fast.scanner.found == plain.scanner.found == {"email"}
    assert fast.where == plain.where


def test_every_key_rule_against_every_value() -> None:
    """Each key (scanned or not, secret or not, media or not) with each value, alone, in
    a dict after other fields, and with the shapes that make a value media."""
    for key in KEYS:
        for text in TEXTS:
            for body in ({key: text}, {"role": "user", key: text, "z": [text]},
                         {"type": "base64", key: text}, {"format": "wav", key: text},
                         [{key: {key: text}}, text]):
                assert_same(body)
                assert_same(body, budget=0)
