"""Digit triggers for the per-anchor PII scan: a one-byte-per-character view of the text
and literal-prefix patterns that find, in it, a part every digit candidate contains.

See ``pii.py`` ("Per anchor") for how the scanner uses them.
"""

from __future__ import annotations

import re

# The view: one byte per character (``latin-1``, anything above U+00FF -> "?"), mapped so
# that the digit alternatives' character classes are unions of view bytes.
VIEW = bytes(
    48 if 48 <= c <= 57 else 65 if 65 <= c <= 90 else 97 if 97 <= c <= 122 or c == 95
    else c if chr(c) in " .-()+" else 33
    for c in range(256)
)
# Triggers in the view. Every match of a digit alternative contains one:
# 1. "0000" that starts a digit run (not after a digit or letter: one lookbehind rejects
#    most numbers of a JSON document) and is
#    - the last group of "078-05-1120", "415 555 2671", "1-415-555-2671", "138 1234 5678",
#      "86 138 1234 5678": [ -] and a group of 2-4 digits before it, one of [ .-)] before
#      that group, and the number ends after it (``_NUM_END``);
#    - the last group of "415.555.2671" (the NANP shapes are the only ones with dots);
#    - the last group of "(415) 555-2671" (3 digits and ")" or ") " before them);
#    - the 11 digits after "86 " (CN mobile with its country code);
#    - the second group of a grouped card (4 digits before it, another group after it);
#    - or a run of 9-20 digits, then at most one letter (X), then the number's end.
# 2. "+" and a digit, then 7 digits or separators (an international number).
# 3. Two capitals and two digits, then 11 digits or capitals (an IBAN).
_END = rb"(?![0Aa]|[.\-]0)"  # the number ends here (_NUM_END)
_NXX = rb"(?:(?<=\)000[ .\-]0000)|(?<=\) 000[ .\-]0000))(?![0Aa])"  # (415) 555-2671
_AFTER_SPACE_OR_DASH = b"|".join([
    # the last group, after a group of 2-4 digits
    rb"(?:(?<=[ .\-)]00[ \-]0000)|(?<=[ .\-)]000[ \-]0000)|(?<=[ .\-)]0000[ \-]0000))" + _END,
    rb"(?<=00[ \-]0000)(?<![0Aa]00[ \-]0000)(?=0{7}" + _END + rb")",  # 86-13812345678
    rb"(?<=0000[ \-]0000)(?<![0Aa]0000[ \-]0000)(?=0{0,2}[ \-]0000)",  # 4111 1111 1111 1111
    _NXX,
    rb"(?<=000-0000)(?=0{3,4}" + _END + rb")",  # 010-65529988, 0755-2688 1234
])
_AFTER_DOT = rb"(?<=[ .\-]000\.0000)" + _END + rb"|" + _NXX  # 415.555.2671
_RUN = rb"(?<!0[.\-]0000)(?=0{5,16}[Aa]?" + _END + rb")"  # 9-20 digits (and an X)
_LANDLINE_AFTER_PAREN = rb"(?:(?<=\) 0000)|(?<=\)0000))(?=0{3,4}" + _END + rb")"  # (010) 65529988
RUN_TRIGGER = re.compile(
    rb"0000(?<![0Aa]0000)(?:(?<=0[ .\-]0000)(?:(?<=[ \-]0000)(?:" + _AFTER_SPACE_OR_DASH
    + rb")|(?<=\.0000)(?:" + _AFTER_DOT + rb"))|(?=0{5})" + _RUN + rb"|" + _LANDLINE_AFTER_PAREN + rb")"
)
LONG_RUN_MIN = 24
_LONG_RUN = b"0" * LONG_RUN_MIN


def blank_long_runs(view: bytes) -> bytes:
    """``view`` with every run of ``LONG_RUN_MIN`` or more digits replaced by "#", which
    the trigger patterns read as they read "!" (``VIEW`` never yields "#").

    ``bytes.replace`` in C, not ``re.sub`` with a function (a Python call per run: 1 MB of
    41-digit runs, 26 ms): whole blocks of ``LONG_RUN_MIN`` digits first, then each run's
    remainder (under ``LONG_RUN_MIN`` digits, right after a "#") in halving steps."""
    view = view.replace(_LONG_RUN, b"#" * LONG_RUN_MIN)
    for k in (16, 8, 4, 2, 1):
        if b"#0" not in view:
            break
        view = view.replace(b"#" + b"0" * k, b"#" * (k + 1))
    return view


# "+", a digit, then 7 digits or separators. Not before a run of 39 digits or more (the
# first digit then starts a run of 40): no digit candidate starts there (every number
# shape but the +CC one ends within 20 digits; the +CC one reads at most 3 + 7 x 5 = 38
# digits after the first, and must then end), so a megabyte of "+1" and 40 digits costs no
# ``match`` per "+" (``tests/features/test_pii_triggers.py`` checks every run length).
PLUS_TRIGGER = re.compile(rb"\+0(?<![0Aa]\+0)(?=[0 .\-()]{7})(?!0{39})")
IBAN_TRIGGER = re.compile(rb"AA00(?<![0Aa]AA00)(?=(?: ?[0A]){11})")
