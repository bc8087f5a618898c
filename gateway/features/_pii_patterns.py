"""The PII scanner's patterns (see ``pii.py`` for how they are searched).

Each one-pass alternative starts with its literal anchor (a digit, or one of
``: = @ - _ A B J``); the per-anchor scan searches each alternative on its own, and a
frequent anchor's alternative by its literal beginnings (``_SPLIT``). Some are written
for ``re``'s speed rather than plainly: the number shapes as a trie on the first group's
length, the secret names behind ``=`` and ``:`` as a trie of lookbehinds read right to
left, the value probed first. ``tests/features/test_pii_patterns.py`` holds each to its
plain definition at every position of random texts.
"""

from __future__ import annotations

import re
from typing import Final

PII_KINDS: Final = frozenset({
    "email", "phone", "credit_card", "cn_resident_id", "iban", "us_ssn", "credential",
})
_DIGIT_KINDS: Final = frozenset({"phone", "credit_card", "cn_resident_id", "iban", "us_ssn"})
_CREDENTIAL: Final = frozenset({"credential"})

# Digit tokens start at a digit not glued to a word or to a longer dotted/dashed number
# (versions, IPs, dates); they end before any letter, digit or [.-]digit continuation.
_NUM_END = r"(?![0-9A-Za-z_]|[.\-][0-9])"
# The number shapes, after their first digit (the anchor), tried in this order:
#   [0-9]{9,19}+ | [0-9]{8,18}+[Xx]                                  card, CN ID, CN mobile
#   (?<=0)(?:10|2[0-9]|[3-9][0-9]{2})-[2-9][0-9]{2,3}[ -]?[0-9]{4}   CN landline
#   [0-9]{2} [0-9]{2} [0-9]{4}  |  [0-9]{2}-[0-9]{2}-[0-9]{4}        SSN (spaces, dashes)
#   [0-9]{3}[ -][0-9]{4,6}[ -][0-9]{4,5}(?:[ -][0-9]{1,4}){0,2}      grouped card
#   [0-9]{2}[ .-][2-9][0-9]{2}[ .-][0-9]{4}                          NANP 3-3-4
#   [ .-]?[2-9][0-9]{2}[ .-][2-9][0-9]{2}[ .-][0-9]{4}               NANP with leading 1
#   [0-9]{2}[ -][0-9]{4}[ -][0-9]{4}                                 CN mobile 3-4-4
#   [0-9][ -]?1[3-9][0-9](?:[0-9]{8}|[ -][0-9]{4}[ -][0-9]{4})       86 + CN mobile
# Each shape fixes the length of the number's first group, so they are written as a trie
# on it (one digit more a level, the shapes that need a separator there as branches that
# start with it): ``re`` skips a branch on its first character, and a number that is no
# shape ("12 34 5678", "1 1 1") fails after a few characters instead of trying all ten
# shapes (~250 -> ~100 ns a number). Within a level the shapes keep the order above, so
# the match is the one the plain alternation finds (``test_pii_patterns`` checks it).
_NUM_TRIE = (
    "(?:[ .-][2-9]D{2}[ .-][2-9]D{2}[ .-]D{4}"  # 1: NANP with leading 1
    "|D(?:[ -]1[3-9]D(?:D{8}|[ -]D{4}[ -]D{4})"  # 2: 86 + CN mobile
    # 3: landline 010/02x, SSNs, NANP 3-3-4, CN mobile 3-4-4
    "|D(?:(?<=0(?:10|2D))-[2-9]D{2,3}[ -]?D{4}| D{2} D{4}|-D{2}-D{4}|[ .-][2-9]D{2}[ .-]D{4}"
    "|[ -]D{4}[ -]D{4}"
    # 4: landline 0[3-9]xx, grouped card, NANP with leading 1 (no separator)
    "|D(?:(?<=0[3-9]D{2})-[2-9]D{2,3}[ -]?D{4}|[ -]D{4,6}[ -]D{4,5}(?:[ -]D{1,4}){0,2}"
    "|(?<=[2-9]D{2})[ .-][2-9]D{2}[ .-]D{4}"
    # 5: 86 + CN mobile in groups; 6 and more: runs, 86 + CN mobile
    "|D(?:(?<=1[3-9]D)[ -]D{4}[ -]D{4}|D{5,15}+|D{4,14}+[Xx]|(?<=1[3-9]D)D{8})))))"
).replace("D", "[0-9]").replace("[ .-]", r"[ .\-]").replace("[ -]", r"[ \-]")

