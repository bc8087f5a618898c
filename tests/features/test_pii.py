"""PII detection: precision/recall on the labelled set, the validators' edge cases, and the
per-anchor scan of digit-dense text against the one-pass reference."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.features import PII_KINDS, find_pii, pii
from gateway.features import pii_validators as v
from gateway.features.pii import PiiScanner

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


# --- the per-anchor scan (digit-dense text) finds what one pass finds --------------------

def _reference_kinds(text: str) -> set[str]:
    """Straightforward scan: one combined regex, resuming one character after each anchor."""
    found: set[str] = set()
    pos = 0
    while (m := pii._RE.search(text, pos)) is not None:
        pos = m.start() + 1
        kind = pii._classify(m.start(), m.end(), text, found)
        if kind is not None:
            found.add(kind)
    return found


def _per_anchor_kinds(text: str) -> set[str]:
    scanner = PiiScanner()
    scanner._scan_per_anchor(text)
    return scanner.found


def _assert_same_candidates(text: str, monkeypatch: pytest.MonkeyPatch) -> int:
    """Both scans yield the same candidate spans: digit candidates in the same (text) order,
    since their classification depends on what came before; the others in any order.
    Returns the number of candidates."""
    seen: list[tuple[int, int]] = []

    def record(start: int, end: int, text: str, found: set[str]) -> None:
        seen.append((start, end))

    with monkeypatch.context() as m:
        m.setattr(pii, "_classify", record)
        m.setattr(pii, "_TRIGGER_SPACING", 1)  # never fall back to one pass
        PiiScanner()._scan_one_pass(text)
        one = list(seen)
        seen.clear()
        PiiScanner()._scan_per_anchor(text)
    per_anchor = seen
    assert [s for s in per_anchor if text[s[0]].isdigit()] == [s for s in one if text[s[0]].isdigit()]
    assert sorted(per_anchor) == sorted(one)
    return len(one)


def _luhn_complete(body: str) -> str:
    return next(body + c for c in "0123456789" if v.luhn_ok(body + c))


_JSON_PII = {
    "email": "maria.garcia@example.com",
    "credit_card": _luhn_complete("411111111111111"),
    "credential": "Zx8kq2LmP9wRt5Yb3Nc7Vd1Hf6Jg4Ks",  # under "api_key"
    "phone": "13812345678",
}
_JSON_NEAR_MISSES = [
    "4111111111111112", "2024-02-28T15:37:00.123456Z", "0211202c-4fee-0784-a481-3648c76627fa",
    "37.7749", "-122.4194", "192.168.100.200", "v1.22.333", "555-12-345", "000-12-3456",
    "11010519491231002A", "DE00370400440532013000", "changeme", "${API_KEY}", "1714000000000",
    "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
]


def _json_doc(rng: random.Random, embed: list[tuple[str, str]]) -> str:
    records = []
    for i in range(rng.randint(20, 60)):
        records.append({
            "id": rng.randint(1, 999_999), "name": rng.choice(["Emma Silva", "Li Wei", "Bob Kim"]),
            "amount": round(rng.uniform(0, 5000), rng.randint(0, 4)),
            "created": f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T"
                       f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z",
            "uuid": "-".join(f"{rng.getrandbits(4 * n):0{n}x}" for n in (8, 4, 4, 4, 12)),
            "scores": [rng.randint(0, 10_000) for _ in range(rng.randint(0, 6))],
            "ok": rng.random() < 0.5, "n": i,
        })
    for key, value in embed:
        records[rng.randrange(len(records))][key] = value
    return json.dumps({"data": records, "page": 1}, indent=rng.choice([None, 2]), ensure_ascii=False)


@pytest.mark.parametrize("seed", range(6))
def test_json_with_pii_per_anchor_equals_reference(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    kinds = rng.sample(sorted(_JSON_PII), rng.randint(1, len(_JSON_PII)))
    embed = [("api_key" if k == "credential" else k, _JSON_PII[k]) for k in kinds]
    embed += [("note", rng.choice(_JSON_NEAR_MISSES)) for _ in range(3)]
    doc = _json_doc(rng, embed)
    assert len(doc) >= pii._DENSE_MIN_LEN and pii._anchor_dense(doc)  # the per-anchor path
    assert find_pii(doc) == _per_anchor_kinds(doc) == _reference_kinds(doc) == set(kinds)
    assert _assert_same_candidates(doc, monkeypatch) >= len(kinds)


@pytest.mark.parametrize("seed", range(4))
def test_json_near_misses_per_anchor_equals_reference(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(100 + seed)
    doc = _json_doc(rng, [(f"k{i}", value) for i, value in enumerate(_JSON_NEAR_MISSES)])
    assert pii._anchor_dense(doc)
    assert find_pii(doc) == _reference_kinds(doc) == set()
    assert _assert_same_candidates(doc, monkeypatch) > 0  # rejected by the validators


_KEY = "Zx8kq2LmP9wRt5Yb3Nc7Vd1Hf6Jg4Ks"
_SECRET_SHAPES = [
    "password: Xk9#mP2vL5q!w", '"password": "Xk9#mP2vL5q!w"', "'password': 'Xk9#mP2vL5q!w'",
    '"password" : "Xk9#mP2vL5q!w"', "'passwd' : 'Xk9#mP2vL5q!w'", 'PASSWORD = "Xk9#mP2vL5q!w"',
    '"_paſs": "Xk9#mP2vL5q!w"', f"ApiKey: '{_KEY}'", f'SECRET_KEY="{_KEY}"', f"CREDENTIALS={_KEY}",
    f'access-key => "{_KEY}"', f"auth_key := {_KEY}", f"token: Bearer {_KEY}",
    f"sk-proj-{_KEY}0Qa2We4", f"sk-ant-api03-{_KEY}", "xoxb-1234567890-Zx8kq2LmP9",
    "xoxs-1234567890-Zx8kq2LmP9", *(f"gh{c}_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bD1fH3jL5" for c in "pousr"),
    f"github_pat_{_KEY}_{_KEY}", f"sk_live_{_KEY}", f"rk_test_{_KEY}", "AKIAQ7W3E9R1T5Y2U8I4",
    "ASIAQ7W3E9R1T5Y2U8I4", f"AIza{_KEY}Ab3Z", f"Authorization: Bearer {_KEY}",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl",
    f"-----BEGIN RSA PRIVATE KEY-----\\nMIIEpAIBAAKCAQEA{_KEY}{_KEY}",
    "https://admin:Xk9#mP2vL5q@db.example.com", f"https://ghp_{_KEY}0Qa2We4@github.com/org/repo",
    "mary.jones@example.com",
]


def _dense_doc(value: str, copies: int = 40) -> str:
    line = '{{"id": {i}, "at": "2024-01-02T03:04:05Z", "n": [1, 22, 333], "v": {v}}},\n'
    lines = [line.format(i=i, v="null") for i in range(copies)]
    lines[copies // 2] = line.format(i=0, v=value)
    return "".join(lines)


@pytest.mark.parametrize("shape", _SECRET_SHAPES)
def test_secret_shapes_per_anchor_equals_reference(shape: str, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = _dense_doc(shape)
    assert len(doc) >= pii._DENSE_MIN_LEN and pii._anchor_dense(doc)
    assert _per_anchor_kinds(doc) == _reference_kinds(doc) and _reference_kinds(doc)
    assert _assert_same_candidates(doc, monkeypatch) > 0


def test_labelled_set_per_anchor_equals_reference(rows: list[dict[str, object]]) -> None:
    # Every labelled text (positives and near-misses) in a digit-dense document, as it is
    # and as a JSON string.
    for r in rows:
        text = str(r["text"])
        for doc in (_dense_doc(text), _dense_doc(json.dumps(text))):
            assert _per_anchor_kinds(doc) == _reference_kinds(doc), text


# Every digit shape (and its separators), with what may precede and follow it.
_DIGIT_SHAPES = [
    "4111 1111 1111 1111", "4111-1111-1111-1111", "3782 822463 10005", "4111111111111111",
    "6011 1111 1111 1117 12", "078-05-1120", "415-555-2671", "415.555.2671", "415 555 2671",
    "1-415-555-2671", "1 415 555 2671", "1.415.555.2671", "1415-555-2671", "(415) 555-2671",
    "(415)555-2671", "(415) 555.2671", "138 1234 5678", "138-1234-5678", "13812345678",
    "86 13812345678", "86-13812345678", "86 138 1234 5678", "86138-1234-5678",
    "8613812345678", "+44 20 7946 0958", "+49 30 123 456 78", "+1 (415) 555-2671",
    "+33-123-4567", "11010519491231002X", "110105194912310021", "GB29 NWBK 6016 1331 9268 19",
    "DE89370400440532013000", "DE89 3704 0044 0532 0130 00", "123456789X", "12345678901234567890",
]


@pytest.mark.parametrize("shape", _DIGIT_SHAPES)
def test_digit_shapes_in_json_per_anchor_equals_reference(shape: str, monkeypatch: pytest.MonkeyPatch) -> None:
    values = [f"{before}{shape}{after}" for before in ("", "x", "1-", "+", "(")
              for after in ("", "5", "X", "-5", ".5", " 5", "-e")]
    doc = "".join(f'{{"id": {i}, "at": "2024-01-02T03:04:05Z", "v": {value}, "w": "{value}"}},\n'
                  for i, value in enumerate(values))
    assert pii._anchor_dense(doc)
    assert _per_anchor_kinds(doc) == _reference_kinds(doc)
    assert _assert_same_candidates(doc, monkeypatch) > 0


_SHAPE_TEXT = st.lists(
    st.sampled_from([
        "0", "1", "4", "7", "86", "415", "2671", "1111", "12345", "13812345678", "4111111111111111",
        "11010519491231002", "X", "x", "a", "GB", "DE89", " ", " ", "-", ".", "(", ")", ") ", "+",
        "+44 ", "_", ":", "=", "\"", "\n", ",", "ü", "中", "sk-", "AKIA", "@", "password",
    ]) | st.text(alphabet="0123456789 -.()+AXa_:,", max_size=12),
    max_size=120,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(_SHAPE_TEXT)
def test_per_anchor_candidates_equal_one_pass(text: str) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        _assert_same_candidates(text, monkeypatch)


def test_dense_triggers_fall_back_to_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(3)
    table = " ".join(str(rng.choice([rng.randint(10, 999), rng.randint(1000, 9999)])) for _ in range(3000))
    doc = table + " call 415-555-2671 "
    assert pii._anchor_dense(doc) and not PiiScanner()._scan_digits(doc)
    # 1,295 candidates: more than the validation budget, so a real scan fails closed
    assert find_pii(doc) == pii._DIGIT_KINDS
    monkeypatch.setattr(pii, "_BUDGET_BASE", 10**6)
    assert find_pii(doc) == _per_anchor_kinds(doc) == _reference_kinds(doc) >= {"phone"}


def test_digit_reach_covers_the_digit_pattern() -> None:
    # Searches in windows are exact only if a candidate cannot read past _DIGIT_REACH
    # (the longest match plus the 2 characters its lookaheads look at).
    width = re._parser.parse(pii._DIGIT_RE.pattern).getwidth()[1]  # type: ignore[attr-defined]
    assert width + 2 <= pii._DIGIT_REACH


@pytest.mark.parametrize(("text", "kinds"), [
    ("call +33-123-4567", {"phone"}),  # 9 digits, two dashes: not the SSN layout
    ("+12-345-6789", set()), ("+691-1331-51", {"phone"}), ("ssn 078-05-1120", {"us_ssn"}),
])
def test_ssn_needs_its_layout(text: str, kinds: set[str]) -> None:
    assert find_pii(text) == kinds
