"""The digit triggers of the per-anchor PII scan (``_triggers.py``): every digit candidate
has one, they are precise enough that texts of numbers with no candidate have few, and
blanking long digit runs is exact."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.features import pii
from gateway.features._triggers import (
    IBAN_TRIGGER,
    LONG_RUN_MIN,
    PLUS_TRIGGER,
    RUN_TRIGGER,
    VIEW,
    blank_long_runs,
    view_of,
)
from gateway.features.pii import _DIGIT_RE


def test_plus_trigger_precedes_every_plus_candidate() -> None:
    # Run lengths around the cut-off (a run of 40 digits after "+" has no candidate), with
    # and without what ends the run, before and after other text.
    for n in range(1, 60):
        for before, after in (("", ""), ("tel ", " ok"), ("x: ", "a "), ("(", ")"), ("", "-12")):
            text = f"{before}+1{'2' * n}{after}"
            p = len(before) + 1  # the first digit
            view = text.encode("latin-1", "replace").translate(VIEW)
            triggers = {m.start() + 1 for m in PLUS_TRIGGER.finditer(view)}
            if _DIGIT_RE.match(text, p) is not None:
                assert p in triggers, (text, n)
    assert PLUS_TRIGGER.search(b"+0" + b"0" * 38 + b"!") is not None
    assert PLUS_TRIGGER.search(b"+0" + b"0" * 39 + b"!") is None


def _old_blank(view: bytes) -> bytes:  # what the scanner did before: re.sub, "!" for digits
    return re.sub(b"0{%d,}" % LONG_RUN_MIN, lambda m: b"!" * len(m.group()), view)


_PIECES = [b"0" * k for k in (1, 5, 23, 24, 25, 40, 47, 48, 49, 100)]
_PIECES += [bytes([c]) for c in b"!Aa -+."]


@given(st.lists(st.sampled_from(_PIECES), max_size=40).map(b"".join))
def test_blank_long_runs_blanks_exactly_the_long_runs(view: bytes) -> None:
    assert blank_long_runs(view).replace(b"#", b"!") == _old_blank(view)
    assert len(blank_long_runs(view)) == len(view)


def _covered(text: str) -> set[int]:
    """Where the per-anchor scan looks for digit candidates: up to ``_DIGIT_BACK``
    characters before a run trigger, and exactly where a "+" or IBAN trigger says."""
    view = view_of(text)  # (text position i is view position i + 1)
    starts = {m.start() + 1 for m in IBAN_TRIGGER.finditer(view)}
    starts |= {m.start() for m in PLUS_TRIGGER.finditer(view)}
    if b"0" * LONG_RUN_MIN in view:
        view = blank_long_runs(view)
    for m in RUN_TRIGGER.finditer(view):
        starts.update(range(m.start() - 1 - pii._DIGIT_BACK, m.start()))
    return starts


_NUMBER_PIECES = [
    *"0123456789", " ", " ", "-", ".", "(", ")", "+", "X", "x", "A", "B", "a", "_", ") ",
    "138", "010-", "021-", "0755-", "415", "555", "2671", "86 ", "4111", "GB82", "DE89",
    "+44 ", "(0", "(4", "13812345678", "11010519491231002", "078-05-1120", "1234567890",
]


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(_NUMBER_PIECES), max_size=40).map("".join))
def test_every_digit_candidate_has_a_trigger(text: str) -> None:
    covered = _covered(text)
    for p in range(len(text)):
        if _DIGIT_RE.match(text, p) is not None:
            assert p in covered, (text, p)


@pytest.mark.parametrize("unit", [
    "12 34 5678 ", "12 3456 7890 ", "123456789 ", "86 138 1234 567 ", "1 23 4567 ",
    "1234 12 3456 ", "123456 1234 5678, ", "a123 45 6789 ",
])
def test_numbers_of_no_shape_have_no_trigger(unit: str) -> None:
    # Each of these, repeated, was denser in triggers than one per 256 characters (so the
    # string was searched in one pass, ~70 ms a MB) with no candidate at all.
    text = unit * 50
    assert not any(_DIGIT_RE.match(text, p) for p in range(len(text)))
    assert len(RUN_TRIGGER.findall(view_of(text))) <= 2


@pytest.mark.parametrize("shape", [
    "4111 1111 1111 1111", "4111-1111-1111-1111", "3782 822463 10005", "6011 1111 1111 1117 12",
    "4111111111111111", "078-05-1120", "219 09 9999", "415-555-2671", "415 555 2671",
    "415.555.2671", "1-415-555-2671", "1415-555-2671", "(415) 555-2671", "(415)555.2671",
    "138 1234 5678", "86 13812345678", "86-138-1234-5678", "86138 1234 5678", "8613812345678",
    "010-6552 9988", "010-655 9988", "0755-26881234", "010-65529988", "(010) 6552 9988",
    "(0755)26881234", "+44 20 7946 0958", "11010519491231002X", "123456789X",
    "GB29 NWBK 6016 1331 9268 19", "DE89370400440532013000",
])
def test_shapes_have_a_trigger_at_the_start_and_end_of_a_string(shape: str) -> None:
    # (the view's leading "!" stands for the start of the string)
    for text in (shape, f"{shape} x", f"x {shape}", f"({shape}", f"{shape}."):
        covered = _covered(text)
        starts = [p for p in range(len(text)) if _DIGIT_RE.match(text, p) is not None]
        assert starts and set(starts) <= covered, (text, starts)
