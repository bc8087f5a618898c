"""Time gateway.features.extract_features on realistic 10 KB, 1 MB and 10 MB prompts.

    python bench/features_bench.py [--quick] [--adversarial] [--against OLD_TREE]

``--against OLD_TREE`` (a copy of the repository before a change, e.g. from ``git archive``)
times its ``extract_features`` and this tree's alternately in one process (thread CPU
time) on the rows below and on a Claude Code-shaped agent turn sent as Messages and as
the chat body the gateway makes of it: a ratio from one run, which the machine's load
moves far less than it moves two runs of the plain benchmark.

``--adversarial`` times 1 MB of each repeated trigger prefix and separator
(tests/features/adversarial.py) against 1 MB of English prose, as one message: target
no class above 3x prose.

Prompts are built from the calibration corpus (tests/features/data/token_corpus.jsonl):
English prose, Chinese prose, source code and JSON, each as a multi-turn chat (messages of
2-20 KB) and, for the largest size, also as one single huge message. "+pii" variants
sprinkle an email, a card number and an API key through the text (the scanner keeps
scanning: not every kind is present, so there is no early exit). Budget: 1 MB < 20 ms,
10 MB < 150 ms on the 2-core reference machine.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time
from pathlib import Path
from collections.abc import Iterator
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.features import extract_features
from gateway.features.language import warm_up

CORPUS = ROOT / "tests" / "features" / "data" / "token_corpus.jsonl"
KINDS = {"english": ("en",), "chinese": ("zh",), "code": ("python", "javascript"), "json": ("json",)}
PII_SNIPPETS = [
    " please reply to maria.garcia@example.com ",
    " card 4111 1111 1111 1111 exp 12/27 ",
    ' OPENAI_API_KEY="sk-proj-Zx8kq2LmP9wRt5Yb3Nc7Vd1Hf6Jg4Ks0Qa2We4" ',
]


def load_text(kind: str) -> str:
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]
    return "\n\n".join(r["text"] for r in rows if r["category"] in KINDS[kind])


def make_text(base: str, size: int, pii: bool, rng: random.Random) -> str:
    # Grow by whole copies of the corpus, then trim to `size` UTF-8 bytes.
    text = base * (size // len(base.encode()) + 1)
    text = text.encode()[:size].decode(errors="ignore")
    if pii:
        chunks = [text]
        for snippet in PII_SNIPPETS:
            big = max(chunks, key=len)
            i = chunks.index(big)
            cut = rng.randrange(len(big))
            chunks[i:i + 1] = [big[:cut], snippet, big[cut:]]
        text = "".join(chunks)
    return text


def make_body(text: str, single: bool, rng: random.Random) -> dict[str, Any]:
    if single:
        parts = [text]
    else:
        parts, i = [], 0
        while i < len(text):
            n = rng.randint(2_000, 20_000)
            parts.append(text[i:i + n])
            i += n
    messages: list[dict[str, Any]] = [{"role": "system", "content": "You are a helpful assistant."}]
    for j, part in enumerate(parts):
        messages.append({"role": "user" if j % 2 == 0 else "assistant", "content": part})
    if messages[-1]["role"] != "user":
        messages.append({"role": "user", "content": "Please summarise the above."})
    return {"model": "bench", "messages": messages, "max_tokens": 1024, "stream": True}


def time_it(body: dict[str, Any], runs: int) -> tuple[float, float, Any]:
    times = []
    features = None
    for _ in range(runs):
        t0 = time.perf_counter()
        features = extract_features(body)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    return statistics.median(times), p99, features


def adversarial(size: int = 1_000_000, runs: int = 7) -> None:
    from tests.features.adversarial import UNITS, repeat

    def body(text: str) -> dict[str, Any]:
        return {"model": "bench", "messages": [{"role": "user", "content": text}]}

    def cpu(b: dict[str, Any]) -> tuple[float, Any]:
        # CPU time of this thread: on a shared machine, wall time also counts the time
        # spent waiting for a core, which moved single runs by 2x
        t0 = time.thread_time()
        f = extract_features(b)
        return (time.thread_time() - t0) * 1000, f

    prose = body(make_text(load_text("english"), size, False, random.Random(7)))
    cpu(prose)
    rows = []
    base = float("inf")
    for unit in UNITS:
        b = body(repeat(unit, size))
        unit_ms = prose_ms = float("inf")
        f = None
        for _ in range(runs):  # alternately: the load of a shared machine drifts
            prose_ms = min(prose_ms, cpu(prose)[0])
            ms, f = cpu(b)
            unit_ms = min(unit_ms, ms)
        base = min(base, prose_ms)
        rows.append((unit, unit_ms, unit_ms / prose_ms, ",".join(sorted(f.pii)) or "-"))
    print(f"{'input (1 MB, one message)':<44}{'CPU ms':>9}{'x prose':>9}  pii")
    print(f"{'English prose (best of all its runs)':<44}{base:>9.2f}{1:>9.2f}")
    for unit, ms, ratio, pii in rows:
        print(f"{repr(unit)[:42]:<44}{ms:>9.2f}{ratio:>9.2f}  {pii}")
    worst = max(rows, key=lambda r: r[2])
    print(f"worst: {worst[2]:.2f}x prose ({worst[0]!r})")
    over = [r for r in rows if r[2] > 3]
    md = ["## Feature scanner, adversarial inputs", "",
          "Command: `python bench/features_bench.py --adversarial` "
          f"({time.strftime('%Y-%m-%d')}, load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores). `extract_features` on 1 MB of each unit repeated "
          "(`tests/features/adversarial.py`), one message, thread CPU time, best of "
          f"{runs} runs alternating with 1 MB of English prose; x prose is the unit's best "
          "over the prose's best in the same runs (the load drifts), and the prose row is the "
          f"best of all its runs. Target: no input above 3x prose; {len(over)} of {len(rows)} "
          "above.",
          "", "| input | CPU ms | x prose | pii |", "| --- | ---: | ---: | --- |",
          f"| English prose | {base:.1f} | 1.00 | - |"]
    md += [f"| `{unit!r}` | {ms:.1f} | {ratio:.2f} | {pii} |" for unit, ms, ratio, pii in rows]
    (ROOT / "bench" / "features_adversarial.md").write_text("\n".join(md) + "\n", encoding="utf-8")


def standard_rows(sizes: list[tuple[int, str, int]]
                  ) -> Iterator[tuple[str, str, int, dict[str, Any]]]:
    """(name, size label, runs, body) of every standard row, built from one seed."""
    rng = random.Random(7)
    for kind in KINDS:
        base = load_text(kind)
        for size, label, runs in sizes:
            shapes = [("chat", False)] + ([("1 msg", True)] if size >= 10_000_000 else [])
            for shape, single in shapes:
                for pii in (False, True):
                    body = make_body(make_text(base, size, pii, rng), single, rng)
                    yield f"{kind} {shape}{' +pii' if pii else ''}", label, runs, body


def agent_turn(turns: int = 150, tools: int = 24) -> dict[str, Any]:
    """A Messages body shaped like Claude Code's: a long system prompt, many tools, and
    many small blocks (text, tool_use, tool_result, reminders): the walkers' own cost."""
    schema = {"type": "object", "required": ["command"], "properties": {
        "command": {"type": "string", "description": "The command to run"},
        "timeout": {"type": "number", "description": "Optional timeout in milliseconds"}}}
    messages: list[dict[str, Any]] = [{"role": "user", "content": [
        {"type": "text", "text": "<system-reminder>Files open: a.py</system-reminder>"},
        {"type": "text", "text": "Fix the failing test in tests/test_parser.py please."}]}]
    for i in range(turns):
        messages.append({"role": "assistant", "content": [
            {"type": "text", "text": f"Let me look at step {i} of the parser and run the tests."},
            {"type": "tool_use", "id": f"toolu_{i}", "name": "Bash",
             "input": {"command": f"pytest -q tests/test_parser.py -k case_{i}",
                       "timeout": 120000}}]})
        messages.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": f"toolu_{i}",
             "content": "F.\n=== FAILURES ===\nAssertionError: expected 3 got 4\n" * 3},
            {"type": "text", "text": "<system-reminder>Todo list updated.</system-reminder>"}]})
    messages.append({"role": "user", "content": "Now summarise what you changed."})
    return {"model": "bench", "max_tokens": 8192, "stream": True, "messages": messages,
            "system": [{"type": "text", "text": "You are an agentic coding assistant. " * 40}],
            "tools": [{"name": f"Tool{j}", "input_schema": schema,
                       "description": "Runs a bash command in a persistent shell. " * 8}
                      for j in range(tools)]}


