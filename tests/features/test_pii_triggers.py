"""The digit triggers of the per-anchor PII scan (``_triggers.py``): every digit candidate
has one, and blanking long digit runs is exact."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from gateway.features._triggers import LONG_RUN_MIN, PLUS_TRIGGER, VIEW, blank_long_runs
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