# Generic "name = value" secrets: the operator is the anchor and the name is checked by
# lookbehinds (``re`` requires fixed width), for each quoting style between name and
# operator (nothing, one of ["' ], or a quote and a space; with its width).
_SECRET_NAMES = (
    "password", "passwd", "passphrase", "pwd", "_pass", "secret", "token", "apikey",
    "api_key", "api-key", "accesskey", "access_key", "access-key", "secretkey", "secret_key",
    "privatekey", "private_key", "auth_key", "credentials",
)
_BETWEEN = (("", 0), ("[\"' ]", 1), ("[\"'] ", 2))


def _class(chars: set[str]) -> str:
    return "[" + "".join(re.escape(c) for c in sorted(chars)) + "]"


# Characters outside ASCII that ``re`` folds to an ASCII letter (``(?i:s)`` matches "ſ"):
# the explicit classes below fold as the names' ``(?i:...)`` does.
_ASCII_FOLDS = "\u0130\u0131\u017f\u212a"


def _folded(ch: str) -> str:
    """What ``(?i:ch)`` matches, as a class: ``re`` rejects a branch that starts with a
    class on its first character without entering it (not one that starts ``(?i:``)."""
    folds = {f for f in _ASCII_FOLDS if re.fullmatch(f"(?i:{re.escape(ch)})", f)}
    return _class({ch, ch.lower(), ch.upper()} | folds)


def _name_ends(suffix: str = "") -> str:
    """A zero-width pattern that holds, right after the first character of ``suffix``,
    iff the text there ends a secret name that ends with ``suffix`` (case folded; the
    name's last letter exact). With ``suffix`` empty: right after a name's last letter.

    The names are read right to left along the trie of their endings. Each node is one
    lookbehind holding a branch per next letter, each branch starting with the letter's
    class: ``re`` skips a branch whose first class fails without entering it, so a word
    fails at the first letter no name has there in one lookbehind per letter read
    ("awd=" or "key=" before a value cost ~0.9 us when each name length and quoting style
    had a lookbehind, ~0.2 with a lookbehind per trie branch; letters are explicit
    classes, as case-insensitive opcodes cost ~3x). A run of letters with no branch in it
    is read in one nested lookbehind."""
    branches = []
    for c in sorted({n[-len(suffix) - 1] for n in _SECRET_NAMES
                     if len(n) > len(suffix) and n.endswith(suffix)}):
        run = c + suffix
        while run not in _SECRET_NAMES:  # extend while there is a single way to go on
            nxt = {n[-len(run) - 1] for n in _SECRET_NAMES if len(n) > len(run) and n.endswith(run)}
            if len(nxt) != 1:
                break
            run = nxt.pop() + run
        rest = "" if run in _SECRET_NAMES else _name_ends(run)
        more = run[:len(run) - len(suffix) - 1]  # letters before ``c``, left to right
        if more:  # read right after ``c``: they end one character back
            rest = (f"(?<={_folded(more[0])}{rest}"
                    + "".join(_folded(ch) for ch in more[1:]) + "(?s:.))")
        branches.append((_class({c, c.upper()}) if not suffix else _folded(c)) + rest)
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?<={body}(?s:.))" if suffix else body


# What ``\s`` matches (``str.isspace``), written out: a class of characters alone is a
# byte map and a few ranges, where ``\s`` adds a category test to each character the
# value pattern reads (~8% of a "pwd=" flood; the tests check it for every code point).
_WHITESPACE = "\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


def _tails_trie(tails: list[str]) -> str:
    """``tails`` (of one length) as a trie on their first characters, letters folded: a
    branch per character, each starting with its class (a branch per tail tried ~18
    classes: 1 MB of "aaaaa_key:" 12 -> 6 ms)."""
    if not tails[0]:
        return ""
    firsts: dict[str, list[str]] = {}
    for tail in tails:
        firsts.setdefault(tail[0], []).append(tail[1:])
    alts = [_folded(c) + _tails_trie(rest) for c, rest in sorted(firsts.items())]
    return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"


def _name_tails() -> str:
    """What precedes the operator of an assignment with nothing between name and operator:
    the last five characters of a name, or a whole shorter one, as one lookbehind per
    length. A superset of what the names' trie (``_name_ends``) accepts."""
    by_len: dict[int, set[str]] = {}
    for name in _SECRET_NAMES:
        by_len.setdefault(min(len(name), 5), set()).add(name[-5:])
    return "|".join(f"(?<={_tails_trie(sorted(tails))}[=:])" for _, tails in sorted(by_len.items()))


