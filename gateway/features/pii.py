"""Find which kinds of PII and secrets a text contains (kinds only, never values).

A candidate is a position where one of the regex alternatives below matches; each
alternative starts with a literal anchor character (a digit, or one of ``: = @ - _ A B J``).
Candidates are only candidates: validators in ``pii_validators`` decide. A rejected or
greedy candidate never hides one that starts a character later, and the scan stops once
every kind has been seen. A string is scanned in one of two ways that find the same
candidates (the tests compare them on JSON documents with and without PII):

- One pass (prose, and every string under 2 KB): all alternatives in one pattern. ``re``
  derives a charset prefix from the anchors and skips other characters in C (~4 ns a
  character); at an anchor, the other anchors' alternatives fail on their first literal.
- Per anchor, for strings whose middle 512 characters are at least ~2% digits, ``:``,
  ``=`` and ``_`` (JSON, tables, logs, code). At JSON's 12% digits and 3% colons, a regex
  attempt at every anchor costs more than the skipping between them. Instead:

  * each non-digit alternative is searched on its own: ``str.find`` (memchr) jumps to a
    rare anchor and the pattern is tried there; a frequent one is left to ``search``,
    whose single-character literal prefix skips faster than a charset. The secret-name
    check of ``:``/``=`` starts with one character class per letter of the name's last
    three, so JSON keys and code assignments fail in a few byte-map lookups;
  * digits: ``bytes.translate`` maps the text to a one-byte-per-character view (digit
    -> ``0``, capital -> ``A``, lower-case or ``_`` -> ``a``, `` .-()+`` kept, anything
    else -> ``!``) in which three literal-prefix patterns find *triggers*: parts that every
    digit candidate contains (a last group of 4 digits after a separator, a 9-20 digit
    run, ``+digit``, an IBAN's country code; see ``RUN_TRIGGER``). JSON numbers, floats,
    dates, timestamps and UUIDs rarely contain one. The exact digit pattern then runs
    only from ``_DIGIT_BACK`` characters before each trigger to the trigger, in text
    order, with a search window long enough (``_DIGIT_REACH``) to behave exactly as a
    search of the whole text. Where triggers are denser than one per 256 characters
    (number tables, lists of phone numbers) the string gets one pass instead. (Where groups
    of four digits are dense but no triggers, ``run_triggers`` finds the triggers from
    literals around them instead of trying each group.)

  Only digit candidates yield digit kinds, and their classification depends on what was
  found before (a Luhn-valid 18-digit CN ID can count as a card once an ID was seen), so
  they are classified in text order as in one pass. The other anchors only yield
  ``email`` and ``credential``, which do not depend on the order.
"""

from __future__ import annotations

import re
from itertools import islice
from time import perf_counter_ns

from . import pii_validators as v
from ._normalize import normalize
from ._pii_patterns import (
    PII_KINDS,
    _ANCHOR_PASSES,
    _DIGIT_KINDS,
    _DIGIT_RE,
    _GROUPS,
    _PEM_NEEDLE,
    _PEM_SPLIT,
    _PEM_WITH_HEADERS,
    _RE,
    _SPLIT_SPACING,
)
from ._triggers import IBAN_TRIGGER, PLUS_TRIGGER, run_triggers, run_view, view_of

__all__ = ["PII_KINDS", "PiiScanner", "find_pii", "normalize"]

# Candidates validated per request: _BUDGET_BASE, plus one per _CHARS_PER_CANDIDATE
# characters scanned (validators cost 2-15 us a candidate: at most ~30 ns a character).
_BUDGET_BASE = 256
_CHARS_PER_CANDIDATE = 512
# The one pass is timed per window (see below); after two windows in a row above
# _SLOW_NS_PER_CHAR (prose costs ~4 ns) the scanner switches to per-anchor scans,
# re-reading _CONTEXT characters (lookbehinds, an email's local part, URL userinfo).
# Windows start at 16 K and double after each fast one, up to 64 K: text that is all
# anchors ("====", "@@@@": ~50 ns a character in one pass, ~15 per anchor) switches after
# 32 K characters, not 128 K (~6 ms a MB); and each window's search reads up to
# _MAX_REACH past it again, which at 16 K throughout cost ~13% more on long strings with
# few anchors (10 MB of Chinese: +2 ms).
_CHUNK = 16384
_MAX_CHUNK = 65536
# How far past its start any candidate of the one-pass pattern reads (a JWT's header, 2 KB;
# the tests check it against the pattern's maximum width).
_MAX_REACH = 2_100
_SLOW_NS_PER_CHAR = 25
_CONTEXT = 320

