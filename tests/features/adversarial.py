"""Adversarial inputs for the feature scanner: repetitions of every trigger prefix and
separator (shared by ``test_linear_time.py`` and ``bench/features_bench.py``).

Each unit is repeated to the wanted size; each targets one way a pattern could cost
more than a few steps a character: a candidate start per character (``a@``), a match
that reads to the end of the text (``xoxb-``), nested quantifiers (``+1`` and a long run
of digits), a candidate that passes the regex and fails validation (``..@ab.cd``), or a
validator's own regex (``password='aaa...a1'``).
"""

from __future__ import annotations

UNITS: tuple[str, ...] = (
    # separators and operators alone
    "@", ".", ":", "=", "/", "-", "_", "+", "(", ")", " ", "\\n", "\n",
    # email and URL userinfo
    "a@", "@b.", "x@x.", "a@b", "a@b.", "..@ab.cd ", "a@b.cc:", "http://a:b@", "a:b@", "://",
    "https://", "https://a@",
    # assignments
    "password=", "password:", "pwd=", "_pass=", "'pwd'=", "token: ", "secret=\"", "pwd=>",
    "api_key=aaaaaaaaaaaaaaaa1 ", "password='aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1' ",
    # a name's ending and a value that passes the probe, the name itself failing: each
    # value is the next name ("aaaaaawd=aaaaaawd=": 8x prose when each name length had a
    # lookbehind)
    "awd=aaaaaaaa ", "aaaaaawd=", "aaaaakey:", "aaaaa_key:", "aaaaa-key:",
    # prefixed keys and tokens
    "sk-", "sk-a", " sk-proj-", "xoxb-", " xoxb-aaaaaaaaaa", "-----BEGIN PRIVATE KEY-----",
    "-----BEGIN PRIVATE KEY-----\\nA: b", "sk_live_", "ghp_", "github_pat_", "AKIA", "AIza",
    "Bearer ", "Basic ", "Bearer aaaaaaaaaaaaaaaa=", "eyJ", "-eyJ", " eyJaaaaaaaa.eyJ",
    # digits
    "1", "0", "9", "1-", "1 ", "1.", "1)", "(1", "1(", "+1", "+1 ", "+1(", "AB12", "AB12 ",
    "1234 ", "123-45-", "12-", "86 ", "(415) ", "+1" + "2" * 40 + "a ",
    "4111 1111 1111 1112 ", "110101199003070000 ", "078-05-112 ", "415-555-267 ",
    "GB82WEST1234569876543 ", "DE89 3704 0044 0532 0130 01 ",
    # numbers of no shape, or whose digits rule a shape out, packed so that triggers for
    # the shapes are denser than one per 256 characters (the digit scan's one-pass case):
    # 4.5-9x prose before issue 17's speed work
    "12 34 5678 ", "12 3456 7890 ", "123456789 ", "86 138 1234 567 ", "010-6552 998 ",
    "415-155-2671 ", "12345678901234567890123 ", "1234567890123456789a ",
    # characters the scanner normalizes (each string then costs a translate)
    "＠", "ａ＠", "１", "\u200b", "4\u200b", "中文，１",
)


def repeat(unit: str, size: int) -> str:
    """``unit`` repeated to exactly ``size`` characters."""
    return (unit * (size // len(unit) + 1))[:size]
