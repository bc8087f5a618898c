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


# --- digits ---------------------------------------------------------------------------

_PLAIN_NUM_START = r"(?<![0-9A-Za-z_][0-9])(?<![0-9][.\-][0-9])"
_PLAIN_NUM_SHAPES = "|".join([  # noqa: FLY002 - one shape per line
    r"[0-9]{9,19}+|[0-9]{8,18}+[Xx]",                        # card, CN ID, CN mobile
    r"(?<=0)(?:10|2[0-9]|[3-9][0-9]{2})-[2-9][0-9]{2,3}[ \-]?[0-9]{4}",  # CN landline
    r"[0-9]{2} [0-9]{2} [0-9]{4}",                           # SSN with spaces
    r"[0-9]{2}-[0-9]{2}-[0-9]{4}",                           # SSN (first digit consumed)
    r"[0-9]{3}[ \-][0-9]{4,6}[ \-][0-9]{4,5}(?:[ \-][0-9]{1,4}){0,2}",  # grouped card
    r"[0-9]{2}[ .\-][2-9][0-9]{2}[ .\-][0-9]{4}",            # NANP 3-3-4
    r"[ .\-]?[2-9][0-9]{2}[ .\-][2-9][0-9]{2}[ .\-][0-9]{4}",  # NANP with leading 1
    r"[0-9]{2}[ \-][0-9]{4}[ \-][0-9]{4}",                   # CN mobile 3-4-4
    r"[0-9][ \-]?1[3-9][0-9](?:[0-9]{8}|[ \-][0-9]{4}[ \-][0-9]{4})",  # 86 + CN mobile
])
# The digit alternative before issue 17's speed work: every shape tried in turn.
_PLAIN_DIGIT = re.compile(
    r"[0-9](?<![0-9a-z_][0-9])"
    rf"(?:(?=[0-9 .\-()]{{7}})(?:{_PLAIN_NUM_START}(?:{_PLAIN_NUM_SHAPES}){pii._NUM_END}"
    r"|(?<=\+[0-9])(?<![0-9A-Za-z_]\+[0-9])[0-9]{0,3}+(?:[ .\-]?+\(?+[0-9]{1,5}+\)?+){1,7}+"
    r"(?![0-9A-Za-z_])"
    r"|(?<=\([2-9])[0-9]{2}\) ?[2-9][0-9]{2}[ .\-][0-9]{4}(?![0-9A-Za-z_])"
    r"|(?<=\(0)(?:10|2[0-9]|[3-9][0-9]{2})\) ?[2-9][0-9]{2,3}[ \-]?[0-9]{4}"
    rf"{pii._NUM_END})"
    r"|(?<=[A-Z]{2}[0-9])(?<![0-9A-Za-z_][A-Z]{2}[0-9])[0-9](?: ?[0-9A-Z]){11,32})"
)
_DIGIT_PIECES = [
    *"0123456789", " ", " ", "-", ".", "(", ")", "+", "X", "x", "A", "B", "a", "_",
    "138", "010-", "021-", "0755-", "415", "555", "2671", "86 ", "4111", "GB82", "DE89", "+44 ",
    "(0", "(4", "13812345678", "11010519491231002", "078-05-1120", "12345678901234567890",
]


def _assert_same_digit_matches(text: str) -> int:
    matches = 0
    for p in range(len(text)):
        plain, fast = _PLAIN_DIGIT.match(text, p), pii._DIGIT_RE.match(text, p)
        assert (plain and plain.span()) == (fast and fast.span()), (text, p)
        matches += plain is not None
    return matches


def test_digit_shapes_match_their_plain_definition() -> None:
    rng = random.Random(1717)
    matches = 0
    for _ in range(20_000):
        text = "".join(rng.choice(_DIGIT_PIECES) for _ in range(rng.randint(1, 24)))
        matches += _assert_same_digit_matches(text)
    assert matches > 3_000


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_DIGIT_PIECES), max_size=30).map("".join))
def test_digit_shapes_match_their_plain_definition_hypothesis(text: str) -> None:
    _assert_same_digit_matches(text)


@pytest.mark.parametrize("shape", [
    "4111 1111 1111 1111", "3782 822463 10005", "4111111111111111", "6011 1111 1111 1117 12",
    "078-05-1120", "219 09 9999", "415-555-2671", "415.555.2671", "1-415-555-2671", "1415-555-2671",
    "(415) 555-2671", "138 1234 5678", "86 138 1234 5678", "86138-1234-5678", "8613812345678",
    "+44 20 7946 0958", "11010519491231002X", "GB29 NWBK 6016 1331 9268 19", "010-6552 9988",
    "0755-26881234", "(010) 6552 9988", "020-8888-6666", "123456789X",
])
def test_each_digit_shape_matches_as_before(shape: str) -> None:
    for text in (shape, f"tel {shape}.", f"x{shape}", f"1-{shape}", f"+{shape}", f"({shape}"):
        assert _assert_same_digit_matches(text) >= (1 if text == shape else 0)
