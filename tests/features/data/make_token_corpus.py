"""Regenerate ``token_corpus.jsonl``, the calibration corpus of the token estimator.

Run ``python tests/features/data/make_token_corpus.py``. Deterministic (fixed seed), so the
committed corpus can be reproduced exactly. Prose comes from hand-written paragraphs
(``paragraphs.jsonl``) and chat turns (``language.jsonl``); code and JSON are synthesised
from templates with realistic identifiers, comments, literals and indentation so that the
estimator is calibrated on the shapes of text a gateway actually sees, not on lorem ipsum.
"""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
SEED = 20240611
PER_CATEGORY = 48

NOUNS = [
    "user", "order", "invoice", "session", "token", "request", "response", "payload", "item",
    "account", "cache", "record", "event", "message", "config", "client", "buffer", "batch",
    "route", "handler", "queue", "worker", "job", "file", "path", "node", "edge", "graph",
    "price", "amount", "customer", "product", "report", "metric", "span", "trace", "limit",
]
VERBS = [
    "load", "save", "parse", "build", "fetch", "send", "update", "delete", "create", "compute",
    "validate", "render", "resolve", "merge", "split", "flush", "retry", "normalize", "encode",
    "decode", "schedule", "dispatch", "collect", "filter", "apply", "register", "format",
]
ADJS = ["active", "pending", "raw", "cached", "default", "max", "min", "total", "next", "last",
        "current", "new", "old", "local", "remote", "valid", "empty", "full", "primary"]
COMMENTS = [
    "Retry once: the upstream occasionally drops the first connection after a deploy.",
    "Keep this sorted so that the binary search below stays valid.",
    "TODO: move this to the settings module once the config loader is refactored.",
    "The API returns cents, not dollars, so divide before formatting.",
    "We copy here because callers mutate the list they passed in.",
    "Avoid a second round trip when the cache already has the value.",
    "Timestamps are UTC; convert only at the presentation layer.",
    "NOTE: order matters, the last matching rule wins.",
    "Guard against division by zero for empty batches.",
    "This mirrors the behaviour of the legacy service for backwards compatibility.",
]


def ident(rng: random.Random, style: str = "snake") -> str:
    parts = [rng.choice(VERBS if rng.random() < 0.4 else ADJS), rng.choice(NOUNS)]
    if rng.random() < 0.3:
        parts.append(rng.choice(NOUNS))
    if style == "camel":
        return parts[0] + "".join(p.title() for p in parts[1:])
    if style == "pascal":
        return "".join(p.title() for p in parts)
    return "_".join(parts)


def py_literal(rng: random.Random) -> str:
    kind = rng.randrange(7)
    if kind == 0:
        return str(rng.randint(0, 10_000))
    if kind == 1:
        return f"{rng.uniform(0, 100):.{rng.randint(1, 4)}f}"
    if kind == 2:
        return repr(rng.choice(["utf-8", "application/json", "GET", "POST", "/api/v1/items",
                                "%Y-%m-%d %H:%M:%S", "Invalid input", "ok", ""]))
    if kind == 3:
        return rng.choice(["None", "True", "False"])
    if kind == 4:
        return "[" + ", ".join(str(rng.randint(0, 99)) for _ in range(rng.randint(0, 5))) + "]"
    if kind == 5:
        return "{" + ", ".join(f'"{rng.choice(NOUNS)}": {rng.randint(0, 9)}'
                               for _ in range(rng.randint(1, 3))) + "}"
    return ident(rng)


