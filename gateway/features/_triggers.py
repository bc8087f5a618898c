"""Digit triggers for the per-anchor PII scan: a one-byte-per-character view of the text
and literal-prefix patterns that find, in it, a part every digit candidate contains.

See ``pii.py`` ("Per anchor") for how the scanner uses them.
"""

from __future__ import annotations

import re
from itertools import islice

# The view: one byte per character (``latin-1``, anything above U+00FF -> "?"), mapped so
# that the digit alternatives' character classes are unions of view bytes.
VIEW = bytes(
    48 if 48 <= c <= 57 else 65 if 65 <= c <= 90 else 97 if 97 <= c <= 122 or c == 95
    else c if chr(c) in " .-()+" else 33
    for c in range(256)
)


def view_of(text: str) -> bytes:
    """The view of ``text``, after one "!": text position ``i`` is view position ``i + 1``.
    The "!" stands for the start of the text, which the triggers read as they read any
    character that is no digit, letter or separator (a lookbehind for one then holds
    there too, as "a number starts here" should)."""
    return b"!" + text.encode("latin-1", "replace").translate(VIEW)


# Triggers in the view. Every match of a digit alternative contains one:
# 1. "0000" that starts a digit run (not after a digit or letter: one lookbehind rejects
#    most numbers of a JSON document) and is
#    - the last group of a number, which ends after it (``_NUM_END``), with the groups
#      before it that some shape has: "078-05-1120" (3 digits, then 2), "415 555 2671",
#      "1-415-555-2671", "010-655 9988" (3 or more, then 3), "138 1234 5678",
#      "86 138 1234 5678", "010-6552 9988" (3 or more, then 4), "(415) 555-2671",
#      "(010) 6552 9988" (")" or ") ", then 4);
#    - the last group of "415.555.2671" (the NANP shapes are the only ones with dots);
#    - the last group of "(415) 555-2671" (3 digits and ")" or ") " before them);
#    - the 11 digits after "86 " (CN mobile with its country code);
#    - the second group of a grouped card (4 digits before it, a third group of 4 or 5
#      after it, then another group or the number's end);
#    - or a run of 10-20 digits, or 9-19 and a letter (X), then the number's end.
# 2. "+" and a digit, then 7 digits or separators (an international number).
# 3. Two capitals and two digits, then 11 digits, capitals or spaces (an IBAN).
# The groups before a last group are checked because a trigger with no candidate costs
# a search of its window: where they are denser than one per 256 characters the string
# is searched in one pass (1 MB of "12 3456 7890 ", which has no candidate, took 70 ms
# when "3456 7890" was a trigger). Repeated runs are read possessively: "0" * 23 must
# not try every shorter run before failing.
_END = rb"(?![0Aa]|[.\-]0)"  # the number ends here (_NUM_END)
# Where the group goes on, its fifth digit ("D" in ``run_view``) is read as a literal (a
# branch skips on it at no cost), then the shapes by what the rest of the run can be: 2-3
# more digits after "-" or ")" ("010-65529988", "(010) 65529988"), 0-1 more and another
# group (the second group of a card), 4 more and a digit or letter (runs, "86 13812345678").
# Each starts with whichever of its lookbehind or lookahead fails first on most numbers
# (a lookbehind on its farthest character, ~10 ns; a repeated lookahead ~35 ns): 1 MB of
# "123456789 " took 21 ms when every shape's lookahead and lookbehinds were tried, 14 now.
# ("d" is a digit that may be a fifth or later one of its run, "D" in ``run_view``.)
_GOES_ON = b"|".join([
    # (a ")" has a character before it: the view's first is "!")
    rb"(?:(?<=000-0000D)|(?<=(?s:.)\)0000D|\) 0000D))(?=d{2,3}" + _END + rb")",
    rb"(?<=[^0Aa]0000[ \-]0000D)(?=d?[ \-]0000d?+(?:[ \-]0|" + _END + rb"))",
    rb"(?=dddd[0Aa])(?:(?<![0][.\-]0000D)(?=d{5,15}+" + _END + rb"|d{4,14}+[Aa]" + _END + rb")"
    rb"|(?<=[^0Aa]00[ \-]0000D)(?=d{6}" + _END + rb"))",
])
# Where it ends: the last group, after the groups of a shape, dispatched on the length of
# the group before (2, 3, 4) with one lookbehind each that fails on its first character
# for the other lengths. The card's next group is looked for before the lookbehinds that
# would pass on "3456 7890" (1 MB of "12 3456 7890 " has 150,000 such groups: 30 ms when
# each ran seven to eleven assertions, 17 with four to seven).
_ENDS = b"|".join([
    # after 2 digits: 078-05-1120
    rb"(?<=[^0Aa]000[ \-]00[ \-]0000)" + _END,
    # after 3: 415 555 2671, 010-655 9988, 415.555.2671, (415) 555-2671
    rb"(?<=[^0]000[ .\-]0000)(?:(?:(?<=000[ .\-]000[ \-]0000)|(?<=000[ .\-]000\.0000))" + _END
    + rb"|(?<=\)000[ .\-]0000)|(?<=\) 000[ .\-]0000))",
    # after 4: a card (a group after it), 138 1234 5678, 86138 1234 5678, 010-6552 9988,
    # (010) 6552 9988
    rb"(?<=[^0]0000[ \-]0000)(?:(?=[ \-]0000d?+(?:[ \-]0|" + _END + rb"))(?<![0Aa]0000[ \-]0000)"
    rb"|(?:(?<=00d[ \-]0000[ \-]0000)(?<!d{6}[ \-]0000[ \-]0000)"
    rb"|(?<=(?s:.)\)0000[ \-]0000|\) 0000[ \-]0000))" + _END + rb")",
])


