"""The PII patterns written for speed match exactly what their plain definitions match.

``pii.py`` writes some alternatives in a form that ``re`` runs faster (issue 17: 1 MB of
"aaaaaawd=" cost 8x prose): the secret names behind ``=`` and ``:`` as a trie of
lookbehinds with explicit case-folded classes, the value probe with a branch per first
character. The plain definitions they replace are kept here; both are run at every
position of random texts built from the pieces that matter (names, near names, quoting,
operators, values, characters that fold to ASCII letters), and must give the same match
(or none) everywhere.
"""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.features import pii


def _plain_assignment(op: str) -> str:
    """The assignment alternative as it was written before issue 17's speed work: a
    per-position class check of the name's last three characters, the probe as one
    sequence, then one case-insensitive lookbehind per name length and quoting style."""
    names = pii._SECRET_NAMES
    tail3 = pii._class({n[-3] for n in names})
    tail2 = pii._class({n[-2] for n in names})
    tail1 = pii._class({c for n in names for c in (n[-1], n[-1].upper())})
    name_tail = f"(?i:{tail3}{tail2}){tail1}"
    between = [b for b, _ in pii._BETWEEN]
    by_len: dict[int, list[str]] = {}
    for name in names:
        by_len.setdefault(len(name), []).append(re.escape(name))
    grouped = ["(?i:" + "|".join(group) + ")" for _, group in sorted(by_len.items())]
    before = pii._class({c for n in names for c in (n[-1], n[-1].upper())} | set("\"' "))
    tail = "|".join(f"(?<={name_tail}{b}[=:])" for b in between)
    full = "|".join(f"(?<={n}{b}[=:])" for b in between for n in grouped)
    chars = rf"[^\s\"'`,;()\[\]{{}}<>{op}]"
    pad = "={0,3}+" if op == "=" else ""
    value = rf"[=>]?[ \t]{{0,4}}[\"'`]?(?:(?i:bearer|basic|token) )?{chars}{{8,512}}+{pad}"
    probe = rf"[=>]?[ \t]{{0,4}}[\"'`]?{chars}{{8}}"
    return op + f"(?<={before}[=:])(?>{tail})(?={probe})(?>{full}){value}"


_ASSIGNMENT_PIECES = [
    *pii._SECRET_NAMES, "awd", "key", "xkey", "_key", "-key", "ey", "PassWord", "TOKEN",
    "Api_Key", "ssword", "assword", "asswd", "ord", "x-key", "ret", "credential", "als",
    "paſſword", "_paſs", "_paſſ", "credentialſ", "\u212aey", "AP\u0130_KEY", "ap\u0131key",
    "=", ":", " ", "'", '"', "`", ">", "=>", "\t", "\n", "==", "::", "(", ".", ",",
    "abcdefgh", "abc", "aaaaaaaa1", "Xk9#mP2vL5q!w", "Bearer ", "basic ", "${X}",
]
_PLAIN = {op: re.compile(_plain_assignment(op)) for op in ":="}
_FAST = {op: re.compile(alt) for op, alt, _ in pii._OTHER_ALTERNATIVES if op in ":="}


def _assert_same_assignments(text: str) -> int:
    matches = 0
    for op in ":=":
        for p in range(len(text)):
            plain, fast = _PLAIN[op].match(text, p), _FAST[op].match(text, p)
            assert (plain and plain.span()) == (fast and fast.span()), (op, text, p)
            matches += plain is not None
    return matches


def test_assignment_names_match_their_plain_definition() -> None:
    rng = random.Random(17)
    matches = 0
    for _ in range(20_000):
        text = "".join(rng.choice(_ASSIGNMENT_PIECES) for _ in range(rng.randint(1, 12)))
        matches += _assert_same_assignments(text)
    assert matches > 1_000  # the texts hit the pattern often, not only its misses


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_ASSIGNMENT_PIECES) | st.text(max_size=3), max_size=14)
       .map("".join))
def test_assignment_names_match_their_plain_definition_hypothesis(text: str) -> None:
    _assert_same_assignments(text)


@pytest.mark.parametrize("text", [
    "password=Xk9#mP2vL5q!w", "PaSsWoRd: 'Xk9#mP2vL5q!w'", 'x_paſs" = "Xk9#mP2vL5q!w"',
    "api-key => Xk9#mP2vL5q!w", "\u212aEY=Xk9#mP2vL5q!w", "awd=Xk9#mP2vL5q!w", "key=Xk9#mP2vL5q!w",
])
def test_assignment_examples_agree(text: str) -> None:
    expected = _PLAIN["="].search(text) or _PLAIN[":"].search(text)
    got = _FAST["="].search(text) or _FAST[":"].search(text)
    assert (expected and expected.span()) == (got and got.span())


def test_ascii_folds_are_every_character_re_folds_to_an_ascii_letter() -> None:
    # The explicit classes of the name trie add these to each letter's two cases.
    letter = re.compile("(?i:[a-z])")
    folds = "".join(chr(c) for c in range(0x80, 0x110000) if letter.fullmatch(chr(c)))
    assert folds == pii._ASCII_FOLDS
