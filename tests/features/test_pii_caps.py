"""What the scanner's shortcuts and budgets still find (issue 17's speed work).

Each shortcut skips work on text made of near misses; these tests put real PII after
(and among) a megabyte of them, where the shortcut could have missed it:
- a PEM header followed by header lines is charged to the validation budget;
- digits whose triggers are dense are searched piece by piece, each piece charged;
- a frequent anchor is searched by its literal beginnings ("AKIA", "Bearer ", "sk-");
- secret names are read along a trie, the value probed first.
Past the budget a kind is reported unverified (fail closed), never dropped.
"""

from __future__ import annotations

import pytest

from gateway.features import extract_features, find_pii, pii
from gateway.features.pii import PiiScanner

from .adversarial import repeat

MB = 1_000_000
_KEY = "Zx8kq2LmP9wRt5Yb3Nc7Vd1Hf6Jg4Ks"
_PEM = (f"-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA{_KEY}{_KEY}\n"
        "-----END RSA PRIVATE KEY-----\n")


def _scan(text: str) -> PiiScanner:
    scanner = PiiScanner()
    scanner.scan(text)
    return scanner


@pytest.mark.parametrize("where", [0, MB // 2, MB])
def test_pem_key_among_a_megabyte_of_pem_headers_is_reported(where: int) -> None:
    fake = repeat("-----BEGIN PRIVATE KEY-----\\nA: b", MB)
    scanner = _scan(fake[:where] + "\n" + _PEM + fake[where:])
    assert "credential" in scanner.found


def test_pem_key_after_a_few_pem_headers_is_verified() -> None:
    # Under the budget every header is tested: the key is found, not assumed.
    fake = repeat("-----BEGIN PRIVATE KEY-----\\nA: b", 3_000) + ", " * 2_000
    scanner = _scan(fake + "\n" + _PEM)
    assert scanner.found == {"credential"} and not scanner.unverified
    assert _scan(fake).found == set()


def test_pem_headers_alone_fail_closed_past_the_budget() -> None:
    # A megabyte of headers with header lines and no key: the budget runs out, so the
    # request counts as holding a credential (it reads ~0.7 us a header otherwise).
    scanner = _scan(repeat("-----BEGIN PRIVATE KEY-----\\nA: b", MB))
    assert scanner.found == scanner.unverified == {"credential"}


@pytest.mark.parametrize(("pii_text", "kind"), [
    (" card 4111 1111 1111 1111 ", "credit_card"), (" ssn 078-05-1120 ", "us_ssn"),
    (" call +44 20 7946 0958 ", "phone"), (" id 11010519491231002X ", "cn_resident_id"),
])
def test_valid_numbers_after_a_megabyte_of_dense_near_numbers_are_reported(pii_text: str,
                                                                          kind: str) -> None:
    # "415-155-2671" has the shape of a US number but an exchange starting with 1: its
    # triggers are dense, there is no candidate; the digit search is charged per piece.
    for filler in ("415-155-2671 ", "010-6552 998 ", "1234567890123456789a "):
        text = repeat(filler, MB) + pii_text
        scanner = _scan(text)
        assert kind in scanner.found, (filler, kind)


def test_valid_numbers_among_a_few_dense_near_numbers_are_verified() -> None:
    # Dense triggers, but few enough digits that the charged search stays in budget: the
    # card is found and verified, and nothing else is reported.
    filler = repeat("415-155-2671 ", 6_000)
    scanner = _scan(filler + " card 4111 1111 1111 1111 " + filler)
    assert scanner.found == {"credit_card"} and not scanner.unverified
    assert not pii.PiiScanner()._scan_digits(filler)  # (the triggers are dense)


@pytest.mark.parametrize(("filler", "secret", "kind"), [
    ("pwd=", 'password = "Xk9#mP2vL5q!w"', "credential"),
    ("aaaaaawd=", 'password = "Xk9#mP2vL5q!w"', "credential"),
    ("aaaaa_key:", f"api_key: {_KEY}", "credential"),
    ("AB12 ", "AKIAQ7W3E9R1T5Y2U8I4", "credential"),
    ("Bearer ", f"Authorization: Bearer {_KEY}", "credential"),
    ("sk-", f"sk-proj-{_KEY}0Qa2We4", "credential"),
    ("-eyJ", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl", "credential"),
    ("xoxb-", "xoxb-1234567890-Zx8kq2LmP9", "credential"),
])
def test_secret_after_a_megabyte_of_its_near_misses_is_reported(filler: str, secret: str,
                                                                kind: str) -> None:
    text = repeat(filler, MB) + " \n " + secret + " \n"
    assert kind in find_pii(text)
    body = {"model": "m", "messages": [{"role": "user", "content": text}]}
    assert kind in extract_features(body).pii