def py_function(rng: random.Random, indent: str, method: bool) -> str:
    name = ident(rng)
    args = ["self"] if method else []
    for _ in range(rng.randint(0, 3)):
        args.append(f"{rng.choice(NOUNS)}: {rng.choice(['int', 'str', 'float', 'list[str]', 'dict[str, Any]', 'bytes | None'])}")
    ret = rng.choice(["None", "int", "str", "bool", "dict[str, Any]", "list[int]"])
    lines = [f"{indent}def {name}({', '.join(args)}) -> {ret}:"]
    body = indent + "    "
    if rng.random() < 0.7:
        lines.append(f'{body}"""{rng.choice(VERBS).title()} the {rng.choice(ADJS)} {rng.choice(NOUNS)} and return the result."""')
    for _ in range(rng.randint(2, 9)):
        r = rng.random()
        var = rng.choice(NOUNS)
        if r < 0.15:
            lines.append(f"{body}# {rng.choice(COMMENTS)}")
        elif r < 0.35:
            lines.append(f"{body}{var} = {py_literal(rng)}")
        elif r < 0.5:
            lines.append(f"{body}for {var} in {ident(rng)}({rng.choice(NOUNS)}):")
            lines.append(f"{body}    if {var}.{rng.choice(ADJS)} is None:")
            lines.append(f"{body}        continue")
            lines.append(f"{body}    {ident(rng)}.append({var})")
        elif r < 0.65:
            lines.append(f"{body}if not {var}:")
            lines.append(f'{body}    raise ValueError(f"{rng.choice(ADJS)} {var} missing: {{{var}!r}}")')
        elif r < 0.8:
            lines.append(f"{body}{var} = self.{ident(rng)}({var}, {py_literal(rng)})" if method
                         else f"{body}{var} = {ident(rng)}({var}, timeout={rng.randint(1, 60)})")
        else:
            lines.append(f'{body}logger.info("{rng.choice(VERBS)} %s in %.2fs", {var}, time.monotonic() - start)')
    lines.append(f"{body}return {py_literal(rng)}")
    return "\n".join(lines)


def python_code(rng: random.Random, target: int) -> str:
    out = []
    if rng.random() < 0.6:
        out.append(f'"""{rng.choice(VERBS).title()} {rng.choice(NOUNS)} records for the {rng.choice(ADJS)} pipeline."""\n')
    out.append("from __future__ import annotations\n\nimport logging\nimport time\nfrom dataclasses import dataclass\nfrom typing import Any\n\nlogger = logging.getLogger(__name__)\n")
    while sum(map(len, out)) < target:
        if rng.random() < 0.35:
            cls = ident(rng, "pascal")
            fields = "\n".join(f"    {rng.choice(NOUNS)}_{i}: {rng.choice(['int', 'str', 'float'])} = {py_literal(rng) if rng.random() < 0.3 else '0'}"
                               for i in range(rng.randint(2, 5)))
            out.append(f"\n@dataclass\nclass {cls}:\n{fields}\n\n" + py_function(rng, "    ", True) + "\n")
        else:
            out.append("\n\n" + py_function(rng, "", False) + "\n")
    return "".join(out)[: max(target, 60)]


def js_function(rng: random.Random) -> str:
    name = ident(rng, "camel")
    args = [ident(rng, "camel") for _ in range(rng.randint(0, 3))]
    asy = rng.random() < 0.5
    lines = []
    if rng.random() < 0.5:
        lines.append(f"/**\n * {rng.choice(VERBS).title()} the {rng.choice(ADJS)} {rng.choice(NOUNS)}.\n * @param {{Object}} options\n */")
    arrow = rng.random() < 0.5
    if not arrow:
        lines.append(f"export {'async ' if asy else ''}function {name}({', '.join(args)}) {{")
    else:
        lines.append(f"export const {name} = {'async ' if asy else ''}({', '.join(args)}) => {{")
    for _ in range(rng.randint(2, 8)):
        r = rng.random()
        v = ident(rng, "camel")
        if r < 0.15:
            lines.append(f"  // {rng.choice(COMMENTS)}")
        elif r < 0.35:
            lines.append(f"  const {v} = {'await ' if asy else ''}{ident(rng, 'camel')}({', '.join(args[:2])});")
        elif r < 0.5:
            lines.append(f"  if (!{v} || {v}.length === 0) {{\n    throw new Error(`{rng.choice(ADJS)} {rng.choice(NOUNS)} missing: ${{{v}}}`);\n  }}")
        elif r < 0.65:
            lines.append(f"  const {v} = items.filter((x) => x.{rng.choice(ADJS)} > {rng.randint(0, 100)}).map((x) => ({{ id: x.id, {rng.choice(NOUNS)}: x.{rng.choice(NOUNS)} }}));")
        elif r < 0.8:
            lines.append(f"  const res = await fetch(`/api/v{rng.randint(1, 3)}/{rng.choice(NOUNS)}s/${{id}}`, {{ method: '{rng.choice(['GET', 'POST', 'PUT'])}', headers: {{ 'Content-Type': 'application/json' }} }});")
        else:
            lines.append(f"  console.log('{rng.choice(VERBS)}', {v}, Date.now() - start);")
    lines.append(f"  return {rng.choice(['null', 'true', 'result', '{ ok: true }', str(rng.randint(0, 9))])};")
    lines.append("};" if arrow else "}")
    return "\n".join(lines)


