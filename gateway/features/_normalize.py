"""What the PII scanner reads: obfuscation undone at a few ns a character.

Full-width forms, circled, super/subscript and mathematical digits and letters become
plain ASCII (NFKC where NFKC yields ASCII), and invisible characters are removed, so
``ａｎｎ＠ｅｘａｍｐｌｅ．ｃｏｍ`` and a card number split by zero-width spaces count.
"""

from __future__ import annotations

import re
import sys
import unicodedata

__all__ = ["needs_normalizing", "normalize"]

# What the scanner reads is NFKC where NFKC makes ASCII: full-width forms (＠, ４, ｅ),
# circled, super/subscript and mathematical digits and letters map to plain ASCII, so
# obfuscated PII counts; invisible characters that split a number or an address without
# showing (zero-width space/non-joiner/joiner, LRM/RLM, word joiner, invisible operators,
# BOM, soft hyphen, Mongolian vowel separator) are removed. The table is built once from
# ``unicodedata``; it is applied only to strings that hold one of its characters other
# than the full-width punctuation and ideographic space of ordinary CJK prose, which
# PII patterns do not need (most Chinese and Japanese text is then read as it is).
_INVISIBLE = "\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff\u00ad\u180e"
_COMPAT: dict[int, str | None] = {
    c: n for block in (range(0x80, 0x10000), range(0x1D400, 0x1D800), range(0x1F100, 0x1F200))
    for c in block if (n := unicodedata.normalize("NFKC", chr(c))) != chr(c) and n.isascii()
}
_COMPAT.update(dict.fromkeys(map(ord, _INVISIBLE)))
# Strings are normalized only if they hold a character of these blocks: full-width
# digits, letters and @ . - + _ = / (not the full-width punctuation of CJK prose), Latin-1
# superscripts and fractions, super/subscripts, letterlike symbols and number forms,
# enclosed alphanumerics, dingbat digits, ligatures, mathematical and enclosed
# alphanumerics, and the invisible characters. A few ranges keep the test at a few ns a
# character (a class of 1,400 single characters cost ~400).
_NEEDS_NORMALIZING = re.compile(
    "[\uff0b\uff0d-\uff0f\uff10-\uff19\uff1d\uff20-\uff3a\uff3f\uff41-\uff5a"
    "\u00aa\u00b2\u00b3\u00b9\u00ba\u00bc-\u00be\u2070-\u209f\u2100-\u218f\u2460-\u24ff"
    "\u2776-\u2793\ufb00-\ufb06" + _INVISIBLE + "]"
)
# Mathematical and enclosed alphanumerics lie beyond the BMP: only strings stored 4 bytes
# a character can hold them (``re`` tests a BMP-only class in a table, a wider one range
# by range: 3 against 7 ns a character).
_NEEDS_NORMALIZING_WIDE = re.compile("[\U0001d400-\U0001d7ff\U0001f100-\U0001f1ff]")


def _wide(text: str) -> bool:
    """Could ``text`` hold a character beyond U+FFFF (is it stored 4 bytes a character)?
    Sizes only: short strings may answer True, which costs one search."""
    return sys.getsizeof(text) >= 4 * len(text) + 40


# CJK (and Hangul): NFKC is slow on it (~185 ns a character), and fast on everything else
# (~20); CJK strings get the table instead (``_translate``: a few ns a character).
_CJK = re.compile("[\u2e80-\ufaff\uac00-\ud7af]")


def _ranges(codes: list[int]) -> str:
    """A character class body for ``codes`` (sorted), as ranges: ``re`` then tests a
    BMP-only class in a table, not character by character."""
    out: list[str] = []
    first = last = codes[0]
    for c in [*codes[1:], -1]:
        if c == last + 1:
            last = c
            continue
        out.append(re.escape(chr(first)) + ("" if first == last else "-" + re.escape(chr(last))))
        first = last = c
    return "".join(out)


# The table's BMP characters, for strings stored 1 or 2 bytes a character.
_COMPAT_BMP = re.compile("[" + _ranges(sorted(c for c in _COMPAT if c < 0x10000)) + "]")
_COMPAT_STR = {chr(c): n or "" for c, n in _COMPAT.items()}
# ``str.translate`` with a dict costs ~50 ns a character on CJK (a dict lookup each);
# ``str.replace`` of one character everywhere ~1. Up to this many distinct characters of
# the table are replaced one by one; past that, the rest of the string is translated.
_MAX_REPLACED = 8


def _translate(text: str, pos: int = 0) -> str:
    """``text.translate(_COMPAT)`` for a string stored 1 or 2 bytes a character with no
    table character before ``pos``, by ``str.replace`` of each table character present
    (most CJK text holds a few: full-width comma, digits, colon)."""
    for _ in range(_MAX_REPLACED):
        m = _COMPAT_BMP.search(text, pos)
        if m is None:
            return text
        # No table character before ``pos``, and what replaces one is ASCII: the first
        # occurrence of the next one is where the search finds it.
        pos = m.start()
        text = text.replace(m.group(), _COMPAT_STR[m.group()])
        if text.isascii():  # O(1): a flag of the string
            return text
    if _COMPAT_BMP.search(text, pos) is None:
        return text
    return text[:pos] + text[pos:].translate(_COMPAT)


