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
    PLUS_TRIGGER,
    RUN_TRIGGER,
    VIEW,
    _by_needles,
    _fifths_marked,
    run_triggers,
    run_view,
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


_PIECES = [b"0" * k for k in (1, 4, 5, 9, 15, 16, 17, 20, 21, 23, 24, 40, 100)]
_PIECES += [bytes([c]) for c in b"!Aa -+."]


@given(st.lists(st.sampled_from(_PIECES), max_size=40).map(b"".join))
def test_run_view_only_renames_digits_after_each_runs_first_four(view: bytes) -> None:
    marked = run_view(view)
    assert marked.replace(b"D", b"0") == view
    for run in re.finditer(rb"[0D]+", marked):
        digits = run.group()
        assert digits[:4] == b"0" * min(4, len(digits))  # a run's start is read as it was
        # the literal "0000" matches inside a run only right after a "D"
        inner = [i for i in range(1, len(digits)) if digits.startswith(b"0000", i)]
        assert all(digits[i - 1:i] == b"D" for i in inner)


def _covered(text: str) -> set[int]:
    """Where the per-anchor scan looks for digit candidates: up to ``_DIGIT_BACK``
    characters before a run trigger, and exactly where a "+" or IBAN trigger says."""
    view = view_of(text)  # (text position i is view position i + 1)
    starts = {m.start() + 1 for m in IBAN_TRIGGER.finditer(view)}
    starts |= {m.start() for m in PLUS_TRIGGER.finditer(view)}
    for m in RUN_TRIGGER.finditer(run_view(view)):
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


# ``RUN_TRIGGER`` as first written: each shape's conditions one after the other, in the
# order of the shapes (one lookbehind or lookahead each; the fast one orders and merges
# them by what fails first).
_E = rb"(?![0Aa]|[.\-]0)"
_PLAIN_CARD = rb"(?<![0Aa]0000[ \-]0000)(?=d{0,2}[ \-]0000d?+(?:[ \-]0|" + _E + rb"))"
_PLAIN_GOES_ON = [
    rb"(?<![0][.\-]0000)(?=d{6,16}+" + _E + rb"|d{5,15}+[Aa]" + _E + rb")",
    rb"(?<=[^0]00[ \-]0000)(?<![0Aa]00[ \-]0000)(?=d{7}" + _E + rb")",
    rb"(?<=000-0000)(?:(?=d{3,4}" + _E + rb")|(?<=[^0]0000-0000)" + _PLAIN_CARD + rb")",
    rb"(?<=[^0]0000 0000)" + _PLAIN_CARD,
    rb"(?:(?<=\) 0000)|(?<=\)0000))(?=d{3,4}" + _E + rb")",
]
_PLAIN_ENDS = [
    rb"(?<=[^0]00[ \-]0000)(?<=000[ \-]00[ \-]0000)(?<![0Aa]000[ \-]00[ \-]0000)" + _E,
    rb"(?<=[^0]000[ .\-]0000)(?:(?:(?<=000[ .\-]000[ \-]0000)|(?<=000[ .\-]000\.0000))" + _E
    + rb"|(?<=\)000[ .\-]0000)|(?<=\) 000[ .\-]0000))",
    rb"(?<=[^0]0000[ \-]0000)(?:(?:(?<=00d[ \-]0000[ \-]0000)(?<!d{6}[ \-]0000[ \-]0000)"
    rb"|(?<=\)0000[ \-]0000)|(?<=\) 0000[ \-]0000))" + _E + rb"|" + _PLAIN_CARD + rb")",
]
_PLAIN_RUN_TRIGGER = re.compile(b"0000" + _fifths_marked(
    rb"(?<![0Aa]0000)(?:(?=d)(?:" + b"|".join(_PLAIN_GOES_ON) + rb")"
    rb"|(?![0Aa])(?<=[0][ .\-]0000)(?:" + b"|".join(_PLAIN_ENDS) + rb"))"
))


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(_NUMBER_PIECES + ["12", "123", "12345", ") ", "(", "D"]),
                max_size=40).map("".join))
def test_run_trigger_is_its_plain_definition(text: str) -> None:
    view = run_view(view_of(text))
    assert ([m.start() for m in RUN_TRIGGER.finditer(view)]
            == [m.start() for m in _PLAIN_RUN_TRIGGER.finditer(view)]), text


_TRIGGER_PIECES = _NUMBER_PIECES + ["12", "123", "12345", ") ", "(", ")", ".", "x", "Ab"]


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(_TRIGGER_PIECES), max_size=40).map("".join))
def test_needles_find_every_trigger(text: str) -> None:
    # The needle search, on the whole string as one piece, gives the triggers or gives up.
    view = run_view(view_of(text))
    found = _by_needles(view, 0, len(view), len(view))
    assert found is None or found == [m.start() for m in RUN_TRIGGER.finditer(view)], text


_EDGES = [65536 * k + d for k in range(1, 5) for d in range(-12, 13)]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["12 3456 7890 ", "123456789 ", "12 34 5678 ", "1234 ", "(415) 1234 ",
                        "86 138 1234 567 ", "123.45.6789 ", "1 "]),
       st.lists(st.tuples(st.one_of(st.integers(0, 300_000), st.sampled_from(_EDGES)),
                          st.sampled_from(_TRIGGER_PIECES)), max_size=30))
def test_run_triggers_in_pieces(unit: str, inserts: list[tuple[int, str]]) -> None:
    # 300 K characters of a dense unit (read by needles, piece by piece, or by
    # RUN_TRIGGER once needles are too frequent) with shapes and pieces of them anywhere,
    # pieces' edges included.
    text = (unit * (300_000 // len(unit) + 1))[:300_000]
    for at, piece in sorted(inserts, reverse=True):
        text = text[:at] + piece + text[at:]
    view = run_view(view_of(text))
    every = [m.start() for m in RUN_TRIGGER.finditer(view)]
    assert run_triggers(view, len(view)) == every
    cap = len(every) // 2 + 1
    assert len(found := run_triggers(view, cap)) >= cap or found == every


@pytest.mark.parametrize("unit", ["12 3456 7890 ", "123456789 ", "12 34 5678 "])
def test_needles_read_numbers_of_no_shape(unit: str) -> None:
    # (what the needles are for: these give RUN_TRIGGER a group to try every few characters)
    view = run_view(view_of(unit * 20_000))
    assert _by_needles(view, 0, len(view), len(view)) == []


@pytest.mark.parametrize("unit", [
    "12 34 5678 ", "12 3456 7890 ", "123456789 ", "86 138 1234 567 ", "1 23 4567 ",
    "1234 12 3456 ", "123456 1234 5678, ", "a123 45 6789 ",
])
def test_numbers_of_no_shape_have_no_trigger(unit: str) -> None:
    # Each of these, repeated, was denser in triggers than one per 256 characters (so the
    # string was searched in one pass, ~70 ms a MB) with no candidate at all.
    text = unit * 50
    assert not any(_DIGIT_RE.match(text, p) for p in range(len(text)))
    assert len(RUN_TRIGGER.findall(run_view(view_of(text)))) <= 2


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