# --- per-anchor scan -----------------------------------------------------------------

# A needle seen at most once per _FIND_SPACING characters is found with ``str.find`` and
# tested with ``match``; past that, ``search`` skips to the next one faster.
_FIND_SPACING = 4096

# Where a candidate starts relative to its trigger: at most 10 characters before a run
# trigger (the last group of "1-415-555-2671"; 16 for margin), 1 after a "+" trigger, 2
# after an IBAN trigger.
_DIGIT_BACK = 16
# How far past its start a digit candidate reads (the longest, an IBAN, is 66 characters;
# lookaheads add 2): a search that ends this far after the last start it accepts sees what
# a search of the whole text sees. (The tests check it against the pattern's max width.)
_DIGIT_REACH = 80
_START = re.Match.start
# More than one trigger per _TRIGGER_SPACING characters: the string is searched in one
# pass (``_search_digits``), piece by piece, each piece of _DIGIT_PIECE characters charged
# to the validation budget one unit per _DIGITS_PER_CHARGE digits in it. The pass costs
# ~20 ns a digit, and up to ~300 ns a number that looks like a shape until its digits rule
# it out ("415-155-2671 415-155-2671 ...": 45 ms a MB); 64 digits cost about what a
# validation does. Past the budget the digit kinds are added unverified (fail closed), as
# when candidates use it up.
_DIGIT_PIECE = 4096
_DIGITS_PER_CHARGE = 64
_TRIGGER_SPACING = 256
# The same for triggers that give a candidate's exact start ("+", IBAN).
_EXACT_SPACING = 32

# Choosing the scan: strings of at least _DENSE_MIN_LEN characters whose middle
# _SAMPLE characters hold at least _DENSE_MIN_ANCHORS digits, ":", "=" or "_" (~2.3%;
# JSON has ~16%, code ~4%, prose ~0.3%). The choice only affects speed.
_SAMPLE = 512
_DENSE_MIN_LEN = 2048
_DENSE_MIN_ANCHORS = 12
_NOT_COSTLY_ANCHOR = bytes(c for c in range(256) if chr(c) not in "0123456789:=_")


# URL userinfo: the part after the last "://" before the "@" (a "/" cannot occur in it, so
# no earlier "://" can start it), read within _USERINFO_REACH characters.
_USERINFO_RE = re.compile(r"([^\s/@:]*)(?::([^\s/@]*))?")
_USERINFO_REACH = 300
_SEPARATORS = str.maketrans("", "", " .-()")


# A Chinese landline: area code 010, 02x or 0[3-9]xx, then 7-8 digits not starting 0/1.
_CN_LANDLINE_RE = re.compile(r"0(?:10|2[0-9]|[3-9][0-9]{2})(?:-|\) ?)[2-9][0-9]{2,3}[ \-]?[0-9]{4}")
# "ddd dd dddd" is an SSN only right after words that say so (otherwise it is as often
# an order or account number).
_SSN_CONTEXT_RE = re.compile(r"(?i)(?:\bssn|social[ -]security(?: (?:number|no\.?|#))?|社会安全号码?)"
                             r"(?: is| was| on file)?[\s:#=(\"'-]{0,4}$")


def _classify_landline(token: str) -> bool:
    if not _CN_LANDLINE_RE.fullmatch(token):
        return False
    digits = token.translate(_SEPARATORS)
    return 10 <= len(digits) <= 12


def _classify_num(token: str, found: set[str], before: str, context: str = "") -> str | None:
    if "phone" not in found and token[0] == "0" and before != "+" and _classify_landline(token):
        return "phone"
    if ("us_ssn" not in found and len(token) == 11 and token[3] == token[6] == " "
            and token.count(" ") == 2 and token.translate(_SEPARATORS).isdigit()):
        digits = token.replace(" ", "")
        if _SSN_CONTEXT_RE.search(context) and v.is_ssn(digits[:3], digits[3:5], digits[5:]):
            return "us_ssn"
    digits = token.translate(_SEPARATORS)
    seps = {c for c in " .-" if c in token}
    if len(seps) > 1:
        return None  # mixed separators ("415.555-2671") are not how anyone writes these
    n = len(digits)
    if "cn_resident_id" not in found and n == 18 and v.is_cn_resident_id(digits):
        return "cn_resident_id"
    if not digits.isdigit():
        return None
    if "us_ssn" not in found and n == 9 and token.count("-") == 2 and len(token) == 11:
        # ddd-dd-dddd only: "+33-123-4567" (an international number) has the same counts
        if token[3] == token[6] == "-" and v.is_ssn(token[:3], token[4:6], token[7:]):
            return "us_ssn"
        return None
    if "credit_card" not in found and 13 <= n <= 19 and "." not in seps and v.is_card(digits):
        return "credit_card"
    if "phone" not in found:
        if v.is_cn_mobile(digits) and (not seps or n in (11, 13)):
            return "phone"
        # Space-only groups ("256 512 1024") are as often number lists as phone numbers;
        # accept them only with the +1 prefix.
        if seps and v.is_nanp(digits) and (seps != {" "} or before == "+"):
            return "phone"
    return None


