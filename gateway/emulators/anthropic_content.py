"""Validation of Anthropic ``messages`` and ``system``: roles, content blocks and the
pairing of ``tool_use`` with ``tool_result``, with the real API's error wording.
``system``-role turns (text only) are accepted anywhere, as the API takes them from
Claude Code 2.1; they sit outside the turn structure.

The API merges consecutive turns of one role before checking the pairing, so a
gateway may put each tool result in its own user message.

Thinking signatures are checked as the API checks them: a block's ``signature`` must be
one this emulator made for exactly that ``thinking`` text (``sign_thinking``), so an
edited text, a signature from elsewhere (the gateway's ``gwkimi1.`` ones) or a made-up
one is refused with the API's "Invalid `signature` in `thinking` block".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from .checks import bad_request

_SIGNATURE = re.compile(r"[A-Za-z0-9+/=]*")
# One key for every emulator: a signature made by one instance passes another (as
# Anthropic's do across requests), never one made for another text.
_SIGNING_KEY = b"anthropic-emulator-thinking"
_NONCE = 16


def sign_thinking(text: str) -> str:
    """A signature for a thinking block's text (base64, as Anthropic's)."""
    nonce = secrets.token_bytes(_NONCE)
    mac = hmac.new(_SIGNING_KEY, nonce + text.encode(), hashlib.sha256).digest()
    return base64.b64encode(nonce + mac).decode()


def signature_valid(signature: str, text: str) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    nonce, mac = raw[:_NONCE], raw[_NONCE:]
    want = hmac.new(_SIGNING_KEY, nonce + text.encode(), hashlib.sha256).digest()
    return len(raw) > _NONCE and hmac.compare_digest(mac, want)

TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
USER_BLOCKS = frozenset({"text", "image", "document", "tool_result", "search_result"})
ASSISTANT_BLOCKS = frozenset(
    {
        "text",
        "tool_use",
        "thinking",
        "redacted_thinking",
        "server_tool_use",
        "web_search_tool_result",
        "web_fetch_tool_result",
        "code_execution_tool_result",
    }
)
RESULT_BLOCKS = frozenset({"text", "image", "document", "search_result"})
MESSAGE_KEYS = frozenset({"role", "content"})
NON_WHITESPACE = "text content blocks must contain non-whitespace text"


@dataclass
class Turn:
    """Consecutive messages of one role, merged as the API does."""

    role: str
    index: int  # of the first message, for error paths
    blocks: list[dict[str, Any]] = field(default_factory=list)


def as_blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return list(content)


def validate_system(system: Any) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        raise bad_request("system: Input should be a valid string or a list of text blocks")
    for i, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise bad_request(f"system.{i}.type: Input should be 'text'")
        _text_block(block, f"system.{i}")


def validate_messages(messages: Any) -> list[Turn]:
    if not isinstance(messages, list):
        raise bad_request("messages: Input should be a valid list")
    if not messages:
        raise bad_request("messages: at least one message is required")
    last = len(messages) - 1
    turns: list[Turn] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise bad_request(f"messages.{i}: Input should be a valid dictionary")
        for key in message:
            if key not in MESSAGE_KEYS:
                raise bad_request(f"messages.{i}.{key}: Extra inputs are not permitted")
        role = message.get("role")
        if role not in ("user", "assistant", "system"):
            raise bad_request(
                f"messages.{i}.role: Input should be 'user', 'assistant' or 'system'"
            )
        if "content" not in message:
            raise bad_request(f"messages.{i}.content: Field required")
        if role == "system":
            # A mid-conversation system turn (Claude Code 2.1 sends them): instructions
            # at that point of the conversation, outside the user/assistant alternation.
            _system_turn(message["content"], i)
            continue
        blocks = _content(
            message["content"], i, role, final_assistant=i == last and role == "assistant"
        )
        if turns and turns[-1].role == role:
            turns[-1].blocks.extend(blocks)
        else:
            turns.append(Turn(role, i, blocks))
    if not turns:
        raise bad_request("messages: at least one user or assistant message is required")
    _check_tool_pairing(turns)
    return turns


def _system_turn(content: Any, i: int) -> None:
    if isinstance(content, str):
        if not content.strip():
            raise bad_request(f"messages: {NON_WHITESPACE}")
        return
    if not isinstance(content, list) or not content:
        raise bad_request(f"messages.{i}.content: Input should be a non-empty string or list")
    for k, block in enumerate(content):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise bad_request(f"messages.{i}.content.{k}.type: Input should be 'text'")
        _cache_control(block, f"messages.{i}.content.{k}")
        _text_block(block, f"messages.{i}.content.{k}")


def _content(content: Any, i: int, role: str, *, final_assistant: bool) -> list[dict[str, Any]]:
    where = f"messages.{i}.content"
    if not isinstance(content, (str, list)):
        raise bad_request(f"{where}: Input should be a valid string or a list of content blocks")
    if not content and not final_assistant:
        raise bad_request(
            f"messages.{i}: all messages must have non-empty content except for the "
            "optional final assistant message"
        )
    if isinstance(content, str):
        if final_assistant:
            if content != content.rstrip():
                raise bad_request(
                    "messages: final assistant content cannot end with trailing whitespace"
                )
        elif not content.strip():
            raise bad_request(f"messages: {NON_WHITESPACE}")
        return as_blocks(content)
    allowed = USER_BLOCKS if role == "user" else ASSISTANT_BLOCKS
    for k, block in enumerate(content):
        _block(block, f"{where}.{k}", role, allowed)
    if final_assistant and content and content[-1].get("type") == "text":
        text = content[-1].get("text", "")
        if text != text.rstrip():
            raise bad_request(
                "messages: final assistant content cannot end with trailing whitespace"
            )
    return list(content)


def _block(block: Any, where: str, role: str, allowed: frozenset[str]) -> None:
    if not isinstance(block, dict):
        raise bad_request(f"{where}: Input should be a valid dictionary")
    kind = block.get("type")
    if kind not in USER_BLOCKS | ASSISTANT_BLOCKS:
        raise bad_request(
            f"{where}.type: Input tag '{kind}' found using 'type' does not match any of the "
            "expected tags"
        )
    if kind not in allowed:
        other = "assistant" if role == "user" else "user"
        raise bad_request(f"{where}: `{kind}` blocks can only be in `{other}` messages")
    _cache_control(block, where)
    if kind == "text":
        _text_block(block, where)
    elif kind == "image":
        _image(block.get("source"), f"{where}.image.source")
    elif kind == "document" and not isinstance(block.get("source"), dict):
        raise bad_request(f"{where}.document.source: Field required")
    elif kind == "tool_use":
        _tool_use(block, where)
    elif kind == "tool_result":
        _tool_result(block, where)
    elif kind == "thinking":
        if not isinstance(block.get("thinking"), str) or not isinstance(
            block.get("signature"), str
        ):
            raise bad_request(f"{where}.thinking: thinking and signature are required strings")
        if not _SIGNATURE.fullmatch(block["signature"]) or not signature_valid(
                block["signature"], block["thinking"]):
            raise bad_request(f"{where}: Invalid `signature` in `thinking` block")
    elif kind == "redacted_thinking" and not isinstance(block.get("data"), str):
        raise bad_request(f"{where}.redacted_thinking.data: Field required")


def _text_block(block: dict[str, Any], where: str) -> None:
    text = block.get("text")
    if not isinstance(text, str):
        raise bad_request(f"{where}.text: Input should be a valid string")
    if not text.strip():
        raise bad_request(
            f"messages: {NON_WHITESPACE}"
            if where.startswith("messages")
            else f"system: {NON_WHITESPACE}"
        )
    _cache_control(block, where)


def _cache_control(block: dict[str, Any], where: str) -> None:
    control = block.get("cache_control")
    if control is None:
        return
    if not isinstance(control, dict) or control.get("type") != "ephemeral":
        raise bad_request(f"{where}.cache_control.type: Input should be 'ephemeral'")
    if control.get("ttl", "5m") not in ("5m", "1h"):
        raise bad_request(f"{where}.cache_control.ttl: Input should be '5m' or '1h'")


def _image(source: Any, where: str) -> None:
    if not isinstance(source, dict):
        raise bad_request(f"{where}: Field required")
    kind = source.get("type")
    if kind == "base64":
        if source.get("media_type") not in IMAGE_TYPES:
            raise bad_request(
                f"{where}.base64.media_type: Input should be 'image/jpeg', 'image/png', "
                "'image/gif' or 'image/webp'"
            )
        data = source.get("data")
        if not isinstance(data, str) or not data:
            raise bad_request(f"{where}.base64.data: Field required")
        try:
            base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise bad_request(f"{where}.base64.data: The image data is not valid base64") from None
    elif kind == "url":
        if not isinstance(source.get("url"), str):
            raise bad_request(f"{where}.url.url: Field required")
    elif kind == "file":
        if not isinstance(source.get("file_id"), str):
            raise bad_request(f"{where}.file.file_id: Field required")
    else:
        raise bad_request(
            f"{where}: Input tag '{kind}' found using 'type' does not match any of the expected "
            "tags: 'base64', 'url', 'file'"
        )


def _tool_use(block: dict[str, Any], where: str) -> None:
    tool_id = block.get("id")
    if not isinstance(tool_id, str):
        raise bad_request(f"{where}.tool_use.id: Field required")
    if not TOOL_ID.match(tool_id):
        raise bad_request(f"{where}.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'")
    if not isinstance(block.get("name"), str):
        raise bad_request(f"{where}.tool_use.name: Field required")
    if not isinstance(block.get("input"), dict):
        raise bad_request(f"{where}.tool_use.input: Input should be a valid dictionary")


def _tool_result(block: dict[str, Any], where: str) -> None:
    tool_id = block.get("tool_use_id")
    if not isinstance(tool_id, str):
        raise bad_request(f"{where}.tool_result.tool_use_id: Field required")
    if not TOOL_ID.match(tool_id):
        raise bad_request(
            f"{where}.tool_result.tool_use_id: String should match pattern '^[a-zA-Z0-9_-]+$'"
        )
    if "is_error" in block and not isinstance(block["is_error"], bool):
        raise bad_request(f"{where}.tool_result.is_error: Input should be a valid boolean")
    content = block.get("content")
    if content is None or isinstance(content, str):
        return
    if not isinstance(content, list):
        raise bad_request(f"{where}.tool_result.content: Input should be a valid string or list")
    for k, inner in enumerate(content):
        spot = f"{where}.tool_result.content.{k}"
        if not isinstance(inner, dict) or inner.get("type") not in RESULT_BLOCKS:
            raise bad_request(f"{spot}.type: Input tag does not match any of the expected tags")
        if inner["type"] == "text":
            _text_block(inner, spot)
        elif inner["type"] == "image":
            _image(inner.get("source"), f"{spot}.image.source")


def _check_tool_pairing(turns: list[Turn]) -> None:
    seen: set[str] = set()
    for t, turn in enumerate(turns):
        if turn.role == "assistant":
            for k, block in enumerate(turn.blocks):
                if block.get("type") == "tool_use":
                    if block["id"] in seen:
                        raise bad_request(
                            f"messages.{turn.index}.content.{k}: `tool_use` ids must be unique"
                        )
                    seen.add(block["id"])
            _answered(turn, turns[t + 1] if t + 1 < len(turns) else None)
        else:
            previous = turns[t - 1] if t > 0 else None
            _results_refer_back(turn, previous)


def _answered(turn: Turn, following: Turn | None) -> None:
    ids = [b["id"] for b in turn.blocks if b.get("type") == "tool_use"]
    if not ids or following is None:
        return  # a final assistant turn ending in tool_use is a prefill to continue
    answered = {b["tool_use_id"] for b in following.blocks if b.get("type") == "tool_result"}
    missing = [i for i in ids if i not in answered]
    if missing:
        raise bad_request(
            f"messages.{following.index}: `tool_use` ids were found without `tool_result` blocks "
            f"immediately after: {', '.join(missing)}. Each `tool_use` block must have a "
            "corresponding `tool_result` block in the next message."
        )
    kinds = [b.get("type") for b in following.blocks]
    last_result = max(k for k, kind in enumerate(kinds) if kind == "tool_result")
    if any(kind != "tool_result" for kind in kinds[:last_result]):
        raise bad_request(
            f"messages.{following.index}: `tool_result` blocks must come first in the content, "
            "before any other blocks"
        )


def _results_refer_back(turn: Turn, previous: Turn | None) -> None:
    uses = {b["id"] for b in previous.blocks if b.get("type") == "tool_use"} if previous else set()
    for k, block in enumerate(turn.blocks):
        if block.get("type") != "tool_result":
            continue
        if not uses:
            raise bad_request(
                f"messages.{turn.index}.content.{k}: `tool_result` block(s) provided when "
                "previous message does not contain any `tool_use` blocks"
            )
        if block["tool_use_id"] not in uses:
            raise bad_request(
                f"messages.{turn.index}.content.{k}: unexpected `tool_use_id` found in "
                f"`tool_result` blocks: {block['tool_use_id']}. Each `tool_result` block must "
                "have a corresponding `tool_use` block in the previous message."
            )
