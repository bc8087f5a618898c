"""Routing reads the user, not the agent: role mailboxes are not PII, and
``<system-reminder>`` blocks, tool definitions and the system prompt do not decide
the language."""

from __future__ import annotations

import pytest

from gateway.features import extract_features, find_pii

REMINDER = ("<system-reminder>\nAs you answer the user's questions, you can use the following "
            "context. Keep answers short, prefer the tools you have, and never guess paths. "
            * 20 + "\n</system-reminder>")
SYSTEM = "You are an interactive CLI tool. Report issues at noreply@anthropic.com. " * 30


@pytest.mark.parametrize("address", ["noreply@anthropic.com", "No-Reply@example.co",
                                     "donotreply@bank.com", "MAILER-DAEMON@mx.example.org",
                                     "postmaster@example.net", "do-not-reply@shop.io"])
def test_role_mailboxes_are_not_pii(address: str) -> None:
    assert find_pii(f"write to {address} for help") == frozenset()


def test_a_real_address_still_counts_beside_a_role_address() -> None:
    assert find_pii("noreply@anthropic.com, then jane.doe@gmail.com") == {"email"}
    assert find_pii("xnoreply@anthropic.com") == {"email"}  # not a role local part


def _claude_code(user_words: str, **extra: object) -> dict[str, object]:
    return {"model": "auto", "max_tokens": 32000, "system": SYSTEM,
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": REMINDER}, {"type": "text", "text": user_words}]},
                {"role": "system", "content": "# Environment\nPlatform: linux"}],
            "tools": [{"name": "Bash", "description": "Executes a bash command " * 50,
                       "input_schema": {"type": "object"}}], **extra}


def test_claude_code_request_holds_no_pii_and_reads_the_users_language() -> None:
    f = extract_features(_claude_code("请帮我看看这个目录里有哪些文件"), surface="messages")
    assert f.pii == frozenset()
    assert f.language == "zh"
    f = extract_features(_claude_code("say hello"), surface="messages")
    assert f.language == "en"


def test_real_address_in_claude_code_request_is_pii() -> None:
    f = extract_features(_claude_code("email jane.doe@gmail.com the summary"), surface="messages")
    assert f.pii == {"email"}


def test_reminder_inside_a_text_block_is_cut_out() -> None:
    body = {"model": "auto", "max_tokens": 5, "messages": [{"role": "user", "content":
            REMINDER + "请用中文回答这个问题" + REMINDER}]}
    assert extract_features(body, surface="messages").language == "zh"


def test_reminders_in_openai_user_messages_are_skipped_too() -> None:
    body = {"model": "auto", "messages": [{"role": "user", "content": [
        {"type": "text", "text": REMINDER}, {"type": "text", "text": "今天天气怎么样"}]}]}
    assert extract_features(body).language == "zh"


def test_unclosed_reminder_runs_to_the_end() -> None:
    body = {"model": "auto", "messages": [{"role": "user", "content":
            "今天天气怎么样 <system-reminder> " + "English words only here. " * 40}]}
    assert extract_features(body).language == "zh"