def _fifths_marked(pattern: bytes) -> bytes:
    """``pattern`` for ``run_view``: "d" becomes "[0D]" and each class that holds "0"
    holds "D" too ("0" itself stays where no "D" can be: a group of at most four digits,
    the start of a run)."""
    def one(m: re.Match[bytes]) -> bytes:
        token = m.group()
        return b"[0D]" if token == b"d" else token.replace(b"0", b"0D")
    return re.sub(rb"\[[^\]]*\]|d", one, pattern)


# The first four digits of a run (never marked); then the run's fifth digit or the end
# of the number. (``tests/features/test_pii_triggers.py`` holds this to the plain
# definition, one lookbehind or lookahead per condition, at every position.)
RUN_TRIGGER = re.compile(b"0000" + _fifths_marked(
    rb"(?<![0Aa]0000)(?:D(?:" + _GOES_ON + rb")|(?![0Aa])(?:" + _ENDS + rb"))"
))


def run_view(view: bytes) -> bytes:
    """The view ``RUN_TRIGGER`` reads: in runs of digits, digits written "D", which the
    pattern reads as digits but its literal "0000" does not match, so it is tried at the
    start of a run and right after a "D", not at each digit: runs of sixteen become "0000"
    and twelve "D", then runs of five "0000D" (each run's first four digits stay "0"). A
    megabyte of digits: 1,000,000 tries -> 62,500; a run of 20: 17 -> 2. (Long runs were
    blanked before, in steps that cost up to 25 ms for one run of a megabyte.)"""
    return view.replace(_SIXTEEN, _SIXTEEN_MARKED).replace(b"00000", b"0000D")


_SIXTEEN = b"0" * 16
_SIXTEEN_MARKED = b"0000" + b"D" * 12


# Where "0000" is dense (a number of no shape every few characters: 1 MB of "12 3456 7890 "
# has 150,000 groups, each tried by ``RUN_TRIGGER``, ~17 ms), triggers are found from
# needles instead: literals that every trigger has around it, found by ``bytes.find``
# (~0.5 ms a MB each; a needle is looked for only where its key is), each occurrence then
# tried by ``RUN_TRIGGER`` where it says. Most are read in a coarser view: letters "a",
# anything but a digit or letter " ", so that one literal stands for every separator and
# for a number's start. (key, in the coarse view, needles: literal, where a trigger may
# start relative to it)
_COARSE = bytes(c if c in b"0D" else 97 if c in b"Aa" else 32 for c in range(256))
_NEEDLES: tuple[tuple[bytes, bool, tuple[tuple[bytes, tuple[int, ...]], ...]], ...] = (
    (b"0000D", True, (  # the group goes on
        (b" 0000D0000D", (1,)),  # a run of 10-15 digits (and 86 + 11 digits)
        (b" 0000DDD", (1,)),  # 16 or more
        (b" 0000D0000a", (1,)),  # 9 and a letter
        (b" 0000 0000D", (6,)),  # the second group of a card, of 5 or 6 digits
    )),
    (b"0000D", False, ((b"-0000D", (1,)),)),  # 010-65529988
    (b" 000 ", True, ((b" 000 00 0000", (8,)), (b" 000 0000", (5,)))),  # after 2, after 3
    (b"0000 0000", True, (
        (b"000 0000 0000", (9, 4)),  # after 4 after 3 or 4; a card's second group
        (b"D 0000 0000", (7,)),  # after 4 after 5
    )),
    (b")", False, ((b")0000", (1, 6)), (b") 0000", (2, 7)))),  # (010) 65529988, 6552 9988
)
# The string is read in pieces of _PIECE characters: by needles where the first _SAMPLE
# characters of a piece have a group of four digits after a non-digit (what
# ``RUN_TRIGGER`` spends its time on) more than once per _DENSE_SPACING characters (JSON:
# once per ~300, "12 3456 7890 " twice per 13), else by ``RUN_TRIGGER``, as for the rest
# of the string once a piece has more than one occurrence of needles per _NEEDLE_SPACING
# characters. Both give the same triggers (the tests compare them); each search ends
# _REACH past its piece, beyond anything a trigger that starts in it reads.
_PIECE = 65536
_SAMPLE = 1024
_DENSE_SPACING = 16
_NEEDLE_SPACING = 256
_REACH = 32
_BACK = 9  # the farthest a needle starts before its trigger
_START = re.Match.start


