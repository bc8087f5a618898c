"""PII detection: precision/recall on the labelled set, and the validators' edge cases."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from gateway.features import PII_KINDS, find_pii
from gateway.features import pii_validators as v

DATA = Path(__file__).parent / "data" / "pii.jsonl"


@pytest.fixture(scope="module")
def rows() -> list[dict[str, object]]:
    return [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]


def test_labelled_set_size(rows: list[dict[str, object]]) -> None:
    positives = [r for r in rows if r["kinds"]]
    negatives = [r for r in rows if not r["kinds"]]
    assert len(positives) >= 150 and len(negatives) >= 150
    per_kind = Counter(k for r in positives for k in r["kinds"])  # type: ignore[union-attr]
    assert set(per_kind) == PII_KINDS
    assert min(per_kind.values()) >= 20


def test_precision_and_recall(rows: list[dict[str, object]]) -> None:
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    errors = []
    for r in rows:
        found = find_pii(r["text"])  # type: ignore[arg-type]
        labels = set(r["kinds"])  # type: ignore[arg-type]
        assert found <= PII_KINDS
        for kind in PII_KINDS:
            if kind in found and kind in labels:
                tp[kind] += 1
            elif kind in found:
                fp[kind] += 1
                errors.append(("FP", kind, r["text"]))
            elif kind in labels:
                fn[kind] += 1
                errors.append(("FN", kind, r["text"]))
    print(f"\n{'kind':<16}{'tp':>4}{'fp':>4}{'fn':>4}{'precision':>10}{'recall':>8}")
    for kind in sorted(PII_KINDS):
        p = tp[kind] / max(1, tp[kind] + fp[kind])
        rc = tp[kind] / max(1, tp[kind] + fn[kind])
        print(f"{kind:<16}{tp[kind]:>4}{fp[kind]:>4}{fn[kind]:>4}{p:>10.3f}{rc:>8.3f}")
        assert p >= 0.95 and rc >= 0.9, (kind, errors)
    total_tp = sum(tp.values())
    precision = total_tp / (total_tp + sum(fp.values()))
    recall = total_tp / (total_tp + sum(fn.values()))
    print(f"{'overall':<28}{precision:>10.3f}{recall:>8.3f}")
    assert precision >= 0.98 and recall >= 0.95, errors


def test_reports_kinds_never_values() -> None:
    found = find_pii("mail bob@example.com, card 4111 1111 1111 1111")
    assert found == frozenset({"email", "credit_card"})
    assert all(k in PII_KINDS for k in found)


@pytest.mark.parametrize(("digits", "ok"), [
    ("4111111111111111", True), ("4111111111111112", False), ("378282246310005", True),
    ("6011111111111117", True), ("5555555555554444", True), ("1234567812345670", False),
])
def test_card_validation(digits: str, ok: bool) -> None:
    assert v.is_card(digits) is ok


@pytest.mark.parametrize(("value", "ok"), [
    ("11010519491231002X", True), ("11010519491231002x", True),
    ("110105194912310021", False),  # wrong check character
    ("110105194902300024", False),  # 30 February
    ("990105194912310021", False),  # no such province
])
def test_cn_resident_id_validation(value: str, ok: bool) -> None:
    assert v.is_cn_resident_id(value) is ok


@pytest.mark.parametrize(("value", "ok"), [
    ("DE89370400440532013000", True), ("GB29NWBK60161331926819", True),
    ("DE89370400440532013001", False), ("DE8937040044053201300", False), ("XX89370400440532013000", False),
])
def test_iban_validation(value: str, ok: bool) -> None:
    assert v.is_iban(value) is ok


@pytest.mark.parametrize(("text", "kinds"), [
    ("ssn 078-05-1120", {"us_ssn"}), ("ssn 000-12-3456", set()), ("ssn 666-12-3456", set()),
    ("ssn 912-34-5678", set()), ("ssn 123-00-4567", set()), ("ssn 123-45-0000", set()),
    ("call 415-555-2671", {"phone"}), ("call 415-555-2671-9", set()),
    ("id 11010519491231002X", {"cn_resident_id"}), ("手机 13812345678", {"phone"}),
    ("x = 13812345678901", set()),
    ("GB29 NWBK 6016 1331 9268 19 is my IBAN", {"iban"}),
    ('password = "changeme"', set()), ('password = "Xk9#mP2vL5q!w"', {"credential"}),
    ("token: ghp_" + "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bD1fH3jL5", {"credential"}),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n",
     {"credential"}),
])
def test_cases(text: str, kinds: set[str]) -> None:
    assert find_pii(text) == kinds


def test_rejected_candidate_does_not_hide_a_valid_one() -> None:
    # The assignment candidate fails (value is a function call) but the key inside wins.
    key = "sk-proj-" + "Zx8kq2LmP9wRt5Yb3Nc7Vd1Hf6Jg4Ks0"
    assert find_pii(f"api_key = load({key})") == {"credential"}


def test_every_kind_in_one_long_text() -> None:
    filler = "Lorem ipsum dolor sit amet, version 1.2.3, build 20240101. " * 2000
    text = (filler + "bob@example.com " + filler + "+44 20 7946 0958 4111111111111111 "
            "11010519491231002X DE89370400440532013000 078-05-1120 "
            "AKIA" + "Q7W3E9R1T5Y2U8I4" + " " + filler)
    assert find_pii(text) == PII_KINDS