def _assignment_rest(op: str) -> str:
    # Cheapest first: the character before the operator (one class: "====" fails there),
    # the value's first eight characters (the probe, below), then the names. (A check of
    # the name's last letters before the probe, one class each, rejects "https://" sooner
    # but costs more than it saves on JSON and on every operator after a name's last
    # letter: measured 1 MB of "pwd:" 26 -> 36 ms, JSON's ":" 4.7 -> 6.0.)
    before = _class({c for n in _SECRET_NAMES for c in (n[-1], n[-1].upper())} | set("\"' "))
    # The names: a quote or space before the operator first (JSON's ":"), checked once for
    # both quoting styles; with nothing between name and operator, the name's last five
    # characters (or a whole shorter name) in one lookbehind before the trie, whose nested
    # lookbehinds cost ~150 ns where a word ends like a name ("aaaaa_key:" reads five
    # letters: 1 MB of it cost ~3x prose, 30 -> ~18 ms).
    ends = [f"(?<={_name_ends()}(?s:.){{{1 + width}}})" for _, width in _BETWEEN]
    names = (f"(?<={_BETWEEN[1][0]}[=:])(?:{ends[1]}|(?<={_BETWEEN[2][0]}[=:]){ends[2]})"
             f"|(?:{_name_tails()}){ends[0]}")
    # The value ends before the next ``op`` (base64 padding excepted): every character is
    # then read by at most one candidate per operator, so "pwd=pwd=pwd=..." costs linear time.
    chars = rf"[^{_WHITESPACE}\"'`,;()\[\]{{}}<>{op}]"
    pad = "={0,3}+" if op == "=" else ""
    value = rf"[=>]?[ \t]{{0,4}}[\"'`]?(?:(?i:bearer|basic|token) )?{chars}{{8,512}}+{pad}"
    # The value is probed (as a lookahead) before it is matched: most operators that pass
    # the name check are followed by something short ("token = 1") and fail within a few
    # characters. The probe is the value's start, ``[=>]?[ \t]{0,4}["'`]?`` then eight
    # characters, with a branch per first character: each fails on its first character
    # but one, and the optional parts, read possessively (quotes, spaces and ">" are not
    # value characters), leave nothing to backtrack into ("pwd=pwd=...": 60 -> 25 ns).
    probe = (rf"(?:{chars}{{8}}|[=>][ \t]{{0,4}}+[\"'`]?+{chars}{{8}}"
             rf"|[ \t]{{1,4}}+[\"'`]?+{chars}{{8}}|[\"'`]{chars}{{8}})")
    return f"(?<={before}[=:])(?={probe})(?>{names}){value}"


_DIGIT_REST = (
    # Most digits sit inside a number or an identifier (prev char a digit or lower-case
    # letter); no branch can start there, so one lookbehind rejects them all.
    r"(?<![0-9a-z_][0-9])"
    # Nor after a digit and [.-] (the rest of "415-555-2671"): no branch starts there either.
    r"(?<![0-9][.\-][0-9])"
    # Not after a capital: only an IBAN's check digits are.
    rf"(?:(?<![A-Z][0-9])(?:{_NUM_TRIE}{_NUM_END}"
    # After "+" or "(", at least 7 digits or separators follow: checking that first
    # rejects the many short numbers (years, counts, ids) in a few characters.
    r"|(?<=[+(][0-9])(?=[0-9 .\-()]{7})"
    # +CC then groups: international phone numbers.
    r"(?:(?<=\+[0-9])(?<![0-9A-Za-z_]\+[0-9])[0-9]{0,3}+(?:[ .\-]?+\(?+[0-9]{1,5}+\)?+){1,7}+"
    r"(?![0-9A-Za-z_])"
    # (415) 555-2671: NANP with a parenthesised area code; (010) 6552 9988: CN landline.
    r"|(?<=\([2-9])[0-9]{2}\) ?[2-9][0-9]{2}[ .\-][0-9]{4}(?![0-9A-Za-z_])"
    rf"|(?<=\(0)(?:10|2[0-9]|[3-9][0-9]{{2}})\) ?[2-9][0-9]{{2,3}}[ \-]?[0-9]{{4}}{_NUM_END}))"
    # IBAN, anchored at its first check digit after a two-letter country code.
    r"|(?<=[A-Z]{2}[0-9])(?<![0-9A-Za-z_][A-Z]{2}[0-9])[0-9](?: ?[0-9A-Z]){11,32})"
)
# Digits first, most frequent first: the BRANCH opcode tests alternatives in order.
_DIGIT_ALTERNATIVES = [d + _DIGIT_REST for d in "0125348796"]

