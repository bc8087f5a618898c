"""Regenerate ``pii.jsonl``: labelled PII positives and near-miss negatives.

Run ``python tests/features/data/make_pii_set.py`` (deterministic, fixed seed). Positives
carry valid checksums (Luhn, ISO 7064 mod 11-2, ISO 13616 mod 97) and real-looking key
formats, embedded in English, Chinese, code and JSON contexts. Negatives are the things a
bare regex would flag: numbers failing a checksum, impossible dates, invalid SSN areas,
versions, timestamps, IPs, order numbers, UUIDs, hashes, identifiers and placeholders.
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).parent
SEED = 1337
rng = random.Random(SEED)

ALNUM = string.ascii_letters + string.digits


def rand(chars: str, n: int) -> str:
    return "".join(rng.choice(chars) for _ in range(n))


def luhn_complete(prefix: str, length: int) -> str:
    body = prefix + rand(string.digits, length - len(prefix) - 1)
    for check in "0123456789":
        candidate = body + check
        total = 0
        for i, ch in enumerate(reversed(candidate)):
            d = int(ch) * (2 if i % 2 else 1)
            total += d - 9 if d > 9 else d
        if total % 10 == 0:
            return candidate
    raise AssertionError


def group(num: str, sizes: list[int], sep: str) -> str:
    out, i = [], 0
    for s in sizes:
        out.append(num[i:i + s])
        i += s
    if i < len(num):
        out.append(num[i:])
    return sep.join(out)


def card() -> str:
    kind = rng.choice(["visa", "mc", "mc2", "amex", "disc", "jcb", "up", "diners"])
    prefix, length = {
        "visa": ("4", 16), "mc": (str(rng.randint(51, 55)), 16), "mc2": ("2221", 16),
        "amex": (rng.choice(["34", "37"]), 15), "disc": ("6011", 16), "jcb": ("3530", 16),
        "up": ("62", rng.choice([16, 19])), "diners": ("36", 14),
    }[kind]
    num = luhn_complete(prefix, length)
    style = rng.choice(["plain", "space", "dash"])
    if style == "plain":
        return num
    sizes = [4, 6, 5] if length == 15 else [4, 6, 4] if length == 14 else [4, 4, 4, 4]
    return group(num, sizes, " " if style == "space" else "-")


def bad_card() -> str:
    num = card().replace(" ", "").replace("-", "")
    if rng.random() < 0.5:  # break the Luhn check digit
        return num[:-1] + str((int(num[-1]) + rng.randint(1, 9)) % 10)
    return luhn_complete(rng.choice(["1", "7", "9", "0"]), 16)  # no such issuer


CN_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CN_REGIONS = ["110105", "310104", "440305", "510107", "330106", "420111", "320102", "610113"]


def cn_check(body: str) -> str:
    return "10X98765432"[sum(int(c) * w for c, w in zip(body, CN_WEIGHTS)) % 11]


def cn_id(valid: bool = True) -> str:
    y, m, d = rng.randint(1950, 2005), rng.randint(1, 12), rng.randint(1, 28)
    body = f"{rng.choice(CN_REGIONS)}{y}{m:02d}{d:02d}{rng.randint(0, 999):03d}"
    check = cn_check(body)
    if valid:
        return body + check
    how = rng.choice(["checksum", "date", "region"])
    if how == "checksum":
        wrong = rng.choice([c for c in "0123456789X" if c != check])
        return body + wrong
    if how == "date":
        body = body[:10] + rng.choice(["1301", "0230", "0431", "0000"]) + body[14:]
        return body + cn_check(body)
    body = "99" + body[2:]
    return body + cn_check(body)


IBAN_BANK_LETTERS = {"GB": 4, "NL": 4, "IT": 1}  # BBANs that start with a letter bank code
IBAN_LEN = {"DE": 22, "GB": 22, "FR": 27, "NL": 18, "ES": 24, "IT": 27, "CH": 21, "BE": 16, "PL": 28}


def iban(valid: bool = True) -> str:
    cc = rng.choice(list(IBAN_LEN))
    n = IBAN_LEN[cc] - 4
    letters = IBAN_BANK_LETTERS.get(cc, 0)
    template = "A" * letters + "d" * (n - letters)
    bban = "".join(rng.choice(string.ascii_uppercase) if t == "A" else rng.choice(string.digits)
                   for t in template)
    numeric = "".join(str(int(c, 36)) for c in bban + cc + "00")
    check = 98 - int(numeric) % 97
    if not valid:
        check = (check + rng.randint(1, 50)) % 97 + 2
    compact = f"{cc}{check:02d}{bban}"
    return group(compact, [4] * 9, " ") if rng.random() < 0.6 else compact


def ssn(valid: bool = True) -> str:
    if valid:
        area = rng.choice([rng.randint(1, 665), rng.randint(667, 899)])
        return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"
    return rng.choice([
        f"000-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}",
        f"666-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}",
        f"9{rng.randint(0, 99):02d}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}",
        f"{rng.randint(100, 599)}-00-{rng.randint(1000, 9999)}",
        f"{rng.randint(100, 599)}-{rng.randint(10, 99)}-0000",
    ])


def nanp() -> str:
    a = f"{rng.randint(2, 9)}{rng.randint(0, 8)}{rng.randint(0, 9)}"
    e = f"{rng.randint(2, 9)}{rng.randint(0, 9)}{rng.randint(2, 9)}"
    s = f"{rng.randint(0, 9999):04d}"
    return rng.choice([f"{a}-{e}-{s}", f"({a}) {e}-{s}", f"{a}.{e}.{s}", f"+1 {a} {e} {s}",
                       f"1-{a}-{e}-{s}", f"+1 ({a}) {e}-{s}"])


def phone() -> str:
    r = rng.random()
    if r < 0.35:
        return nanp()
    if r < 0.65:
        n = f"1{rng.choice('3456789')}{rand(string.digits, 9)}"
        return rng.choice([n, f"+86 {n}", f"+86-{n}", f"{n[:3]}-{n[3:7]}-{n[7:]}",
                           f"{n[:3]} {n[3:7]} {n[7:]}", f"+86 {n[:3]} {n[3:7]} {n[7:]}"])
    return rng.choice([
        f"+44 20 {rng.randint(7000, 8999)} {rng.randint(1000, 9999)}",
        f"+49 30 {rng.randint(1000000, 99999999)}",
        f"+33 1 {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
        f"+81 3-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}",
        f"+91 {rng.randint(70000, 99999)} {rng.randint(10000, 99999)}",
        f"+61 2 {rng.randint(8000, 9999)} {rng.randint(1000, 9999)}",
        f"+34 {rng.randint(600, 699)} {rng.randint(100, 999)} {rng.randint(100, 999)}",
        f"+82 10-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}",
    ])


FIRST = ["john", "mary", "li.wei", "zhang_san", "a.smith", "ops", "k.tanaka", "maria.garcia", "dev+alerts"]
DOMAINS = ["example.com", "acme-corp.io", "mail.company.cn", "univ.edu", "startup.ai", "corp.co.uk",
           "gmail.com", "qq.com", "outlook.com", "company.org"]


def email() -> str:
    return f"{rng.choice(FIRST)}{rng.choice(['', str(rng.randint(1, 99))])}@{rng.choice(DOMAINS)}"


def b64url(n: int) -> str:
    return rand(ALNUM + "-_", n)


def jwt() -> str:
    return "eyJ" + b64url(rng.randint(16, 40)) + ".eyJ" + b64url(rng.randint(30, 120)) + "." + b64url(43)


def secret_value() -> str:
    return rand(ALNUM + "!#%&*+-_", rng.randint(14, 32))


def credential() -> str:
    kind = rng.randrange(16)
    return [
        lambda: f"OPENAI_API_KEY=sk-proj-{rand(ALNUM + '-_', 48)}",
        lambda: f'client = Anthropic(api_key="sk-ant-api03-{rand(ALNUM + "-_", 93)}AA")',
        lambda: f"export OPENAI_API_KEY=sk-{rand(ALNUM, 48)}",
        lambda: f"git clone https://ghp_{rand(ALNUM, 36)}@github.com/acme/repo.git",
        lambda: f"GITHUB_TOKEN: github_pat_{rand(ALNUM, 22)}_{rand(ALNUM, 59)}",
        lambda: f"slack bot token xoxb-{rand(string.digits, 12)}-{rand(string.digits, 13)}-{rand(ALNUM, 24)}",
        lambda: f"aws_access_key_id = AKIA{rand(string.ascii_uppercase + string.digits, 16)}",
        lambda: f"aws_secret_access_key = {rand(ALNUM + '/+', 40)}",
        lambda: f'const maps = new Loader({{ apiKey: "AIza{rand(ALNUM + "-_", 35)}" }});',
        lambda: f"stripe.api_key = 'sk_live_{rand(ALNUM, 24)}'",
        lambda: f"Authorization: Bearer {jwt()}",
        lambda: "-----BEGIN RSA PRIVATE KEY-----\n" + rand(ALNUM + "+/", 64) + "\n" + rand(ALNUM + "+/", 64) + "\n-----END RSA PRIVATE KEY-----",
        lambda: f'DB_PASSWORD="{secret_value()}"',
        lambda: f'{{"username": "svc_backup", "password": "{secret_value()}"}}',
        lambda: f"DATABASE_URL=postgres://app:{rand(ALNUM, 20)}@db.internal:5432/prod",
        lambda: f"curl -H 'Authorization: Bearer {rand(ALNUM, 40)}' https://api.example.com/v1/me",
    ][kind]()


EN = ["Please contact me at {x} if anything changes.", "My details: {x}.",
      "The customer wrote: \"you can reach me on {x}\"", "Log line: user={x} action=login ok",
      "Can you check why the payment with {x} failed?", "Forwarding this: {x} -- thanks!"]
ZH = ["我的联系方式是 {x}，有问题随时找我。", "请帮我核对一下这个信息：{x}", "客户留言：{x}，请尽快处理。",
      "这是测试数据 {x} 对吗？"]
CODE = ['user = {{"name": "Alice", "field": "{x}"}}', "INSERT INTO contacts VALUES (42, '{x}');",
        "# TODO remove before commit: {x}", "const value = `{x}`;"]


def embed(x: str) -> str:
    pool = rng.choice([EN, EN, ZH, CODE])
    return rng.choice(pool).format(x=x)


POSITIVE: dict[str, Callable[[], str]] = {
    "email": email, "phone": phone, "credit_card": card, "cn_resident_id": cn_id,
    "iban": iban, "us_ssn": ssn,
}

NEGATIVES = [
    # numbers that are not PII
    "Version 2.4.1 was released on 2023-10-15 at 12:30:45 UTC.",
    "Server 192.168.100.254 and 10.0.0.12 are behind the proxy.",
    "Unix timestamp 1700000000 and in ms 1700000000123.",
    "Order #20240115883301 shipped; tracking 1Z999AA10123456784.",
    "ISBN 978-3-16-148410-0, printed 2019.",
    "pi is roughly 3.14159265358979323846",
    "Call me in 5 minutes, the meeting is at 3:30 pm in room 1204.",
    "Build 20240115.3 passed 1,234 of 1,250 tests (98.72%).",
    "The invoice total is $12,345,678.90 for 2024-Q1.",
    "Use port 8080 or 443; timeout=30000ms; retries=3.",
    "Coordinates: 37.7749, -122.4194 (San Francisco).",
    "Product code ABC-123-4567 is back in stock.",
    "The date range is 2023-01-01 to 2023-12-31.",
    "math: 1+2+3+4+5+6+7+8+9 = 45 and x+1 > 0",
    "Temperature rose by +2.5 degrees, humidity +12%.",
    "Time zone offset +08:00 and -05:00.",
    "Call stack depth 1234567 exceeded limit 1000000.",
    "Fibonacci: 1 1 2 3 5 8 13 21 34 55 89 144 233",
    "matrix shape (1024, 768) with 786432 entries",
    "订单号 20231115000123，金额 299.00 元，请于 2023-11-20 前付款。",
    "版本号 v3.2.1，构建时间 2024-01-15 10:23:45。",
    "请在 15 分钟内完成，验证码 482913。",
    "QQ群号 123456789 欢迎加入",
    "商品编号 880012345678 库存 35 件",
    # UUIDs and hashes
    "request_id: 550e8400-e29b-41d4-a716-446655440000",
    "trace 7f9c2ba4-e88f-4d3a-9c1b-2f6e8a1d3b5c completed in 35ms",
    "commit 3f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39 Merge branch 'main'",
    "sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "md5 d41d8cd98f00b204e9800998ecf8427e for the empty file",
    "docker image sha256:4bcff63911fcb4448bd4fdacec207030997caf25e9bea4045fa6c8c44de311d1",
    "ETag: \"33a64df551425fcc55e4d42a148795d9f25f89d4\"",
    "object id 5f8d0d55b54764421b7156c3 in MongoDB",
    # emails near-misses
    "@property\ndef name(self):\n    return self._name",
    "Use icon@2x.png and icon@3x.png for retina screens.",
    "git remote add origin git@github.com:acme/api.git",
    "npm install @types/node @babel/core --save-dev",
    "C = A@B.T  # matrix multiply in numpy",
    "ping @everyone and @channel about the outage",
    "connect to user@localhost for the local test",
    "write to me at john at example dot com",
    "decorators like @app.route('/') and @pytest.fixture",
    "the handle is @elonmusk on X",
    # credentials near-misses
    'password = "changeme"',
    'password: "********"',
    'api_key = os.environ["OPENAI_API_KEY"]',
    "token = get_token(user)",
    "secret_key = settings.SECRET_KEY",
    "OPENAI_API_KEY=sk-your-key-here",
    'api_key: "<YOUR_API_KEY>"',
    'password = "password123"',
    "token_count = 4096",
    "max_tokens: 1000",
    "We use scikit-learn (sk-learn) for the baseline model.",
    "The key must look like AKIA followed by 16 characters.",
    "header segment eyJhbGciOiJIUzI1NiJ9 alone is not a token",
    "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----",
    "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUb\n-----END CERTIFICATE-----",
    "Send a Bearer token in the Authorization header.",
    'password_hash = "$2b$12$KIXQJQ8Z1rYk3J6y5b9Eve"',
    "The secret to good bread is patience.",
    "interface Props { token: string; password?: string }",
    "GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    'api_key = "YOUR_API_KEY_HERE"',
    "tokenizer = AutoTokenizer.from_pretrained('bert-base-uncased')",
    "password_reset_token_expiry = 3600",
    "if password == confirm_password:",
    'secret: "${{ secrets.DEPLOY_KEY }}"',
    "export AWS_SECRET_ACCESS_KEY=$AWS_SECRET",
    "token = None",
    'auth_token = "test"',
    "Set PASSWORD=  (leave empty for no password)",
    "access_token = response.json()['access_token']",
    "SECRET_KEY = env('DJANGO_SECRET_KEY')",
    'const apiKey = process.env.MAPS_API_KEY;',
    "passwd: false  # disable password login",
    'token: "{{ vault_token }}"',
    "credentials = service_account.Credentials.from_service_account_file(path)",
    "the sk-1 and sk-2 runs of the sketch",
    "xoxb-token goes here",
    'client_secret = "xxxxxxxxxxxxxxxxxxxx"',
    "password: str = Field(min_length=8)",
    "api-key header is documented at https://docs.example.com/auth",
    "my password is long and contains many words but is not here",
    'token = "2024-01-15T10:23:45Z"',
    'session_token = "550e8400-e29b-41d4-a716-446655440000"',
]


# Hand-written formats the generators above do not produce.
HARD_POSITIVES = [
    ("email", "Contact: <jane.doe@example.org>"), ("email", "mailto:support@startup.ai?subject=hi"),
    ("email", "邮箱：wangfang@163.com"), ("email", "EMAIL=ops-team@corp.co.uk"),
    ("phone", "tel:+14155552671"), ("phone", "call +14155552671 now"), ("phone", "(415)555-2671"),
    ("phone", "手机：13912345678。"), ("phone", "phone: +44 (0)20 7946 0958"),
    ("phone", "Tel. +49 (0)30 901820"),
    ("credit_card", "Card: 4111-1111-1111-1111, exp 12/26, cvv 123"),
    ("credit_card", "amex 3714 496353 98431"), ("credit_card", "卡号6222021234567890128"),
    ("credit_card", '{"card_number":"5555555555554444"}'),
    ("us_ssn", "SSN: 123-45-6789."), ("us_ssn", "ssn=219-09-9999"),
    ("cn_resident_id", "身份证号：11010519491231002X"), ("iban", "IBAN: GB29 NWBK 6016 1331 9268 19"),
    ("iban", "NL91ABNA0417164300"), ("iban", "FR1420041010050500013M02606"),
    ("credential", "password: Tr0ub4dor&3xyz"),
    ("credential", "export GH_TOKEN=gho_16C7e42F292c6912E7710c838347Ae178B4a"),
    ("credential", "Authorization: Basic dXNlcjpTM2NyM3RQYXNzd29yZDEyMw=="),
    ("credential", "mysql://root:Zx8#kq2LmP9w@127.0.0.1:3306/app"),
    ("credential", "private_key: '-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\\n-----END PRIVATE KEY-----'"),
]
HARD_NEGATIVES = [
    "The product SKU is 4111-2222-3333-4444 (internal).", "from 2019-2023 we grew 4x",
    "phone numbers look like 555-0100", "call 911", "area code 415",
    "UUID 123e4567-e89b-12d3-a456-426614174000", "hex 0xDEADBEEF 0x7fffffff",
    "IPv6 2001:0db8:85a3:0000:0000:8a2e:0370:7334", "RFC 3339 2002-10-02T15:00:00.05Z",
    "price: 1234567890.12", "epoch 1717171717", "var x = 4111111111111112;", "isbn 9780306406157",
    "ean 4006381333931", "id: 18446744073709551615", "password: ${DB_PASSWORD}", "token: <redacted>",
    "api_key: REPLACE_ME", "jwt header eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9 only",
    "sk-proj-XXXXXXXXXXXXXXXXXXXXXXXX", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC user@host",
    "see section 3.2.1.4 of the spec", "version 10.15.7 build 19H2", "we hit 100000000 rows",
    "AKIAXXXXXXXXXXXXXXXX", "2024年1月15日 10:30", "The string 'passwordless' login is nice",
    "secret = compute_secret(seed)", "TOKEN_URL = 'https://oauth2.googleapis.com/token'",
    "身份证号码格式为18位，最后一位可能是X。", "id_card=440305199001011234",
    "Batch sizes: 128 256 512 1024 2048 4096 8192",
]


def near_miss() -> str:
    r = rng.randrange(5)
    if r == 0:
        return embed(bad_card())
    if r == 1:
        return embed(cn_id(valid=False))
    if r == 2:
        return embed(iban(valid=False))
    if r == 3:
        return embed(ssn(valid=False))
    return embed(rng.choice([
        f"{rng.randint(1000, 9999)}-{rng.randint(10, 99)}-{rng.randint(10, 99)}",
        f"{rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
        f"v{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 99)}",
        f"{rng.randint(10**9, 10**10 - 1)}",
        f"1{rng.choice('012')}{rand(string.digits, 9)}",
    ]))


def main() -> None:
    rows = []
    for kind, gen in POSITIVE.items():
        for _ in range(24):
            rows.append({"text": embed(gen()), "kinds": [kind]})
    for _ in range(40):
        rows.append({"text": credential(), "kinds": ["credential"]})
    for _ in range(12):  # two kinds in one text
        a, b = rng.sample(list(POSITIVE), 2)
        rows.append({"text": f"{embed(POSITIVE[a]())} {embed(POSITIVE[b]())}", "kinds": sorted([a, b])})
    for kind, text in HARD_POSITIVES:
        rows.append({"text": text, "kinds": [kind]})
    for text in NEGATIVES + HARD_NEGATIVES:
        rows.append({"text": text, "kinds": []})
    for _ in range(90):
        rows.append({"text": near_miss(), "kinds": []})
    with (HERE / "pii.jsonl").open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