def js_code(rng: random.Random, target: int) -> str:
    out = [f"import {{ {ident(rng, 'camel')} }} from './{rng.choice(NOUNS)}.js';\nimport axios from 'axios';\n\nconst DEFAULT_TIMEOUT = {rng.randint(1, 30) * 1000};\n"]
    while sum(map(len, out)) < target:
        if rng.random() < 0.25:
            cls = ident(rng, "pascal")
            out.append(f"\nexport class {cls} {{\n  constructor(options = {{}}) {{\n    this.{ident(rng, 'camel')} = options.{rng.choice(NOUNS)} ?? {rng.randint(0, 9)};\n    this.cache = new Map();\n  }}\n\n  {ident(rng, 'camel')}(key) {{\n    return this.cache.get(key) ?? null;\n  }}\n}}\n")
        else:
            out.append("\n" + js_function(rng) + "\n")
    return "".join(out)[: max(target, 60)]


FIRST = ["Alice", "Bob", "Carol", "Dmitri", "Emma", "Feng", "Grace", "Hiro", "Ines", "Jun", "Karim", "Lena"]
LAST = ["Smith", "Wang", "Garcia", "Müller", "Tanaka", "Kim", "Rossi", "Novak", "Silva", "Li"]


def json_value(rng: random.Random, depth: int) -> Any:
    r = rng.random()
    if depth > 2 or r < 0.45:
        kind = rng.randrange(8)
        return [
            lambda: rng.randint(0, 100000),
            lambda: round(rng.uniform(0, 1000), rng.randint(1, 3)),
            lambda: f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            lambda: f"2024-0{rng.randint(1, 9)}-{rng.randint(10, 28)}T{rng.randint(10, 23)}:{rng.randint(10, 59)}:00Z",
            lambda: str(uuid.UUID(int=rng.getrandbits(128))),
            lambda: rng.choice([True, False, None]),
            lambda: rng.choice(["active", "pending", "shipped", "cancelled", "refunded"]),
            lambda: f"{rng.choice(ADJS)} {rng.choice(NOUNS)} for the {rng.choice(NOUNS)} {rng.choice(VERBS)}",
        ][kind]()
    if r < 0.75:
        return {f"{rng.choice(ADJS)}_{rng.choice(NOUNS)}" if rng.random() < 0.5 else rng.choice(NOUNS):
                json_value(rng, depth + 1) for _ in range(rng.randint(1, 6))}
    return [json_value(rng, depth + 1) for _ in range(rng.randint(1, 5))]