# What follows "-----BEGIN " in a PEM private key (possessive: header lines and
# (JSON-escaped) line breaks are read once), "Bearer " or "Basic ", and a JWT's "eyJ".
_PEM_LINE = r"(?:[A-Z0-9]{1,20}+ ){0,3}PRIVATE KEY(?: BLOCK)?-----(?:\s|\\[nr]){0,64}+"
_PEM_HEADER = r"[A-Za-z\-]{1,40}+: [^\n\\]{0,200}+(?:\n|\\n)"
_PEM_KEY = r"(?:\s|\\[nr]){0,64}+[A-Za-z0-9+/=]{40}"
_PEM_REST = f"{_PEM_LINE}(?:{_PEM_HEADER}){{0,3}}+{_PEM_KEY}"
_BEARER_REST = r"[A-Za-z0-9._~+/\-]{16,512}+={0,3}+(?![A-Za-z0-9._~+/\-])"
# The payload's first 8 characters are enough: a candidate then reads ~2 KB at most.
_JWT_REST = r"[A-Za-z0-9_\-]{8,2048}+\.eyJ[A-Za-z0-9_\-]{8}"
# The other anchors' alternatives: (anchor, alternative, kinds its candidates can yield).
_OTHER_ALTERNATIVES: list[tuple[str, str, frozenset[str]]] = [
    (":", ":" + _assignment_rest(":"), _CREDENTIAL),
    ("=", "=" + _assignment_rest("="), _CREDENTIAL),
    # "@": an email (local part read backwards by the validator) or URL userinfo.
    ("@", r"@(?<=[^\s@]@)[A-Za-z0-9][A-Za-z0-9.\-]{0,253}(?![A-Za-z0-9\-])",
     frozenset({"email", "credential"})),
    # "-": OpenAI/Anthropic "sk-" keys, Slack "xox?-" tokens, PEM private keys. The first
    # two need a letter before the "-": one class lookbehind rejects UUID and date dashes.
    ("-", (r"-(?<!--)(?:(?<=[abkoprs]-)(?:(?<=sk-)(?<![0-9A-Za-z_\-]sk-)"
           r"(?:proj-|ant-[a-z]{3,6}[0-9]{0,3}-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,1024}+"
           r"|(?<=xox[abposr]-)(?<![0-9A-Za-z_\-]xox[abposr]-)[0-9A-Za-z\-]{10,1024}+)"
           r"|----BEGIN " + _PEM_REST + ")"),
     _CREDENTIAL),
    # "_": Stripe keys, GitHub tokens (the first lookbehind is implied by the three).
    ("_", (r"_(?<=[bkoprsu]_)(?:(?<=\b[sr]k_)(?:live|test)_[0-9A-Za-z]{16,1024}+"
           r"|(?<=\bgh[pousr]_)[A-Za-z0-9]{30,1024}+"
           r"|(?<=\bgithub_)pat_[A-Za-z0-9_]{30,1024}+)"),
     _CREDENTIAL),
    # "A": AWS access key ids, Google API keys.
    ("A", (r"A(?<![0-9A-Za-z_\-]A)(?:(?:KIA|SIA)[0-9A-Z]{16}(?![0-9A-Za-z])"
           r"|Iza[0-9A-Za-z_\-]{35}(?![0-9A-Za-z_\-]))"),
     _CREDENTIAL),
    # "B": an HTTP bearer token ("Authorization: Bearer <token>").
    ("B", r"B(?<![0-9A-Za-z_]B)(?:earer|asic) " + _BEARER_REST, _CREDENTIAL),
    # "J": JWT, at the 'J' of its "eyJ" header, which no base64url character precedes (so
    # no candidate starts inside another and each character is read once).
    ("J", r"J(?<=eyJ)(?<![A-Za-z0-9_\-]eyJ)" + _JWT_REST, _CREDENTIAL),
]
# One pass: every alternative starts with its literal anchor, so ``re`` computes a charset
# prefix for the whole pattern; inside, the BRANCH opcode rejects alternatives whose
# literal differs from the current character in ~1 ns. (``re`` forbids duplicate group
# names, so the scanner dispatches on the anchor instead.)
_RE = re.compile("|".join(_DIGIT_ALTERNATIVES + [alt for _, alt, _ in _OTHER_ALTERNATIVES]))

