"""Find which kinds of PII and secrets a text contains (kinds only, never values).

One pass per string: a single combined regex whose alternatives each start with a literal
anchor character (digits, ``@ - _ = : A B J``). CPython's ``re`` derives a charset prefix
from such a pattern and skips non-anchor characters in a tight C loop, so prose costs a few
ns per character; at an anchor, the alternatives for other anchors are rejected by their
first literal and the remaining one is checked with cheap lookbehinds. Matches are
candidates only: validators in ``pii_validators`` decide, and the scan stops early once
every kind has been seen.
"""

from __future__ import annotations

import re
from typing import Final

from . import pii_validators as v

__all__ = ["PII_KINDS", "PiiScanner", "find_pii"]

PII_KINDS: Final = frozenset({
    "email", "phone", "credit_card", "cn_resident_id", "iban", "us_ssn", "credential",
})

# Digit tokens start at a digit not glued to a word or to a longer dotted/dashed number
# (versions, IPs, dates); they end before any letter, digit or [.-]digit continuation.
_NUM_START = r"(?<![0-9A-Za-z_][0-9])(?<![0-9][.\-][0-9])"
_NUM_END = r"(?![0-9A-Za-z_]|[.\-][0-9])"
_NUM_SHAPES = "|".join([
    r"[0-9]{8,18}[0-9Xx]",                                   # card, CN ID, CN mobile
    r"[0-9]{2}-[0-9]{2}-[0-9]{4}",                           # SSN (first digit consumed)
    r"[0-9]{3}[ \-][0-9]{4,6}[ \-][0-9]{4,5}(?:[ \-][0-9]{1,4}){0,2}",  # grouped card
    r"[0-9]{2}[ .\-][2-9][0-9]{2}[ .\-][0-9]{4}",            # NANP 3-3-4
    r"[ .\-]?[2-9][0-9]{2}[ .\-][2-9][0-9]{2}[ .\-][0-9]{4}",  # NANP with leading 1
    r"[0-9]{2}[ \-][0-9]{4}[ \-][0-9]{4}",                   # CN mobile 3-4-4
    r"[0-9][ \-]?1[3-9][0-9](?:[0-9]{8}|[ \-][0-9]{4}[ \-][0-9]{4})",  # 86 + CN mobile
])

# Generic "name = value" secrets: the operator is the anchor and the name is checked by
# fixed-width lookbehinds (``re`` requires fixed width), one per name length and quoting
# style. A lookbehind on the name's last three letters runs first, so most "=" and ":" in
# code and JSON (``"id": 5``, ``x = 1``) are rejected after one or two cheap checks.
_SECRET_NAMES = (
    "password", "passwd", "passphrase", "pwd", "_pass", "secret", "token", "apikey",
    "api_key", "api-key", "accesskey", "access_key", "access-key", "secretkey", "secret_key",
    "privatekey", "private_key", "auth_key", "credentials",
)


def _assignment_rest() -> str:
    by_len: dict[int, list[str]] = {}
    for name in _SECRET_NAMES:
        by_len.setdefault(len(name), []).append(re.escape(name))
    names = ["(?i:" + "|".join(group) + ")" for _, group in sorted(by_len.items())]
    tail3 = "(?i:" + "|".join(sorted({re.escape(n[-3:]) for n in _SECRET_NAMES})) + ")"

    last = "[" + "".join(sorted({c for n in _SECRET_NAMES for c in (n[-1], n[-1].upper())})) + "]"

    def check(between: str) -> str:
        full = "|".join(f"(?<={n}{between}[=:])" for n in names)
        return f"(?<={last}{between}[=:])(?<={tail3}{between}[=:])(?:{full})"

    name_ok = "(?:" + "|".join([
        check(""), check("[\"' ]"), check("[\"'] "),
    ]) + ")"
    value = r"[=>]?[ \t]{0,4}[\"'`]?(?:(?i:bearer|basic|token) )?[^\s\"'`,;()\[\]{}<>]{8,512}"
    # The value is checked first (as a lookahead): in code and JSON most operators are
    # followed by something short ("x = 1", '"id": 42') and fail within a few characters.
    probe = r"[=>]?[ \t]{0,4}[\"'`]?[^\s\"'`,;()\[\]{}<>]{8}"
    return "(?=" + probe + ")" + name_ok + value


