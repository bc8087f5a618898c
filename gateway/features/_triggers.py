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
LONG_RUN = re.compile(b"0{%d,}" % LONG_RUN_MIN)


def blank(m: re.Match[bytes]) -> bytes:
    return b"!" * (m.end() - m.start())


PLUS_TRIGGER = re.compile(rb"\+0(?<![0Aa]\+0)(?=[0 .\-()]{7})")
IBAN_TRIGGER = re.compile(rb"AA00(?<![0Aa]AA00)(?=(?: ?[0A]){11})")