# Each alternative is searched on its own. Where its anchor turns out frequent (more than
# once per _SPLIT_SPACING characters), it is searched by its literal beginnings instead,
# one pass each: ``re`` finds a literal prefix ("AKIA", "Bearer ", "-----BEGIN ") in a
# tight loop (~0.5 ms a MB), where a one-character anchor costs a match attempt at each
# occurrence (~30 ns; 1 MB of "AB12 ": 6 ms for "A" and "B", of PEM headers: 8 ms for
# their dashes). The lookbehinds that followed the anchor follow the prefix, longer by
# what it adds. (needle, pattern, where the anchor is in the match); the candidates are
# the one-pass pattern's (the tests compare both scans on JSON, code, every labelled text).
_PEM_NEEDLE = "-----BEGIN "
_PEM_BEGIN = _PEM_NEEDLE + "(?<!-" + _PEM_NEEDLE + ")" + _PEM_LINE
# (the start of a PEM block followed by a header line, and the whole block)
_PEM_WITH_HEADERS = re.compile(f"{_PEM_BEGIN}(?={_PEM_HEADER})")
_PEM_SPLIT = re.compile(f"{_PEM_BEGIN}(?:{_PEM_HEADER}){{0,3}}+{_PEM_KEY}")
# A PEM header followed by header lines is tested at each occurrence and each test is
# charged to the validation budget like a candidate: the pattern reads up to three lines
# ("-----BEGIN PRIVATE KEY-----\\nA: b" repeated: each line read by three candidates,
# ~0.7 us each, 20 ms a MB). Without header lines it is searched like the others. (The
# two patterns match what the one-pass alternative matches: its header lines are read
# possessively, so it reads none exactly when none is there.)
_SPLIT: dict[str, list[tuple[str, str, int]]] = {
    "-": [
        ("sk-", r"sk-(?<![0-9A-Za-z_\-]sk-)(?:proj-|ant-[a-z]{3,6}[0-9]{0,3}-|svcacct-|admin-)?"
                r"[A-Za-z0-9_\-]{20,1024}+", 2),
        ("xox", r"xox[abposr]-(?<![0-9A-Za-z_\-]xox[abposr]-)[0-9A-Za-z\-]{10,1024}+", 4),
        # (the key's characters first: a header line has none, and reading it costs)
        (_PEM_NEEDLE, _PEM_BEGIN + f"(?={_PEM_KEY})(?!{_PEM_HEADER}){_PEM_KEY}", 0),
    ],
    "_": [
        ("k_", r"k_(?<=\b[sr]k_)(?:live|test)_[0-9A-Za-z]{16,1024}+", 1),
        ("gh", r"gh[pousr]_(?<=\bgh[pousr]_)[A-Za-z0-9]{30,1024}+", 3),
        ("github_pat_", r"github_pat_(?<=\bgithub_pat_)[A-Za-z0-9_]{30,1024}+", 6),
    ],
    "A": [
        ("AKIA", r"AKIA(?<![0-9A-Za-z_\-]AKIA)[0-9A-Z]{16}(?![0-9A-Za-z])", 0),
        ("ASIA", r"ASIA(?<![0-9A-Za-z_\-]ASIA)[0-9A-Z]{16}(?![0-9A-Za-z])", 0),
        ("AIza", r"AIza(?<![0-9A-Za-z_\-]AIza)[0-9A-Za-z_\-]{35}(?![0-9A-Za-z_\-])", 0),
    ],
    "B": [
        ("Bearer ", r"Bearer (?<![0-9A-Za-z_]Bearer )" + _BEARER_REST, 0),
        ("Basic ", r"Basic (?<![0-9A-Za-z_]Basic )" + _BEARER_REST, 0),
    ],
    "J": [("eyJ", r"eyJ(?<![A-Za-z0-9_\-]eyJ)" + _JWT_REST, 2)],
}
_SPLIT_SPACING = 16
_ANCHOR_PASSES = tuple(
    (anchor, re.compile(alt), tuple((n, re.compile(p), o) for n, p, o in _SPLIT.get(anchor, ())),
     kinds)
    for anchor, alt, kinds in _OTHER_ALTERNATIVES)
# Alone, one class beats ten literal branches (digit runs: ~45 against ~70 ns a digit).
_DIGIT_RE = re.compile("[0-9]" + _DIGIT_REST)
# Every alternative in a group of its own, with the kinds it can yield.
_GROUPS = ((_DIGIT_RE, _DIGIT_KINDS), *((rx, kinds) for _, rx, _, kinds in _ANCHOR_PASSES))