# Most strings to normalize are ASCII with a few table characters (＠, full-width digits):
# these are replaced one by one (at most _MAX_GUESSED distinct ones, stopping at the first
# non-ASCII character outside the table). If the string is then ASCII it is NFKC's string
# too: NFKC maps each table character to ASCII on its own (its decomposition is ASCII,
# and ASCII composes with nothing). 1 MB of "＠": 1 ms, against 4 to look for CJK and 11
# of NFKC.
_NON_ASCII = re.compile("[^\x00-\x7f]")
_MAX_GUESSED = 4
_ASCII_FORM = {chr(c): n for c, n in _COMPAT.items() if n is not None}  # (not the invisible)


def _replace_table_chars(text: str) -> tuple[str, int]:
    """``text`` with its first table characters replaced, and where the next non-ASCII
    character is (-1: none, the string is ASCII)."""
    pos = 0
    for _ in range(_MAX_GUESSED):
        m = _NON_ASCII.search(text, pos)
        if m is None:
            return text, -1
        pos = m.start()
        if (ascii_form := _ASCII_FORM.get(m.group())) is None:
            return text, pos
        text = text.replace(m.group(), ascii_form)
        if text.isascii():  # O(1): a flag of the string
            return text, -1
    return text, pos


def _to_ascii_forms(text: str) -> str:
    if _wide(text):
        if _CJK.search(text) is None:
            return unicodedata.normalize("NFKC", text)
        return text.translate(_COMPAT)
    forms, stop = _replace_table_chars(text)
    if stop < 0:
        return forms  # NFKC's string and the table's
    if _CJK.search(text) is None:
        return unicodedata.normalize("NFKC", text)  # the same ASCII as the table, faster
    return _translate(forms, stop)  # (the table maps what was replaced to ASCII, kept)


def _utf8_class(chars: list[str]) -> re.Pattern[bytes]:
    """A pattern that finds, in UTF-8, any of ``chars`` (all sharing a lead byte): a
    branch per byte string before the last byte, which is a class."""
    by_head: dict[bytes, set[int]] = {}
    for c in chars:
        b = c.encode("utf-8")
        by_head.setdefault(b[:-1], set()).add(b[-1])
    return re.compile(b"|".join(
        re.escape(head) + b"[" + b"".join(re.escape(bytes([x])) for x in sorted(tail)) + b"]"
        for head, tail in sorted(by_head.items())))


# The same characters, found in the string's UTF-8 (each pattern starts with a lead byte,
# which no continuation byte equals, so a match is one whole character). Most non-ASCII
# strings to scan are English or code with a few other characters (typographic quotes,
# an accented name, CJK greetings), stored 2 bytes a character: a class search on them
# costs ~3 ns a character (3 ms a MB, as much as the PII scan itself); encoding them,
# ``memchr`` for the five lead bytes and, for a lead byte present, a search that skips to
# it cost ~1 ns (typographic quotes share the lead byte of zero-width spaces: ~1.5 ns).
_CANDIDATES = [chr(c) for block in (range(0x80, 0x2800), range(0xfb00, 0x10000),
                                     range(0x1d400, 0x1d800), range(0x1f100, 0x1f200))
               for c in block
               if _NEEDS_NORMALIZING.match(chr(c)) or _NEEDS_NORMALIZING_WIDE.match(chr(c))]
_BY_LEAD = {lead: _utf8_class([c for c in _CANDIDATES if c.encode("utf-8")[0] == lead]).search
            for lead in sorted({c.encode("utf-8")[0] for c in _CANDIDATES})}
_LEADS = tuple((bytes([lead]), search) for lead, search in _BY_LEAD.items())
# Strings are encoded in pieces: a string full of them (1 MB of "＠") stops at the first.
# The first _HEAD characters of a piece tell whether it is mostly CJK.
_PIECE = 65536
_HEAD = 256


def needs_normalizing(text: str) -> bool:
    """Does ``text`` hold a character that ``normalize`` changes?"""
    for i in range(0, len(text), _PIECE):
        head = text[i:i + _HEAD]
        if len(head.encode("utf-8", "surrogatepass")) > 2 * len(head):
            # Mostly CJK (3 bytes a character, and full-width punctuation shares the lead
            # byte of full-width letters): the class search costs less (1.2 against 1.6 ms
            # for 1 MB of Chinese).
            return (_NEEDS_NORMALIZING.search(text, i) is not None
                    or (_wide(text) and _NEEDS_NORMALIZING_WIDE.search(text, i) is not None))
        data = text[i:i + _PIECE].encode("utf-8", "surrogatepass")  # lone surrogates: no error
        for lead, search in _LEADS:
            if lead in data and search(data) is not None:
                return True
    return False


def normalize(text: str) -> str:
    """``text`` as the scanner reads it (see ``_COMPAT``)."""
    if not needs_normalizing(text):
        return text
    m = _NEEDS_NORMALIZING.search(text)
    if m is None:
        if not _wide(text) or _NEEDS_NORMALIZING_WIDE.search(text) is None:
            return text
        return _to_ascii_forms(text)
    for ch in _INVISIBLE:  # str.replace: ~1 ns a character, translate ~50
        if ch in text:
            text = text.replace(ch, "")
    if m.group() not in _INVISIBLE or _NEEDS_NORMALIZING.search(text) is not None:
        text = _to_ascii_forms(text)
    return text