_GROUP_RE = re.compile(r"[ .\-]?\(?[0-9]+\)?")


def _classify_international(token: str) -> str | None:
    """+CC number; the pattern is greedy, so also try shorter runs of its groups."""
    digits = ""
    best = None
    for group in _GROUP_RE.findall(token):
        digits += group.translate(_SEPARATORS)
        if len(digits) > 15:
            break
        if len(digits) >= 8 and v.is_international_phone(digits):
            best = "phone"
    return best


def _classify(start: int, end: int, text: str, found: set[str]) -> str | None:
    """Kind of the candidate ``text[start:end]`` (``text[start]`` is its anchor), if any."""
    anchor = text[start]
    if anchor.isdigit():
        before = text[start - 1] if start else ""
        if "A" <= before <= "Z":  # a capital right before digits: only IBAN allows it
            return "iban" if "iban" not in found and v.iban_prefix(text[start - 2:end]) else None
        kind = _classify_num(text[start:end], found, before, text[max(0, start - 40):start])
        if kind is None and before == "+" and "phone" not in found:
            kind = _classify_international(text[start:end])
        if kind is None and before == "(" and "phone" not in found:
            if text[start + 3:start + 4] == ")" and text[start] != "0":
                kind = "phone"  # the (NXX) NXX-XXXX branch: its shape is the whole check
            elif _classify_landline(text[start:end]):
                kind = "phone"  # (010) 6552 9988
        return kind
    if anchor == "@":
        return _classify_at(text, start, end, found)
    if anchor in ":=":
        return "credential" if _assignment_is_secret(text[start + 1:end], text, end) else None
    if "credential" in found:
        return None
    body = text[start + 1:end]
    if anchor == "-":
        if body.startswith("----BEGIN"):
            return "credential"
        body = body.rsplit("-", 1)[-1] if text[start - 2:start] == "sk" else body
        return "credential" if v.looks_like_key_body(body, min_len=10) else None
    if anchor == "_":
        body = body.split("_", 1)[1] if body.startswith(("live_", "test_", "pat_")) else body
        return "credential" if v.looks_like_key_body(body, min_len=16) else None
    if anchor == "B":
        token = body.split(" ", 1)[1].rstrip("=")
        return "credential" if v.looks_like_secret(token, quoted=True) else None
    if anchor == "A":
        if body.startswith("Iza"):
            return "credential" if v.looks_like_key_body(body[3:], min_len=20) else None
        # AKIA/ASIA + 16 is specific enough, bar placeholders (AKIAXXXX..., ...EXAMPLE)
        key = body[3:]
        return "credential" if len(set(key)) >= 6 and "EXAMPLE" not in key else None
    return "credential"  # "J": a JWT (two base64url JSON segments)


def _classify_at(text: str, start: int, end: int, found: set[str]) -> str | None:
    scheme_end = text.rfind("://", max(0, start - _USERINFO_REACH), start)
    userinfo = None
    if scheme_end > 0 and text[scheme_end - 1].isascii() and text[scheme_end - 1].isalnum():
        userinfo = _USERINFO_RE.fullmatch(text, scheme_end + 3, start)
    if userinfo:  # scheme://user[:password]@host is URL userinfo, not an email
        user, password = userinfo.group(1), userinfo.group(2)
        if password is not None:
            return "credential" if v.looks_like_secret(password, quoted=True) else None
        # https://<token>@github.com/...: a token used as the user name
        return "credential" if v.looks_like_key_body(user, min_len=20) else None
    if "email" in found:
        return None
    if end + 1 < len(text) and text[end] == ":" and not text[end + 1].isspace():
        return None  # git@github.com:org/repo.git is an SSH remote, not a mailbox
    domain = text[start + 1:end].rstrip(".")
    local = v.email_local_part(text, start)
    if v.role_local_part(local):
        return None  # noreply@, postmaster@...: a mailbox of no person
    if v.valid_local_part(local) and v.valid_email_domain(domain):
        return "email"
    return None


