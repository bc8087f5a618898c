"""CPU of ``extract_features`` per call, the working tree against a git revision.

    python bench/features_ab.py [--rev main] [--rounds 25] [--parts]

Exports ``gateway/features`` (and the two files it imports from ``gateway/``) as of
``REV`` (default ``main``) to a temporary directory as the package ``gateway_old``, and
times its ``extract_features`` beside the working tree's in interleaved batches (the order
of the pair alternates each round), thread CPU time, median of the rounds: a ratio from
one process, which a shared machine's load moves far less than two runs. Every case's
features are checked equal first (tokens, language, pii, pii_fields, pii_unverified, all
fields of ``Features``).

Cases: the shipped benchmark's ``auto`` request (``bench/harness/shipped.py``: a system
prompt and a short English user prompt, chat), a Claude Code-shaped Messages request (a
system prompt of ~12 KB, 20 tools with JSON schemas, a system-reminder, three rounds of
``tool_use``/``tool_result`` with code and test output: ~70 KB), the same agent request as
the chat body the gateway makes of it, and a 1 MB English prompt (one user message).
``--parts`` also times the language decision and the PII walk alone on the short prompt.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from revtree import import_revision, ratio_row  # noqa: E402

CORPUS = ROOT / "tests" / "features" / "data" / "token_corpus.jsonl"

# bench/harness/shipped.py's _gateway_call for the "auto" path (MAX_TOKENS there is 64).
SHORT: dict[str, Any] = {"model": "auto", "max_tokens": 64, "messages": [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Write one sentence about the sea."}]}


def load_old(rev: str, tmp: Path) -> ModuleType:
    """``gateway/features`` as of ``rev``, beside this tree's."""
    name = import_revision(rev, tmp, ["gateway/__init__.py", "gateway/agent_text.py",
                                      "gateway/features"])
    return importlib.import_module(f"{name}.features")


def corpus(*categories: str) -> list[str]:
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]
    return [r["text"] for r in rows if r["category"] in categories]


def _take(texts: list[str], size: int, start: int = 0) -> str:
    out = ""
    i = start
    while len(out) < size:
        out += texts[i % len(texts)] + "\n\n"
        i += 1
    return out[:size]


def agent_body() -> dict[str, Any]:
    """A Claude Code-shaped /v1/messages request (what its requests carry, sizes included:
    a long system prompt, ~20 tools whose descriptions are paragraphs, a system-reminder
    before the user's words, tool calls reading a file and running tests)."""
    en = corpus("en")
    code = corpus("python")
    eph = {"type": "ephemeral"}
    tool_names = ["Task", "Bash", "Glob", "Grep", "ExitPlanMode", "Read", "Edit", "MultiEdit",
                  "Write", "NotebookEdit", "WebFetch", "TodoWrite", "WebSearch", "BashOutput",
                  "KillShell", "SlashCommand", "ListMcpResources", "ReadMcpResource",
                  "mcp__ide__getDiagnostics", "mcp__ide__executeCode"]
    props = [("file_path", "string", "The absolute path to the file to read"),
             ("offset", "number", "The line number to start reading from"),
             ("limit", "number", "The number of lines to read"),
             ("command", "string", "The command to execute"),
             ("timeout", "number", "Optional timeout in milliseconds (max 600000)"),
             ("description", "string", "Clear, concise description of what this does"),
             ("run_in_background", "boolean", "Set to true to run this command in the background"),
             ("pattern", "string", "The regular expression pattern to search for")]
    tools = []
    for j, name in enumerate(tool_names):
        chosen = [props[(j + k) % len(props)] for k in range(2 + j % 4)]
        tools.append({
            "name": name,
            "description": _take(en, 300 + (j * 577) % 3200, j),
            "input_schema": {
                "type": "object",
                "properties": {p: {"type": t, "description": d} for p, t, d in chosen},
                "required": [chosen[0][0]], "additionalProperties": False,
                "$schema": "http://json-schema.org/draft-07/schema#"}})
    tools[-1]["cache_control"] = eph
    reminder = ("<system-reminder>\nAs you answer the user's questions, you can use the "
                "following context:\n# claudeMd\n" + _take(en, 1800, 3)
                + "\n</system-reminder>\n")
    source = "\n".join(f"{i + 1:>6}\u2192{line}"
                       for i, line in enumerate(_take(code, 4000).splitlines()))
    tests = ("============================= test session starts ==============================\n"
             "collected 42 items\n\ntests/test_parser.py ........F.......\n\n"
             "=================================== FAILURES ===================================\n"
             "___________________________ test_nested_brackets ____________________________\n"
             "    def test_nested_brackets():\n>       assert parse('[[1]]') == [[1]]\n"
             "E       AssertionError: assert [1] == [[1]]\n\ntests/test_parser.py:57: "
             "AssertionError\n========================= 1 failed, 41 passed in 0.31s "
             "=========================\n")
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": [
            {"type": "text", "text": reminder},
            {"type": "text", "text": "The parser fails on nested brackets, see "
                                     "tests/test_parser.py. Can you fix it?",
             "cache_control": eph}]},
        {"role": "assistant", "content": [
            {"type": "text", "text": "I'll start by reading the parser."},
            {"type": "tool_use", "id": "toolu_01A9bq3xWz7kLmN4pQr8sT2v", "name": "Read",
             "input": {"file_path": "/home/dev/project/src/parser.py"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01A9bq3xWz7kLmN4pQr8sT2v",
             "content": source}]},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Let me run the failing test to see the error."},
            {"type": "tool_use", "id": "toolu_01Bc4dE5fG6hJ7kL8mN9pQ0r", "name": "Bash",
             "input": {"command": "python -m pytest tests/test_parser.py -q",
                       "description": "Run the parser tests"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01Bc4dE5fG6hJ7kL8mN9pQ0r",
             "content": tests, "is_error": True}]},
        {"role": "assistant", "content": [
            {"type": "text", "text": "The closing bracket ends the outer list too early."},
            {"type": "tool_use", "id": "toolu_01Cd5eF6gH7jK8lM9nP0qR1s", "name": "Edit",
             "input": {"file_path": "/home/dev/project/src/parser.py",
                       "old_string": "        if ch == ']':\n            return out",
                       "new_string": "        if ch == ']':\n            depth -= 1\n"
                                     "            if depth == 0:\n                return out"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01Cd5eF6gH7jK8lM9nP0qR1s",
             "content": "The file /home/dev/project/src/parser.py has been updated."},
            {"type": "text", "text": "<system-reminder>\nThe TodoWrite tool hasn't been used "
                                     "recently.\n</system-reminder>"}]},
    ]
    return {
        "model": "claude-sonnet-4-5-20250929", "max_tokens": 32000, "stream": True,
        "system": [{"type": "text", "text": "You are Claude Code, Anthropic's official CLI "
                                            "for Claude.", "cache_control": eph},
                   {"type": "text", "text": _take(en, 12000, 11), "cache_control": eph}],
        "messages": messages, "tools": tools, "temperature": 1,
        "metadata": {"user_id": "user_5f3c9a1e2b7d_account__session_9c1d2e3f-4a5b-6c7d-8e9f"},
        "thinking": {"type": "enabled", "budget_tokens": 31999},
    }