def against(old_tree: str, quick: bool) -> None:
    import importlib
    import shutil
    import tempfile

    from gateway.translate import messages_to_chat_request

    # The old tree's package under another name: both import side by side.
    tmp = tempfile.mkdtemp(prefix="features-ab-")
    shutil.copytree(Path(old_tree) / "gateway", Path(tmp) / "gateway_old")
    sys.path.insert(0, tmp)
    old = importlib.import_module("gateway_old.features")
    old.language.warm_up()

    def ab(name: str, body: dict[str, Any], surface: str, runs: int) -> float:
        times: dict[str, list[float]] = {"old": [], "new": []}
        for _ in range(runs):
            for label, fn in (("old", old.extract_features), ("new", extract_features)):
                t0 = time.thread_time()
                fn(body, surface=surface)
                times[label].append((time.thread_time() - t0) * 1000)
        o, n = statistics.median(times["old"]), statistics.median(times["new"])
        fo, fn_ = old.extract_features(body, surface=surface), extract_features(body,
                                                                                surface=surface)
        same = (fo.tokens, fo.language, fo.pii) == (fn_.tokens, fn_.language, fn_.pii)
        print(f"{name:<28}{o:>10.2f}{n:>10.2f}{n / o:>8.2f}  "
              f"{'same' if same else f'tokens {fo.tokens} -> {fn_.tokens}'}")
        return n / o

    sizes = [(10_000, "10KB", 60), (1_000_000, "1MB", 8), (10_000_000, "10MB", 3)]
    if quick:
        sizes = [(s, n, max(2, r // 4)) for s, n, r in sizes]
    print(f"{'prompt':<28}{'old ms':>10}{'new ms':>10}{'new/old':>8}  features")
    ratios = [ab(f"{name} {label}", body, "chat_completions", runs)
              for name, label, runs, body in standard_rows(sizes)]
    turn = agent_turn()
    chat, _ = messages_to_chat_request(turn, upstream_model="bench")
    agent = [ab("agent turn as Messages", turn, "messages", 30),
             ab("agent turn as chat", chat, "chat_completions", 30)]
    mean = statistics.geometric_mean(ratios)
    print(f"standard rows: geometric mean new/old {mean:.3f}; agent turn "
          f"{', '.join(f'{r:.3f}' for r in agent)} (load average {os.getloadavg()[0]:.1f})")
    shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    if "--against" in sys.argv:
        warm_up()
        against(sys.argv[sys.argv.index("--against") + 1], "--quick" in sys.argv)
        return
    if "--adversarial" in sys.argv:
        warm_up()
        adversarial()
        return
    quick = "--quick" in sys.argv
    warm_up()  # load lingua once, as a server would at start-up
    sizes = [(10_000, "10KB", 200), (1_000_000, "1MB", 25), (10_000_000, "10MB", 7)]
    if quick:
        sizes = [(s, n, max(3, r // 5)) for s, n, r in sizes]
    print(f"{'prompt':<26}{'size':>6}{'median ms':>11}{'p99 ms':>9}{'tokens':>11}  lang  pii")
    for name, label, runs, body in standard_rows(sizes):
        med, p99, f = time_it(body, runs)
        print(f"{name:<26}{label:>6}{med:>11.2f}{p99:>9.2f}{f.tokens:>11}  "
              f"{f.language or '-':<5} {','.join(sorted(f.pii)) or '-'}")


if __name__ == "__main__":
    main()