def run_triggers(marked: bytes, cap: int) -> list[int]:
    """Where ``RUN_TRIGGER`` matches in ``marked`` (a ``run_view``), in order: all of
    them, or at least ``cap`` of them."""
    found: list[int] = []
    needles = True
    n = len(marked)
    for a in range(0, n, _PIECE):
        b = min(n, a + _PIECE)
        got = None
        if needles and _dense(marked, a):
            got = _by_needles(marked, a, b, cap - len(found))
            needles = got is not None
        if got is None:
            got = list(islice(map(_START, RUN_TRIGGER.finditer(marked, a, b + _REACH)),
                              cap - len(found)))
            while got and got[-1] >= b:  # (found again in the next piece)
                got.pop()
        found += got
        if len(found) >= cap:
            break
    return found


def _dense(marked: bytes, a: int) -> bool:
    """Are groups of four digits after a non-digit dense in the sample at ``a``? ("0000"
    is counted first, without a copy: most strings have too few of them.)"""
    end = min(len(marked), a + _SAMPLE)
    if marked.count(b"0000", a, end) * _DENSE_SPACING <= end - a:
        return False
    return marked[a:end].translate(_COARSE).count(b" 0000") * _DENSE_SPACING > end - a


def _by_needles(marked: bytes, a: int, b: int, cap: int) -> list[int] | None:
    """The triggers in [a, b) from the needles (stopping at ``cap``), or None if the
    needles occur more than once per _NEEDLE_SPACING characters."""
    match = RUN_TRIGGER.match
    found: set[int] = set()
    left = (b - a) // _NEEDLE_SPACING + 1
    lo = max(0, a - _BACK)
    hi = b + _REACH
    coarse = marked[lo:hi].translate(_COARSE)  # (coarse position i is marked lo + i)
    for key, in_coarse, needles in _NEEDLES:
        text, base = (coarse, lo) if in_coarse else (marked, 0)
        find = text.find
        if find(key, lo - base, hi - base) < 0:
            continue
        for needle, offsets in needles:
            end = b - base + len(needle) - 1  # (a needle that starts before b)
            at = find(needle, lo - base, end)
            while at >= 0:
                left -= 1
                if left < 0:
                    return None
                for t in (at + base + offset for offset in offsets):
                    if a <= t < b and match(marked, t) is not None:
                        found.add(t)
                if len(found) >= cap:
                    return sorted(found)
                at = find(needle, at + 1, end)
    return sorted(found)


# "+", a digit, then 7 digits or separators. Not before a run of 39 digits or more (the
# first digit then starts a run of 40): no digit candidate starts there (every number
# shape but the +CC one ends within 20 digits; the +CC one reads at most 3 + 7 x 5 = 38
# digits after the first, and must then end), so a megabyte of "+1" and 40 digits costs no
# ``match`` per "+" (``tests/features/test_pii_triggers.py`` checks every run length).
PLUS_TRIGGER = re.compile(rb"\+0(?<![0Aa]\+0)(?=[0 .\-()]{7})(?!0{39})")
# (The IBAN's 11 characters as a class: ``(?: ?[0A]){11}``, a group repeated, cost
# ~0.3 us a trigger, and this is a superset of it.)
IBAN_TRIGGER = re.compile(rb"AA00(?<![0Aa]AA00)(?=[ 0A]{11})")