def _assignment_is_secret(raw: str, text: str, end: int) -> bool:
    s = raw.lstrip("=>").lstrip(" \t")
    quote = s[0] if s and s[0] in "\"'`" else ""
    if quote:
        s = s[1:]
        # A quoted value must end at its closing quote, not at a space inside a sentence.
        if end >= len(text) or text[end] != quote:
            return False
    else:
        nxt = text[end] if end < len(text) else "\n"
        if nxt in "([{.<":
            return False  # a call, subscript or attribute: code, not a literal
    lowered = s[:7].lower()
    if lowered.startswith(("bearer ", "basic ", "token ")):
        s = s.split(" ", 1)[1]
        quote = quote or "scheme"
    return v.looks_like_secret(s, quoted=bool(quote))


class PiiScanner:
    """Accumulates PII kinds over many strings of one request.

    Validating a candidate costs a few microseconds of Python, so their number is
    bounded: ``_BUDGET_BASE`` per request plus one per ``_CHARS_PER_CANDIDATE`` characters
    scanned. Past the budget the scanner fails closed: the first further candidate of
    each group (digits, ``@``, each credential anchor) adds the kinds that group can yield,
    unverified (``unverified``), so a policy treats the request as if they were present.

    The one pass is timed per window of ``_CHUNK`` to ``_MAX_CHUNK`` characters (of one
    string, or of several small ones): after two windows in a row above
    ``_SLOW_NS_PER_CHAR`` (text
    dense in anchors that the sample missed: the pass then tries ~10 alternatives at
    almost every character), the rest of the request is scanned per anchor. The choice
    only affects speed.
    """

    __slots__ = ("_chunk", "_one_pass_chars", "_one_pass_ns", "_slow_windows", "budget",
                 "found", "per_anchor", "unverified")

    def __init__(self) -> None:
        self.found: set[str] = set()
        self.unverified: set[str] = set()
        self.budget = _BUDGET_BASE
        self.per_anchor = False
        self._one_pass_ns = 0
        self._one_pass_chars = 0
        self._slow_windows = 0
        self._chunk = _CHUNK

    def done(self) -> bool:
        return len(self.found) == len(PII_KINDS)

    def scan(self, text: str) -> None:
        if len(text) < 8 or self.done():
            return
        if not text.isascii():
            text = normalize(text)
        if _no_candidate(text):
            return
        self.budget += len(text) // _CHARS_PER_CANDIDATE
        if self.per_anchor or (len(text) >= _DENSE_MIN_LEN and _anchor_dense(text)):
            self._scan_per_anchor(text)
        else:
            self._scan_one_pass(text)

    def _add(self, start: int, end: int, text: str, kinds: frozenset[str]) -> bool:
        """Classify one candidate; True once all of ``kinds`` have been found."""
        found = self.found
        if self.budget <= 0:
            self.unverified |= kinds - found
            found |= kinds
            return True
        self.budget -= 1
        kind = _classify(start, end, text, found)
        if kind is not None:
            found.add(kind)
        return kinds <= found

    def _scan_one_pass(self, text: str) -> None:
        pos = 0
        n = len(text)
        while pos < n:
            t0 = perf_counter_ns()
            resume = self._one_pass(text, pos, pos + self._chunk)
            self._one_pass_ns += perf_counter_ns() - t0
            if resume < 0:
                return
            self._one_pass_chars += resume - pos
            pos = resume
            if self._one_pass_chars < self._chunk:
                continue  # (small strings add up until a window is long enough to judge)
            # Two slow windows in a row: one alone may be the process waiting for a CPU.
            slow = self._one_pass_ns > _SLOW_NS_PER_CHAR * self._one_pass_chars
            self._slow_windows = self._slow_windows + 1 if slow else 0
            self._chunk = _CHUNK if slow else min(2 * self._chunk, _MAX_CHUNK)
            self._one_pass_ns = self._one_pass_chars = 0
            if self._slow_windows >= 2:
                self.per_anchor = True
                if pos < n:  # the rest, with enough context for lookbehinds and validators
                    self._scan_per_anchor(text[max(0, pos - _CONTEXT):])
                return

    def _one_pass(self, text: str, pos: int, stop: int) -> int:
        """Candidates starting in [pos, stop): where to resume, or -1 when done.

        The search ends ``_MAX_REACH`` past ``stop`` (a search that finds nothing would
        otherwise run to the end of the text before the time is checked): a candidate
        starting before ``stop`` reads no further, so it is found as in the whole text."""
        search = _RE.search
        end = min(len(text), stop + _MAX_REACH)
        while (m := search(text, pos, end)) is not None:
            start = m.start()
            if start >= stop:
                return stop
            if self.budget <= 0:
                # Out of budget: the rest is searched group by group, one candidate each.
                for rx, kinds in _GROUPS:
                    if not kinds <= self.found and (g := rx.search(text, start)) is not None:
                        self._add(g.start(), g.end(), text, kinds)
                return -1
            # Resume right after the anchor, not after the match: a rejected candidate
            # ("token: ghp_..." failing as an assignment) or a greedy one (an IBAN whose
            # pattern ran into the next number) may overlap a valid one.
            pos = start + 1
            if self._add(start, m.end(), text, PII_KINDS):
                return -1
        return stop if end < len(text) else len(text)

    def _search_all(self, text: str, rx: re.Pattern[str], pos: int, kinds: frozenset[str],
                    offset: int = 0) -> None:
        search = rx.search
        while (m := search(text, pos)) is not None:
            pos = m.start() + 1
            if self._add(m.start() + offset, m.end(), text, kinds):
                return

    def _scan_per_anchor(self, text: str) -> None:
        found = self.found
        if not _DIGIT_KINDS <= found and not self._scan_digits(text):
            self._search_digits(text)  # triggers too dense
        finds = len(text) // _FIND_SPACING
        for anchor, rx, split, kinds in _ANCHOR_PASSES:
            if kinds <= found:
                continue
            pos = self._test_each(text, anchor, rx, kinds)
            if pos < 0:
                continue
            if not split or pos >= finds * _SPLIT_SPACING:
                self._search_all(text, rx, pos, kinds)
                continue
            for needle, part, offset in split:  # frequent: by literal beginnings
                self._search_all(text, part, max(0, pos - offset), kinds, offset)
                if needle == _PEM_NEEDLE and not kinds <= found:
                    self._charged(text, _PEM_WITH_HEADERS, _PEM_SPLIT, pos, kinds)
                if kinds <= found:
                    break

    def _charged(self, text: str, start: re.Pattern[str], whole: re.Pattern[str], pos: int,
                 kinds: frozenset[str]) -> None:
        """Test ``whole`` where ``start`` matches, each test charged to the budget like a
        candidate (past it, ``kinds`` are added unverified); the match starts at its anchor."""
        search = start.search
        match = whole.match
        while (m := search(text, pos)) is not None:
            pos = m.start()
            if self.budget <= 0:
                self.unverified |= kinds - self.found
                self.found |= kinds
                return
            self.budget -= 1
            if (w := match(text, pos)) is not None and self._add(pos, w.end(), text, kinds):
                return
            pos += 1

    def _test_each(self, text: str, needle: str, rx: re.Pattern[str], kinds: frozenset[str]) -> int:
        """Find the one-character ``needle`` with ``str.find`` (memchr) and test ``rx`` in
        place. Returns where ``search`` should take over if the needle turns out frequent
        (after ``len(text) // _FIND_SPACING`` of them), or -1 when done."""
        find = text.find
        match = rx.match
        budget = len(text) // _FIND_SPACING
        pos = find(needle)
        while pos >= 0:
            if budget == 0:
                return pos
            budget -= 1
            m = match(text, pos)
            if m is not None and self._add(pos, m.end(), text, kinds):
                return -1
            pos = find(needle, pos + 1)
        return -1

    def _search_digits(self, text: str) -> None:
        """Digit candidates, in text order, by one search in pieces, each charged to the
        budget by the digits it holds (see ``_DIGITS_PER_CHARGE``)."""
        view = view_of(text)
        search = _DIGIT_RE.search
        pos = 0
        n = len(text)
        for a in range(0, n, _DIGIT_PIECE):
            b = min(n, a + _DIGIT_PIECE)
            charge = view.count(b"0", a + 1, b + 1) // _DIGITS_PER_CHARGE
            if charge > self.budget:
                self.unverified |= _DIGIT_KINDS - self.found
                self.found |= _DIGIT_KINDS
                return
            self.budget -= charge
            pos = max(pos, a)
            # (the search ends _DIGIT_REACH past the piece: a candidate starting in it is
            # found as in the whole text)
            while (m := search(text, pos, b + _DIGIT_REACH)) is not None and m.start() < b:
                pos = m.start() + 1
                if self._add(m.start(), m.end(), text, _DIGIT_KINDS):
                    return

    def _scan_digits(self, text: str) -> bool:
        """Digit candidates, in text order. False (nothing done) if triggers are so dense
        (number tables, lists of phone numbers) that one pass costs less."""
        view = view_of(text)  # (text position i is view position i + 1)
        if b"0" not in view:
            return True  # no digit (the searches below cost ~1 ms a MB, memchr ~0.05)
        # "+" and IBAN triggers give a candidate's exact start: one ``match`` each. Trigger
        # positions are listed by ``map`` and ``islice`` (no Python code per trigger, so
        # finding that they pass a cap costs ~60 ns each: 1 MB of "AB12 " took 15 ms).
        exact_cap = len(text) // _EXACT_SPACING + 1
        iban = list(islice(map(_START, IBAN_TRIGGER.finditer(view)), exact_cap))
        plus = []
        if b"+" in view:
            plus = list(islice(map(_START, PLUS_TRIGGER.finditer(view)), exact_cap))
        if len(iban) + len(plus) >= exact_cap:
            return False
        cap = len(text) // _TRIGGER_SPACING + 1
        runs = run_triggers(run_view(view), cap)
        if len(runs) >= cap:
            return False
        # (first, last) possible start of the candidates around each trigger
        windows = [(t - 1 - _DIGIT_BACK, t - 1) for t in runs]
        windows += [(t + 1, t + 1) for t in iban]
        windows += [(t, t) for t in plus]
        windows.sort()
        search = _DIGIT_RE.search
        match = _DIGIT_RE.match
        pos = 0
        i = 0
        while i < len(windows):
            first, last = windows[i]
            i += 1
            while i < len(windows) and windows[i][0] <= last:  # overlapping windows
                last = max(last, windows[i][1])
                i += 1
            pos = max(pos, first)
            if pos == last:
                m = match(text, pos, pos + _DIGIT_REACH)
                if m is not None and self._add(pos, m.end(), text, _DIGIT_KINDS):
                    return True
            else:
                # Candidates that start in [pos, last], each found as a search of the whole
                # text would find it: the search ends _DIGIT_REACH past ``last``, beyond
                # anything such a candidate reads.
                end = last + _DIGIT_REACH
                while (m := search(text, pos, end)) is not None and m.start() <= last:
                    pos = m.start() + 1
                    if self._add(m.start(), m.end(), text, _DIGIT_KINDS):
                        return True
            pos = max(pos, last + 1)
        return True


