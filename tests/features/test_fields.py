"""Every string of a request is scanned for PII, wherever it is (issue 17, part 3):
every field of both request schemas (enumerated from the SDKs' types) with PII planted,
obfuscated PII (full-width, zero-width characters) and the field the scan names."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.features import extract_features
from gateway.features._normalize import (
    _COMPAT,
    _INVISIBLE,
    _MAX_REPLACED,
    _NEEDS_NORMALIZING,
    _NEEDS_NORMALIZING_WIDE,
    _PIECE,
    _to_ascii_forms,
    _translate,
    needs_normalizing,
)
from gateway.features.pii import normalize
from tests.support import planted


def _check(field: str, body: dict[str, Any], surface: str) -> str | None:
    f = extract_features(body, surface=surface)
    if "email" not in f.pii:
        return f"{field}: not found"
    return None


def test_every_openai_field_is_scanned() -> None:
    cases = list(planted.openai_planted())
    assert len(cases) > 150
    missed = [m for field, body in cases if (m := _check(field, body, "chat_completions"))]
    assert missed == []


def test_every_anthropic_field_is_scanned() -> None:
    cases = list(planted.anthropic_planted())
    assert len(cases) > 100
    missed = [m for field, body in cases if (m := _check(field, body, "messages"))]
    assert missed == []


@pytest.mark.parametrize("name", list(planted.OBFUSCATED))
def test_obfuscated_pii_counts(name: str) -> None:
    body = dict(planted.openai_obfuscated())[name]
    assert extract_features(body).pii


def test_normalize() -> None:
    assert normalize("ａｎｎ＠ｅｘａｍｐｌｅ．ｃｏｍ") == "ann@example.com"
    assert normalize("41\u200b11\u2060 1111\ufeff") == "4111 1111"
    assert normalize("中文，标点") == "中文，标点"  # CJK punctuation alone: read as it is
    assert normalize("电话（010）６５５２ ９９８８") == "电话(010)6552 9988"
    assert normalize("𝟒𝟏𝟏𝟏 ① ａ") == "4111 1 a"


def test_needs_normalizing_is_the_class_search_for_every_character() -> None:
    # The check runs on the string's UTF-8; it must say yes for exactly the characters of
    # the two classes, alone, among ASCII and among other non-ASCII characters.
    for c in map(chr, range(0x80, 0x110000)):
        expected = bool(_NEEDS_NORMALIZING.match(c) or _NEEDS_NORMALIZING_WIDE.match(c))
        assert needs_normalizing(c) == expected, hex(ord(c))
    assert not needs_normalizing("plain text, “quotes”, café, 中文，。\U0001f600 \ud800")
    assert needs_normalizing("plain text, “quotes”\u200b, café")


def test_needs_normalizing_reads_every_piece() -> None:
    # Long strings are encoded piece by piece: a character in the last piece, or across
    # no boundary at all (a piece ends between characters), is found.
    filler = "Word “quoted”, 中文. " * (3 * _PIECE // 20)
    assert not needs_normalizing(filler)
    for at in (0, _PIECE - 1, _PIECE, 2 * _PIECE + 7, len(filler)):
        assert needs_normalizing(filler[:at] + "＠" + filler[at:])
    assert needs_normalizing(filler + "\U0001d7d2")  # (mathematical digit, 4 UTF-8 bytes)


_TABLE_CHARS = [chr(c) for c in sorted(_COMPAT)]


@given(st.lists(st.sampled_from(_TABLE_CHARS) | st.sampled_from("中文，。a1 @é\U0001f600"), max_size=80)
       .map("".join))
def test_table_replace_is_the_translate(text: str) -> None:
    # CJK strings are normalized by str.replace of each table character present (up to
    # _MAX_REPLACED distinct ones, then str.translate): the same string as a translate.
    if max(text, default="a") < "\U00010000":  # (strings stored 4 bytes a character: translate)
        assert _translate(text) == text.translate(_COMPAT)
    many = "中" + "".join(_TABLE_CHARS[:_MAX_REPLACED + 3]) + text
    assert _to_ascii_forms(many) == many.translate(_COMPAT)


_BMP_TABLE_CHARS = [c for c in _TABLE_CHARS if c < "\U00010000" and c not in _INVISIBLE]


@given(st.lists(st.sampled_from(_BMP_TABLE_CHARS) | st.sampled_from("a1 @.-"), max_size=80)
       .map("".join))
def test_table_is_nfkc_on_ascii_and_table_characters(text: str) -> None:
    # Strings made of ASCII and table characters get the table, not NFKC: the same string.
    assert _to_ascii_forms(text) == unicodedata.normalize("NFKC", text)


_MIXED = st.sampled_from(_TABLE_CHARS) | st.sampled_from(
    ["中", "，", "가", "\u3000", "a", "1", " ", "@", "é", "e\u0301", "\u0301", "Å", "ſ", "\U0001f600"])


@given(st.lists(_MIXED, max_size=60).map("".join), st.integers(1, 300))
def test_ascii_forms_are_nfkc_or_the_table_as_defined(text: str, times: int) -> None:
    # The definition the shortcuts keep: NFKC, or the table for CJK (and Hangul) strings.
    text = text * times  # long strings too (``_wide`` judges by size)
    for ch in _INVISIBLE:  # (removed before, by ``normalize``)
        text = text.replace(ch, "")
    cjk = any("\u2e80" <= c <= "\ufaff" or "\uac00" <= c <= "\ud7af" for c in text)
    expected = text.translate(_COMPAT) if cjk else unicodedata.normalize("NFKC", text)
    assert _to_ascii_forms(text) == expected


def test_the_field_is_named() -> None:
    body = planted.openai_base()
    body["stop"] = ["x", planted.PII]
    body["messages"][2]["reasoning_content"] = "card 4111 1111 1111 1111"
    f = extract_features(body)
    assert dict(f.pii_fields) == {"email": "stop[1]", "credit_card": "messages[2].reasoning_content"}
    body = planted.anthropic_base()
    body["metadata"] = {"user_id": planted.PII}
    assert dict(extract_features(body, surface="messages").pii_fields) == {"email": "metadata.user_id"}


def test_a_key_that_is_not_a_plain_name_is_not_in_the_path() -> None:
    body = planted.openai_base()
    body["metadata"] = {"ann.lee@example.com": "x"}
    f = extract_features(body)
    assert dict(f.pii_fields) == {"email": "metadata.*key*"}
    assert "ann" not in str(f.to_json())


def test_secret_under_a_secret_key_in_a_tool_input() -> None:
    body = planted.anthropic_base()
    body["messages"] = [{"role": "user", "content": "你好"}, {"role": "assistant", "content": [
        {"type": "tool_use", "id": "t", "name": "login", "input": {"password": "Xk9#mP2vL5q!w"}}]},
        {"role": "user", "content": "好"}]
    assert extract_features(body, surface="messages").pii == {"credential"}


def test_media_payloads_are_not_scanned() -> None:
    # base64 images: binary, and random base64 can look like anything
    body = planted.openai_base()
    payload = "QUtJQVE3VzNFOVIxVDVZMlU4STQ=" * 10 + "4111111111111111"  # card-like digits
    body["messages"][-1]["content"] = [{"type": "image_url", "image_url": {
        "url": "data:image/png;base64," + payload}}]
    assert extract_features(body).pii == frozenset()


@pytest.mark.parametrize("where", ["data_url", "file_data", "source_data", "audio_data"])
def test_text_where_media_goes_is_scanned(where: str) -> None:
    """Media is skipped only when it is base64 throughout: text put in a media field
    (to walk around a policy) is scanned like any other string."""
    text = "QUtJQVE3 ann.lee@example.com"
    part: dict[str, Any] = {
        "data_url": {"type": "image_url", "image_url": {"url": "data:image/png;base64," + text}},
        "file_data": {"type": "file", "file": {"file_data": text, "filename": "a.pdf"}},
        "source_data": {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                    "data": text}},
        "audio_data": {"type": "input_audio", "input_audio": {"data": text, "format": "wav"}},
    }[where]
    body = planted.openai_base()
    body["messages"][-1]["content"] = [part]
    assert "email" in extract_features(body).pii
