"""Each shortcut the feature extractor takes (issue 21) gives what the plain definition
gives: the definitions are written out here as they were before the shortcut."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from gateway.features import _head, _language_sample, _tail, language
from gateway.features.tokens import (
    _CLASS,
    _DEFAULT_HAN_SHARE,
    _DEFAULT_HANGUL_SHARE,
    _DEFAULT_KANA_SHARE,
    _K_ASCII,
    _K_DIGIT,
    _K_DOUBLE_SPACE,
    _K_FOUR_BYTE,
    _K_FULLWIDTH,
    _K_HAN_1,
    _K_HAN_N,
    _K_HANGUL_1,
    _K_HANGUL_N,
    _K_INDENT,
    _K_KANA_1,
    _K_KANA_N,
    _K_NEWLINE,
    _K_OTHER_3,
    _K_PUNCT,
    _K_PWORD,
    _K_SPACE,
    _K_TWO_BYTE,
    TokenTally,
    _mix,
)

DATA = Path(__file__).parent / "data"
LANGUAGE_ROWS = [json.loads(line)["text"]
                 for line in (DATA / "language.jsonl").read_text(encoding="utf-8").splitlines()]

# --- language --------------------------------------------------------------------------


def _plain_has_letters(s: str) -> bool:
    return any(c.isalpha() for c in s)


def _plain_looks_english(words: list[str]) -> bool:
    if len(words) < 3:
        return False
    hits = sum(1 for w in words[:120] if w.lower() in language._ENGLISH_WORDS)
    return hits >= 2 and hits >= language._ENGLISH_SHARE * min(len(words), 120)


def _plain_detect_language(text: str) -> str | None:
    """``detect_language`` as it was (the module's helpers, the old letter check)."""
    L = language
    sample = text[:L.SAMPLE_CHARS]
    noisy = "`" in sample or "@" in sample or "<" in sample or "://" in sample
    prose = L._NOISE_RE.sub(" ", sample) if noisy else sample
    if not _plain_has_letters(prose):
        prose = sample
    other = "" if prose.isascii() else "".join(L._NON_LATIN_RE.findall(prose))
    words = L._LATIN_RE.findall(prose)
    latin = sum(map(len, words))
    if not other:
        return L._latin_language(prose, latin, words) if latin else None
    counts = dict.fromkeys(L._SCRIPT_TAGS, 0)
    cjk_total = 0
    for tag, rx, _ in L._SCRIPT_RES[:3]:
        counts[tag] = n = L._count(rx, other)
        cjk_total += n
    if cjk_total * 2 < len(other):
        for tag, rx, _ in L._SCRIPT_RES[3:]:
            counts[tag] = L._count(rx, other)
    cjk = counts["han"] + counts["kana"] + counts["hangul"]
    best_tag, best = "", 0.0
    for tag, n in counts.items():
        if tag in ("han", "kana", "hangul"):
            continue
        if n * L._WEIGHTS[tag] > best:
            best_tag, best = tag, n * L._WEIGHTS[tag]
    if cjk * 3.0 > best:
        best_tag, best = "cjk", cjk * 3.0
    if best == 0 and latin == 0:
        return None
    if best > 0:
        if best * L._LATIN_DOMINANCE >= latin:
            return L._resolve_script(best_tag, counts, prose)
        if best * L._LATIN_MAX_DOMINANCE >= latin and not _plain_looks_english(words):
            return L._resolve_script(best_tag, counts, prose)
    return L._latin_language(prose, latin, words)


WORDS = st.lists(st.sampled_from(sorted(language._ENGLISH_WORDS) + [
    "The", "WHAT", "Écris", "straße", "İstanbul", "×", "÷", "`x`", "a@b.co", "<b>", "12",
    "le", "der", "qué", "你好", "\n", "", "https://x.y"]), max_size=30)


@settings(max_examples=500, deadline=None)
@given(WORDS)
def test_looks_english_is_its_definition(words: list[str]) -> None:
    assert language._looks_english(words) == _plain_looks_english(words)


@settings(max_examples=300, deadline=None)
@given(WORDS.map(" ".join) | st.text(max_size=40))
@example("× ÷")
@example("`code only`")
@example("12 + 34")
@example("`x` × and the")
def test_detect_language_is_its_definition(text: str) -> None:
    assert language.detect_language(text) == _plain_detect_language(text)


def test_detect_language_on_the_labelled_rows_is_its_definition() -> None:
    for text in LANGUAGE_ROWS:
        assert language.detect_language(text) == _plain_detect_language(text), text


def _plain_language_sample(turns: list[list[str]]) -> str:
    """The sample without its one-short-text shortcut (the module's `_head` and
    `_tail` are unchanged by it)."""
    latest = turns[-1]
    size = sum(len(p) + 1 for p in latest)
    if size <= 1200 + 400:
        pieces = [_head(latest, size)]
    else:
        pieces = [_head(latest, 1200), _tail(latest, 400)]
    budget = language.SAMPLE_CHARS - sum(map(len, pieces))
    for turn in reversed(turns[:-1]):
        if budget <= 0:
            break
        piece = _head(turn, min(200, budget))
        pieces.append(piece)
        budget -= len(piece) + 1
    return "\n".join(pieces)


TEXTS = st.integers(0, 3000).map(lambda n: ("Write one sentence about the sea. " * 100)[:n])


@settings(max_examples=500, deadline=None)
@given(st.lists(st.lists(TEXTS, min_size=1, max_size=3), min_size=1, max_size=3))
@example([["x" * 1598]])
@example([["x" * 1599]])
@example([["x" * 1600]])
def test_language_sample_is_its_definition(turns: list[list[str]]) -> None:
    assert _language_sample(turns) == _plain_language_sample(turns)


# --- the token total -------------------------------------------------------------------


def _plain_total(t: TokenTally) -> int:
    est = (
        t._fixed
        + _K_ASCII * t._ascii
        + _K_SPACE * t._space
        + _K_NEWLINE * t._newline
        + _K_DOUBLE_SPACE * t._dspace
        + _K_INDENT * t._indent
        + _K_PUNCT * t._punct
        + _K_DIGIT * t._digit
        + _K_PWORD * t._pword
        + _K_TWO_BYTE * t._two
        + _K_OTHER_3 * t._other3
        + _K_FOUR_BYTE * t._four
        + _K_FULLWIDTH * t._full
        + t._han * _mix(t._han_1, t._han_n, _DEFAULT_HAN_SHARE, _K_HAN_1, _K_HAN_N)
        + t._hangul * _mix(t._hangul_1, t._hangul_n, _DEFAULT_HANGUL_SHARE,
                           _K_HANGUL_1, _K_HANGUL_N)
        + t._kana * _mix(t._kana_1, t._kana_n, _DEFAULT_KANA_SHARE, _K_KANA_1, _K_KANA_N)
    )
    return max(0, round(est))


@settings(max_examples=500, deadline=None)
@given(st.lists(st.text(max_size=200) | st.sampled_from(LANGUAGE_ROWS[:200]), max_size=6),
       st.floats(-50, 5000, allow_nan=False))
def test_token_total_is_its_definition(texts: list[str], fixed: float) -> None:
    tally = TokenTally()
    for text in texts:
        tally.add_text(text)
    tally.add_fixed(fixed)
    assert tally.total() == _plain_total(tally)


def test_token_total_on_the_labelled_rows() -> None:
    for text in LANGUAGE_ROWS:
        tally = TokenTally()
        tally.add_text(text)
        assert tally.total() == _plain_total(tally)
        tally.add_fixed(-3.5)
        assert tally.total() == _plain_total(tally)



def _plain_counts(s: str) -> tuple[int, ...]:
    """The counts ``add_text`` makes of a string counted exactly, as it made them."""
    mapped = s.encode("utf-8", "surrogatepass").translate(_CLASS)
    return (s.count(" "), s.count("\n"), s.count("  "), s.count("\n "),
            mapped.count(b"p"), mapped.count(b"d"), mapped.count(b"pa"))


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list(' \n\t"{}:,.-_aZ09é中')), max_size=60)
       | st.text(max_size=60))
@example('{"a":"b c","d":[1,2]}')  # JSON: no newline
@example("no punctuation here\n  indented")
@example("")
def test_exact_counts_are_their_definition(s: str) -> None:
    tally = TokenTally()
    tally.add_text(s)
    got = (tally._space, tally._newline, tally._dspace, tally._indent, tally._punct,
           tally._digit, tally._pword)
    assert got == (_plain_counts(s) if s else (0,) * 7)