# A string shorter than this with no candidate (a role, a type, a key, a short answer: most
# strings of a body) is passed over after one search: its scan could not charge the budget
# (one unit per _CHARS_PER_CANDIDATE characters, and the digit search one per
# _DIGITS_PER_CHARGE digits), and the one pass is then not timed on it (the time picks a
# scan for dense text, and per anchor costs more than one search on so short a string).
_SHORT = 64


def _no_candidate(text: str) -> bool:
    """Is ``text`` (normalized) shorter than _SHORT characters and free of candidates?
    Then scanning it changes no scanner's ``found``, ``unverified`` or ``budget``,
    whatever its state: both scans try only the one-pass pattern's alternatives on it."""
    return len(text) < _SHORT and _RE.search(text) is None


def has_no_candidate(text: str) -> bool:
    """``_no_candidate`` of ``text`` as the scanner reads it: its scan changes nothing."""
    return _no_candidate(text if text.isascii() else normalize(text))


def _anchor_dense(text: str) -> bool:
    """Is ``text`` dense in digits, ":", "=" and "_" (JSON, tables, code)? From a sample."""
    middle = (len(text) - _SAMPLE) // 2
    sample = text[middle:middle + _SAMPLE].encode("latin-1", "replace")
    return len(sample.translate(None, _NOT_COSTLY_ANCHOR)) >= _DENSE_MIN_ANCHORS


def find_pii(text: str) -> frozenset[str]:
    """Kinds of PII in ``text``: a subset of ``PII_KINDS``."""
    scanner = PiiScanner()
    scanner.scan(text)
    return frozenset(scanner.found)