def json_doc(rng: random.Random, target: int) -> str:
    items = []
    text = ""
    indent = rng.choice([None, 2, 4])
    while len(text) < target:
        items.append({"id": rng.randint(1, 10**6), "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                      **{rng.choice(NOUNS): json_value(rng, 1) for _ in range(rng.randint(2, 6))}})
        text = json.dumps({"data": items, "page": rng.randint(1, 9), "has_more": True},
                          indent=indent, ensure_ascii=rng.random() < 0.3)
    return text


def seed_slice(rng: random.Random, seeds: list[str], target: int) -> str:
    """A line-aligned window of a hand-written source file, like a pasted excerpt."""
    src = rng.choice(seeds)
    lines = src.splitlines(keepends=True)
    start = rng.randrange(len(lines))
    out: list[str] = []
    i = start
    while sum(map(len, out)) < target and i < len(lines):
        out.append(lines[i])
        i += 1
    if sum(map(len, out)) < target // 2:  # near the end of the file: take the head instead
        out = lines[: max(1, len(out))]
        while sum(map(len, out)) < target and len(out) < len(lines):
            out.append(lines[len(out)])
    return "".join(out)


def paragraphs_from(rng: random.Random, pool: list[str], sentences: list[str], target: int) -> str:
    parts: list[str] = []
    while sum(map(len, parts)) < target:
        parts.append(rng.choice(pool) if rng.random() < 0.6 else rng.choice(sentences))
    sep = "\n\n" if rng.random() < 0.5 else "\n"
    return sep.join(parts)


def chat_turns(rng: random.Random, sentences: list[str], target: int) -> str:
    out: list[str] = []
    while sum(map(len, out)) < target:
        out.append(rng.choice(sentences))
    return " ".join(out)


def mixed(rng: random.Random, para: dict[str, list[str]], sent: dict[str, list[str]],
          seeds: dict[str, list[str]], target: int) -> str:
    out: list[str] = []
    while sum(map(len, out)) < target:
        r = rng.random()
        if r < 0.3:
            lang = rng.choice(["zh", "ja", "ko"])
            out.append(rng.choice(sent[lang]))
        elif r < 0.5:
            out.append(rng.choice(para[rng.choice(["en", "zh"])]))
        elif r < 0.75:
            code = (seed_slice(rng, seeds["python"] + seeds["javascript"], rng.randint(150, 900))
                    if rng.random() < 0.5 else python_code(rng, rng.randint(150, 600)))
            out.append("```\n" + code + "\n```")
        elif r < 0.85:
            out.append("```json\n" + json_doc(rng, rng.randint(100, 400)) + "\n```")
        else:
            out.append(rng.choice(sent["en"]))
    return "\n\n".join(out)


def target_length(rng: random.Random) -> int:
    # Log-uniform between 50 and 5000 chars: many short chat turns, some long documents.
    return int(50 * (100 ** rng.random()))


def main() -> None:
    rng = random.Random(SEED)
    para: dict[str, list[str]] = {}
    for line in (HERE / "paragraphs.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        para.setdefault(row["lang"], []).append(row["text"])
    sent: dict[str, list[str]] = {}
    for line in (HERE / "language.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        sent.setdefault(row["lang"], []).append(row["text"])
    seeds: dict[str, list[str]] = {"python": [], "javascript": []}
    for path in sorted((HERE / "seeds").iterdir()):
        kind = "python" if path.name.endswith(".py.txt") else "javascript"
        seeds[kind].append(path.read_text(encoding="utf-8"))
    rows = []
    for category in ["en", "zh", "ja", "ko", "python", "javascript", "json", "mixed"]:
        for i in range(PER_CATEGORY):
            n = target_length(rng)
            if category in ("en", "zh", "ja", "ko"):
                text = (chat_turns(rng, sent[category], n) if i % 3 == 0
                        else paragraphs_from(rng, para[category], sent[category], n))
            elif category == "python":
                text = seed_slice(rng, seeds["python"], n) if i % 2 else python_code(rng, n)
            elif category == "javascript":
                text = seed_slice(rng, seeds["javascript"], n) if i % 2 else js_code(rng, n)
            elif category == "json":
                text = json_doc(rng, n)
            else:
                text = mixed(rng, para, sent, seeds, n)
            rows.append({"category": category, "text": text})
    with (HERE / "token_corpus.jsonl").open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
