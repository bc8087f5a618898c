"""Validators that turn regex candidates into PII findings.

A regex only says "looks like"; these checks say "is": checksums (Luhn, ISO 7064 mod 11-2,
ISO 13616 mod 97), calendar dates, issuer prefixes, numbering-plan rules and, for secrets,
how random the value is. Each runs only on the few candidates the scanner's regex yields.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from operator import mul
from datetime import date

# --- payment cards -------------------------------------------------------------------

# A doubled Luhn digit, by character (the candidates' digits are ASCII).
_DOUBLED = {str(d): 2 * d - 9 * (d > 4) for d in range(10)}


def luhn_ok(digits: str) -> bool:
    if digits.isascii() and digits.isdigit():  # in C: ~3x faster than the loop below
        total = sum(map(int, digits[-1::-2])) + sum(map(_DOUBLED.__getitem__, digits[-2::-2]))
        return total % 10 == 0
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card_lengths(digits: str) -> range | tuple[int, ...]:
    """Valid lengths for the issuer of ``digits`` (empty if no known IIN)."""
    d1, d2, d4 = int(digits[0]), int(digits[:2]), int(digits[:4])
    d3, d6 = int(digits[:3]), int(digits[:6])
    if d1 == 4:
        return (13, 16, 19)  # Visa
    if 51 <= d2 <= 55 or 2221 <= d4 <= 2720:
        return (16,)  # Mastercard
    if d2 in (34, 37):
        return (15,)  # American Express
    if d4 == 6011 or 644 <= d3 <= 649 or d2 == 65 or 622126 <= d6 <= 622925:
        return range(16, 20)  # Discover
    if 3528 <= d4 <= 3589:
        return range(16, 20)  # JCB
    if 300 <= d3 <= 305 or d2 in (36, 38, 39) or d4 == 3095:
        return range(14, 20)  # Diners Club
    if d2 == 62 or d2 == 81:
        return range(16, 20)  # UnionPay
    if d2 in (50, 56, 57, 58, 67) or d2 == 63:
        return range(12, 20)  # Maestro
    if d4 in (2200, 2201, 2202, 2203, 2204):
        return (16,)  # Mir
    return ()


def is_card(digits: str) -> bool:
    return (13 <= len(digits) <= 19 and len(digits) in _card_lengths(digits)
            and luhn_ok(digits))


# --- Chinese resident identity card (GB 11643-1999) ---------------------------------

_CN_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CN_CHECK = "10X98765432"
# First two digits: province-level division codes.
_CN_PROVINCES = frozenset({
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
    50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83, 91,
})


_FIRST_BORN, _LAST_BORN = date(1900, 1, 1), date(2100, 1, 1)


def is_cn_resident_id(s: str) -> bool:
    if len(s) != 18 or not s[:17].isdigit() or not (s[17].isdigit() or s[17] in "Xx"):
        return False
    if int(s[:2]) not in _CN_PROVINCES:
        return False
    try:
        born = date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return False
    if not _FIRST_BORN <= born <= _LAST_BORN:
        return False
    total = sum(map(mul, map(int, s[:17]), _CN_WEIGHTS))
    return _CN_CHECK[total % 11] == s[17].upper()


# --- IBAN (ISO 13616) ----------------------------------------------------------------

IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}


def is_iban(compact: str) -> bool:
    """``compact``: upper-case IBAN without spaces."""
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact[2:4].isdigit():
        return False
    if not compact[4:].isalnum() or not compact.isascii():
        return False
    rearranged = compact[4:] + compact[:4]
    # ISO 13616's letter values, A (or a) = 10 ... Z = 35, as int(c, 36) gives them.
    return int(rearranged.translate(_IBAN_LETTERS)) % 97 == 1


_IBAN_LETTERS = {ord(c): str(int(c, 36))
                 for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"}
# The first ``want`` characters other than spaces, by length (``_first_chars``).
_FIRST: dict[int, re.Pattern[str]] = {}


def _first_chars(want: int) -> re.Pattern[str]:
    rx = _FIRST.get(want)
    if rx is None:
        rx = _FIRST[want] = re.compile(f"(?: *[^ ]){{{want}}}")
    return rx


def iban_prefix(text: str) -> str | None:
    """The IBAN that ``text`` starts with (spaces allowed between groups), if valid."""
    want = IBAN_LENGTHS.get(text[:2])
    if want is None:
        return None
    m = _first_chars(want).match(text)
    if m is None:
        return None
    # The IBAN must end at a token boundary: grouped text may run into following words.
    i = m.end()
    if i < len(text) and text[i].isalnum():
        return None
    compact = m.group().replace(" ", "")
    return compact if is_iban(compact) else None


# --- US Social Security number -------------------------------------------------------

def is_ssn(area: str, group: str, serial: str) -> bool:
    a = int(area)
    return a != 0 and a != 666 and a < 900 and group != "00" and serial != "0000"


# --- phone numbers -------------------------------------------------------------------

# ITU-T E.164 country calling codes in use (1 and 7 are whole zones).
_CC2 = frozenset({
    20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49, 51, 52, 53,
    54, 55, 56, 57, 58, 60, 61, 62, 63, 64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94,
    95, 98,
})
_CC3_RANGES = (
    (211, 212), (212, 219), (220, 259), (260, 270), (290, 292), (297, 300), (350, 360),
    (370, 383), (385, 388), (389, 390), (420, 424), (500, 510), (590, 600), (670, 693),
    (850, 851), (852, 854), (855, 857), (880, 881), (886, 887), (960, 969), (970, 978),
    (992, 999),
)


def country_code_len(digits: str) -> int:
    """Length of the valid calling code ``digits`` starts with, 0 if none."""
    if digits[0] in "17":
        return 1
    if len(digits) >= 2 and int(digits[:2]) in _CC2:
        return 2
    if len(digits) >= 3:
        cc = int(digits[:3])
        if any(lo <= cc < hi for lo, hi in _CC3_RANGES):
            return 3
    return 0


def is_international_phone(digits: str) -> bool:
    """``digits``: everything after the '+', separators removed."""
    cc = country_code_len(digits)
    if not cc or not 8 <= len(digits) <= 15:
        return False
    national = digits[cc:]
    if digits[0] == "1":  # NANP: area code and exchange cannot start with 0 or 1
        return len(national) == 10 and national[0] in "23456789" and national[3] in "23456789"
    if digits[:2] == "86" and national.startswith("1"):
        return len(national) == 11 and national[1] in "3456789"
    return len(national) >= 6 and len(set(national)) > 2


def is_nanp(digits: str) -> bool:
    """10 digits (or 11 with a leading 1) forming a valid North American number."""
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    return (len(digits) == 10 and digits[0] in "23456789" and digits[1] != "9"
            and digits[3] in "23456789" and digits[4:6] != "11")


def is_cn_mobile(digits: str) -> bool:
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return len(digits) == 11 and digits[0] == "1" and digits[1] in "3456789"


# --- email ---------------------------------------------------------------------------

# Two-letter TLDs are accepted as country codes; longer ones must be common generic TLDs,
# which keeps "icon@2x.png", "x@W.weight" (matrix multiply) and npm/pip specifiers out.
_GTLDS = frozenset("""
com net org edu gov mil int info biz name pro mobi asia tel travel jobs aero coop museum
io ai co app dev cloud tech online site xyz me tv cc ly gg sh so to fm im la gl
email mail inc ltd llc company business services solutions systems network digital
agency studio design media news blog shop store academy school university global world
team group center live life today space website host page link click one top club vip
""".split())  # noqa: SIM905 - a word list reads better as text


def valid_email_domain(domain: str) -> bool:
    labels = domain.lower().split(".")
    if len(labels) < 2:
        return False
    tld = labels[-1]
    if not tld.isalpha():
        return False
    return len(tld) == 2 or tld in _GTLDS


_LOCAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")


def email_local_part(text: str, at: int) -> str:
    """The email local part ending just before ``text[at] == '@'`` (may be empty)."""
    i = at
    floor = max(0, at - 64)
    while i > floor and text[i - 1] in _LOCAL_CHARS:
        i -= 1
    return text[i:at]


# Local parts of addresses that name no person (RFC 2142 role mailboxes and no-reply
# senders): Claude Code's system prompt holds noreply@anthropic.com, for one.
_ROLE_LOCAL_PARTS = frozenset({"noreply", "no-reply", "no_reply", "donotreply", "do-not-reply",
                               "do_not_reply", "mailer-daemon", "postmaster"})


def role_local_part(local: str) -> bool:
    return local.lower() in _ROLE_LOCAL_PARTS


def valid_local_part(local: str) -> bool:
    return (bool(local) and local[0] != "." and local[-1] != "." and ".." not in local
            and any(c.isalnum() for c in local))


# --- secrets -------------------------------------------------------------------------

_PLACEHOLDERS = (
    r"(?:example|sample|dummy|placeholder|changeme|change[_-]?me|your[_-]|<|>|\$\{|\{\{|"
    r"%\(|xxxx|\*\*\*|\.\.\.|redacted|replace|insert|todo|fixme|secret|password|passwd|"
    r"token|api[_-]?key|none|null|undefined|test123|abc123|123456|qwerty|letmein)"
)
_PLACEHOLDER_RE = re.compile("(?i)" + _PLACEHOLDERS)
# The same on a lower-cased ASCII value, case-sensitive: ``re`` then skips to the
# characters that start a placeholder and rejects the others on their first letter
# (~8 us for a 37-character value with (?i), which tries every placeholder everywhere).
_PLACEHOLDER_LOWER_RE = re.compile(_PLACEHOLDERS)


def has_placeholder(value: str) -> bool:
    if value.isascii():  # lower() folds ASCII exactly as (?i) does
        return _PLACEHOLDER_LOWER_RE.search(value.lower()) is not None
    return _PLACEHOLDER_RE.search(value) is not None
# Prefixed keys only need the unmistakable placeholders ("sk-your-key-here", "sk-xxxx").
_KEY_PLACEHOLDER_RE = re.compile(r"(?i)(?:example|your|xxxx|\*\*\*|placeholder|dummy|redacted|\.\.\.)")
# Identifier chains (config.api_key, os.environ, SECRET_KEY_NAME, myApiToken) are code,
# not values: a real secret is not made of lower-case words joined by _ . or -.
_IDENT_CHAIN_RE = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*(?:[.\-][A-Za-z_$][A-Za-z0-9_$]*)*")
# Values that are structured data rather than secrets: timestamps, UUIDs, versions, paths.
_STRUCTURED_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
    r"|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|v?\d+(?:\.\d+){1,3}(?:[-+][0-9A-Za-z.\-]+)?"
    r"|(?:[A-Za-z]:)?[./~]?(?:[\w.\-]+/)+[\w.\-]*"
)
# Possessive: a run of letters splits one way only (nested quantifiers over the same
# letters made a 30-letter value cost seconds).
_WORDY_RE = re.compile(r"(?:[A-Z]?+[a-z]{2,}+|[A-Z]{2,}+|[_.\-])++")


# -p * log2(p) for p = k / n, by n then k, computed once per length as the sum's terms
# were (the same floats, so the same entropy to the last bit): a value's entropy is then a
# count and a sum in C (4 -> 1 us for 36 characters).
_TERMS: dict[int, list[float]] = {}


def _terms(n: int) -> list[float]:
    terms = _TERMS.get(n)
    if terms is None:
        terms = _TERMS[n] = [0.0] + [k / n * math.log2(k / n) for k in range(1, n + 1)]
    return terms


def shannon_entropy(s: str) -> float:
    # (Counter keeps first-occurrence order: the terms are summed in the same order)
    return -sum(map(_terms(len(s)).__getitem__, Counter(s).values()))


def looks_like_secret(value: str, *, quoted: bool) -> bool:
    """Is an assigned value random enough to be a real credential (not a placeholder)?

    All tests must pass; the cheapest run first (a request's candidates are validated
    within a budget, and a text made of near-secrets spends all of it here)."""
    n = len(value)
    if n < 8 or n > 512 or not value.isprintable():
        return False
    chars = set(value)
    if len(chars) < 5:
        return False
    # (over the distinct characters, each test in C)
    classes = (any(map(str.islower, chars)) + any(map(str.isupper, chars))
               + any(map(str.isdigit, chars)) + (not all(map(str.isalnum, chars))))
    if classes < 2:
        return False
    if has_placeholder(value) or _STRUCTURED_RE.fullmatch(value):
        return False
    if _WORDY_RE.fullmatch(value):
        return False  # snake_case / camelCase / CONSTANT_CASE words: an identifier
    if not quoted:
        if value[0].isdigit() and value.replace(".", "").isdigit():
            return False  # a number
        if _IDENT_CHAIN_RE.fullmatch(value) and not any(c.isdigit() for c in value):
            return False
        if n < 12:
            return False
    threshold = 3.0 if n >= 16 else 2.5
    return shannon_entropy(value) >= threshold


def looks_like_key_body(body: str, *, min_len: int = 16) -> bool:
    """Body of a prefixed API key (after ``sk-``, ``ghp_``...): long, mixed, random."""
    if len(body) < min_len:
        return False
    if not any(c.isdigit() for c in body) or not any(c.isalpha() for c in body):
        return False
    return shannon_entropy(body) >= 3.0 and not _KEY_PLACEHOLDER_RE.search(body)
