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

import math
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.features import _pii_patterns as pii
from gateway.features import pii_validators as v


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


def _same_matches(plain: re.Pattern[str], fast: re.Pattern[str], text: str) -> int:
    """Both patterns match the same span (or none) at every position; how many matched."""
    matches = 0
    for p in range(len(text)):
        a, b = plain.match(text, p), fast.match(text, p)
        assert (a and a.span()) == (b and b.span()), (text, p)
        matches += a is not None
    return matches


def _random_texts(seed: int, pieces: list[str], most: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(1, most)))
            for _ in range(20_000)]


def _assert_same_assignments(text: str) -> int:
    return sum(_same_matches(_PLAIN[op], _FAST[op], text) for op in ":=")


def test_assignment_names_match_their_plain_definition() -> None:
    matches = sum(map(_assert_same_assignments, _random_texts(17, _ASSIGNMENT_PIECES, 12)))
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
    return _same_matches(_PLAIN_DIGIT, pii._DIGIT_RE, text)


def test_digit_shapes_match_their_plain_definition() -> None:
    assert sum(map(_assert_same_digit_matches, _random_texts(1717, _DIGIT_PIECES, 24))) > 3_000


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


# --- validators -------------------------------------------------------------------------
# The validators were rewritten to run their loops in C (issue 17's speed work); these
# are the loops they replace, compared on random values.

def _plain_luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _plain_entropy(s: str) -> float:
    n = len(s)
    counts: dict[str, int] = {}
    for c in s:
        counts[c] = counts.get(c, 0) + 1
    return -sum(k / n * math.log2(k / n) for k in counts.values())


def _plain_iban_prefix(text: str) -> str | None:
    want = v.IBAN_LENGTHS.get(text[:2])
    if want is None:
        return None
    chars: list[str] = []
    i = 0
    while i < len(text) and len(chars) < want:
        if text[i] != " ":
            chars.append(text[i])
        i += 1
    if len(chars) != want or (i < len(text) and text[i].isalnum()):
        return None
    compact = "".join(chars)
    ok = (v.IBAN_LENGTHS.get(compact[:2]) == len(compact) and compact[2:4].isdigit()
          and compact[4:].isalnum() and compact.isascii()
          and int("".join(str(int(c, 36)) for c in compact[4:] + compact[:4])) % 97 == 1)
    return compact if ok else None


def test_validators_match_their_loops() -> None:
    rng = random.Random(97)
    for _ in range(50_000):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 24)))
        assert v.luhn_ok(digits) == _plain_luhn(digits), digits
        value = "".join(rng.choice("aab0123XYZ!_-ſ中") for _ in range(rng.randint(1, 60)))
        assert v.shannon_entropy(value) == _plain_entropy(value), value  # the same float
        iban = rng.choice(["DE89", "GB29", "XK05", "NO93", "AB12"]) + "".join(
            rng.choice("0123456789ABCZ  ") for _ in range(rng.randint(0, 40))) + rng.choice(" a1")
        assert v.iban_prefix(iban) == _plain_iban_prefix(iban), iban
    assert v.iban_prefix("DE89 3704 0044 0532 0130 00") == "DE89370400440532013000"
    assert _plain_luhn("4111111111111111") and v.luhn_ok("4111111111111111")


def _plain_looks_like_secret(value: str, *, quoted: bool) -> bool:
    n = len(value)
    if n < 8 or n > 512 or not value.isprintable():
        return False
    if v._PLACEHOLDER_RE.search(value) or v._STRUCTURED_RE.fullmatch(value):
        return False
    if len(set(value)) < 5:
        return False
    classes = (any(c.islower() for c in value) + any(c.isupper() for c in value)
               + any(c.isdigit() for c in value) + any(not c.isalnum() for c in value))
    if classes < 2 or v._WORDY_RE.fullmatch(value):
        return False
    if not quoted:
        if value[0].isdigit() and value.replace(".", "").isdigit():
            return False
        if v._IDENT_CHAIN_RE.fullmatch(value) and not any(c.isdigit() for c in value):
            return False
        if n < 12:
            return False
    return _plain_entropy(value) >= (3.0 if n >= 16 else 2.5)


_VALUE_PIECES = ["a", "B", "7", "$", "_", "-", ".", "/", "Xk9#", "mP2v", "EXAMPLE", "Token",
                 "passwd", "${", "2024-01-02", "v1.2.3", "ſ", "K", "İ", "中", " ", "changeme"]


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(_VALUE_PIECES), max_size=12).map("".join), st.booleans())
def test_looks_like_secret_matches_its_plain_definition(value: str, quoted: bool) -> None:
    expected = _plain_looks_like_secret(value, quoted=quoted)
    assert v.looks_like_secret(value, quoted=quoted) == expected


def test_whitespace_class_is_what_backslash_s_matches() -> None:
    written = re.compile(f"[{pii._WHITESPACE}]")
    s = re.compile(r"\s")
    for c in map(chr, range(0x110000)):
        assert bool(written.fullmatch(c)) == bool(s.fullmatch(c)) == c.isspace(), hex(ord(c))