# Every alternative starts with a literal anchor character. That lets ``re`` compute a
# charset prefix for the whole pattern and skip non-anchor text in C; inside, the BRANCH
# opcode rejects alternatives whose literal differs from the current character in ~1 ns.
# (``re`` forbids duplicate group names, so the scanner dispatches on the anchor instead.)
_DIGIT_REST = (
    # Most digits sit inside a number or an identifier (prev char a digit or lower-case
    # letter); no branch can start there, so one lookbehind rejects them all.
    r"(?<![0-9a-z_][0-9])"
    # Every number shape below continues with at least 7 digits/separators; checking that
    # first rejects the many short numbers (years, counts, ids) in a few characters.
    rf"(?:(?=[0-9 .\-()]{{7}})(?:{_NUM_START}(?:{_NUM_SHAPES}){_NUM_END}"
    # +CC then groups: international phone numbers.
    r"|(?<=\+[0-9])(?<![0-9A-Za-z_]\+[0-9])[0-9]{0,3}(?:[ .\-]?\(?[0-9]{1,5}\)?){1,7}"
    r"(?![0-9A-Za-z_])"
    # (415) 555-2671: NANP with a parenthesised area code.
    r"|(?<=\([2-9])[0-9]{2}\) ?[2-9][0-9]{2}[ .\-][0-9]{4}(?![0-9A-Za-z_]))"
    # IBAN, anchored at its first check digit after a two-letter country code.
    r"|(?<=[A-Z]{2}[0-9])(?<![0-9A-Za-z_][A-Z]{2}[0-9])[0-9](?: ?[0-9A-Z]){11,32})"
)
_ALTERNATIVES = [
    # Digits first, most frequent first: the BRANCH opcode tests alternatives in order,
    # and digits are by far the most common anchor (JSON is ~12% digits).
    *(d + _DIGIT_REST for d in "0125348796"),
    ":" + _assignment_rest(),
    "=" + _assignment_rest(),
    # "@": an email (local part read backwards by the validator) or URL userinfo.
    r"@(?<=[^\s@]@)[A-Za-z0-9][A-Za-z0-9.\-]{0,253}(?![A-Za-z0-9\-])",
    # "-": OpenAI/Anthropic "sk-" keys, Slack "xox?-" tokens, PEM private keys.
    r"-(?:(?<=sk-)(?<![0-9A-Za-z_\-]sk-)"
    r"(?:proj-|ant-[a-z]{3,6}[0-9]{0,3}-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}"
    r"|(?<=\bxox[abposr]-)[0-9A-Za-z\-]{10,}"
    r"|----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----"
    r"(?:\s|\\n|\\r)*(?:[A-Za-z\-]+: [^\n]*(?:\n|\\n))*(?:\s|\\n|\\r)*[A-Za-z0-9+/=]{40})",
    # "_": Stripe keys, GitHub tokens.
    r"_(?:(?<=\b[sr]k_)(?:live|test)_[0-9A-Za-z]{16,}"
    r"|(?<=\bgh[pousr]_)[A-Za-z0-9]{30,}"
    r"|(?<=\bgithub_)pat_[A-Za-z0-9_]{30,})",
    # "A": AWS access key ids, Google API keys.
    r"A(?<![0-9A-Za-z_\-]A)(?:(?:KIA|SIA)[0-9A-Z]{16}(?![0-9A-Za-z])"
    r"|Iza[0-9A-Za-z_\-]{35}(?![0-9A-Za-z_\-]))",
    # "B": an HTTP bearer token ("Authorization: Bearer <token>").
    r"B(?<![0-9A-Za-z_]B)(?:earer|asic) [A-Za-z0-9._~+/\-]{16,512}=*(?![A-Za-z0-9._~+/\-])",
    # "J": JWT, at the 'J' of its "eyJ" header.
    r"J(?<=\beyJ)[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.",
]
_RE = re.compile("|".join(_ALTERNATIVES))

_URL_USERINFO_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://([^\s/@:]*)(?::([^\s/@]*))?$")
_SEPARATORS = str.maketrans("", "", " .-()")


def _classify_num(token: str, found: set[str], before: str) -> str | None:
    digits = token.translate(_SEPARATORS)
    seps = {c for c in token if c in " .-"}
    if len(seps) > 1:
        return None  # mixed separators ("415.555-2671") are not how anyone writes these
    n = len(digits)
    if "cn_resident_id" not in found and n == 18 and v.is_cn_resident_id(digits):
        return "cn_resident_id"
    if not digits.isdigit():
        return None
    if "us_ssn" not in found and n == 9 and token.count("-") == 2 and len(token) == 11:
        if v.is_ssn(token[:3], token[4:6], token[7:]):
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


def _classify(m: re.Match[str], text: str, found: set[str]) -> str | None:
    start, end = m.span()
    anchor = text[start]
    if anchor.isdigit():
        before = text[start - 1] if start else ""
        if "A" <= before <= "Z":  # a capital right before digits: only IBAN allows it
            return "iban" if "iban" not in found and v.iban_prefix(text[start - 2:end]) else None
        kind = _classify_num(text[start:end], found, before)
        if kind is None and before == "+" and "phone" not in found:
            kind = _classify_international(text[start:end])
        if kind is None and before == "(" and "phone" not in found and text[start + 3:start + 4] == ")":
            kind = "phone"  # the (NXX) NXX-XXXX branch: its shape is the whole check
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
    userinfo = _URL_USERINFO_RE.search(text, max(0, start - 300), start)
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
    if v.valid_local_part(v.email_local_part(text, start)) and v.valid_email_domain(domain):
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
    """Accumulates PII kinds over many strings of one request."""

    __slots__ = ("found",)

    def __init__(self) -> None:
        self.found: set[str] = set()

    def done(self) -> bool:
        return len(self.found) == len(PII_KINDS)

    def scan(self, text: str) -> None:
        if len(text) < 8 or self.done():
            return
        found = self.found
        search = _RE.search
        pos = 0
        while (m := search(text, pos)) is not None:
            # Resume right after the anchor, not after the match: a rejected candidate
            # ("token: ghp_..." failing as an assignment) or a greedy one (an IBAN whose
            # pattern ran into the next number) may overlap a valid one.
            pos = m.start() + 1
            kind = _classify(m, text, found)
            if kind is not None and kind not in found:
                found.add(kind)
                if len(found) == len(PII_KINDS):
                    return


def find_pii(text: str) -> frozenset[str]:
    """Kinds of PII in ``text``: a subset of ``PII_KINDS``."""
    scanner = PiiScanner()
    scanner.scan(text)
    return frozenset(scanner.found)