def prompt_1mb() -> dict[str, Any]:
    return {"model": "auto", "max_tokens": 1024, "messages": [
        {"role": "user", "content": _take(corpus("en"), 1_000_000)}]}


def call(features: ModuleType, body: dict[str, Any], surface: str) -> Callable[[], Any]:
    return lambda: features.extract_features(body, surface=surface)


def timed(fn: Callable[[], Any], n: int) -> float:
    """CPU us per call of ``fn`` over ``n`` calls (this thread's time)."""
    t0 = time.thread_time_ns()
    for _ in range(n):
        fn()
    return (time.thread_time_ns() - t0) / n / 1000


def ab(name: str, old: Callable[[], Any], new: Callable[[], Any], n: int, rounds: int) -> None:
    timed(old, n), timed(new, n)  # warm
    olds: list[float] = []
    news: list[float] = []
    for i in range(rounds):
        pair = ((old, olds), (new, news)) if i % 2 else ((new, news), (old, olds))
        for fn, acc in pair:
            acc.append(timed(fn, n))
    print(ratio_row(name, olds, news), flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rev", default="main")
    p.add_argument("--rounds", type=int, default=25)
    p.add_argument("--parts", action="store_true")
    a = p.parse_args()
    from gateway import features as new
    from gateway.translate import messages_to_chat_request

    old = load_old(a.rev, Path(tempfile.mkdtemp(prefix="features-ab-")))
    old.language.warm_up()
    new.language.warm_up()
    agent = agent_body()
    chat, _ = messages_to_chat_request(agent, upstream_model="bench")
    # (name, body, surface, calls per batch)
    cases = [("short prompt, chat (the bench's auto request)", SHORT, "chat_completions", 2000),
             ("agent request, Messages (~70 KB)", agent, "messages", 20),
             ("agent request as chat", chat, "chat_completions", 20),
             ("1 MB English prompt, chat", prompt_1mb(), "chat_completions", 1)]
    for name, body, surface, _ in cases:
        fo = old.extract_features(body, surface=surface)
        fn = new.extract_features(body, surface=surface)
        assert fo.to_json() == fn.to_json(), (name, fo, fn)
    avg = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    size = len(json.dumps(agent))
    print(f"`python bench/features_ab.py --rev {a.rev} --rounds {a.rounds}`, load average "
          f"{avg}; agent body {size / 1000:.0f} KB of JSON")
    print()
    print(f"| extract_features | {a.rev} us | working tree us | ratio |")
    print("| --- | ---: | ---: | ---: |")
    for name, body, surface, n in cases:
        ab(name, call(old, body, surface), call(new, body, surface), n, a.rounds)
    if a.parts:
        user = SHORT["messages"][-1]["content"]
        ab("language decision, short prompt", lambda: old.detect_language(user),
           lambda: new.detect_language(user), 2000, a.rounds)
        ab("PII only, short prompt",
           lambda: old.extract_features(SHORT, detect_language=False),
           lambda: new.extract_features(SHORT, detect_language=False), 2000, a.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
