"""Language detection accuracy on the labelled set, and the request-level sampling."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from gateway.features import detect_language, extract_features

DATA = Path(__file__).parent / "data" / "language.jsonl"


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    return [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]


def test_labelled_set_size(rows: list[dict[str, str]]) -> None:
    counts = Counter(r["lang"] for r in rows)
    for lang in ("zh", "en", "ja", "ko"):
        assert counts[lang] >= 150, lang
    for lang in ("fr", "de", "es", "it", "pt", "ru"):
        assert counts[lang] >= 20, lang


def test_accuracy(rows: list[dict[str, str]]) -> None:
    ok: Counter[str] = Counter()
    total: Counter[str] = Counter()
    misses = []
    for r in rows:
        got = detect_language(r["text"])
        total[r["lang"]] += 1
        if got == r["lang"]:
            ok[r["lang"]] += 1
        else:
            misses.append((r["lang"], got, r["text"][:60]))
    print("\n" + "  ".join(f"{k}={ok[k]}/{total[k]}" for k in total))
    for lang in ("zh", "en", "ja", "ko"):
        assert ok[lang] / total[lang] >= 0.995, (lang, misses)
    for lang in ("fr", "de", "es", "it", "pt", "ru"):
        assert ok[lang] / total[lang] >= 0.97, (lang, misses)


@pytest.mark.parametrize(("text", "lang"), [
    # Kana decides Japanese even when Han characters dominate.
    ("東京都千代田区丸の内一丁目の本社ビルで会議があります", "ja"),
    ("株式会社山田製作所営業部長宛の御礼状を作成", "ja"),
    # Hangul decides Korean even with Hanja.
    ("大韓民國 憲法 第1條는 무엇인가", "ko"),
    # CJK with a lot of embedded English and code stays CJK.
    ("请帮我review一下这个PR: fix(api): handle None in parse_response()", "zh"),
    ("Spring Boot 3.2とMyBatisでInvalid bound statement (not found)が出ます", "ja"),
    # English asking about CJK words stays English.
    ("What does 你好 mean and how do I pronounce it?", "en"),
    ("ok", "en"),
    ("", None),
    ("12345 !!! ???", None),
    ("Почему моя программа работает так медленно?", "ru"),
    ("Чому моя програма працює так повільно? Це їхній код.", "uk"),
    ("ช่วยแปลข้อความนี้เป็นภาษาอังกฤษหน่อย", "th"),
    ("मुझे इस कोड में मदद चाहिए", "hi"),
    ("هل يمكنك مساعدتي في إصلاح هذا الكود؟", "ar"),
    ("Pourriez-vous résumer cet article en trois phrases, s'il vous plaît ?", "fr"),
])
def test_cases(text: str, lang: str | None) -> None:
    assert detect_language(text) == lang


def test_code_blocks_do_not_outvote_the_question() -> None:
    code = "```python\n" + "def handler(event, context):\n    return process(event)\n" * 30 + "```\n"
    assert detect_language(code + "这个函数为什么报错？") == "zh"


def test_latest_user_turn_decides() -> None:
    body = {"messages": [
        {"role": "system", "content": "You are a helpful assistant. Answer concisely."},
        {"role": "user", "content": "Hello, can you help me with a question about my order?"},
        {"role": "assistant", "content": "Of course."},
        {"role": "user", "content": "我想查询一下订单的物流信息，订单号已经发给客服了，但是一直没有回复。"},
    ]}
    assert extract_features(body).language == "zh"


def test_system_text_is_the_fallback() -> None:
    body = {"messages": [{"role": "system", "content": "あなたは親切なアシスタントです。"},
                         {"role": "assistant", "content": "hello"}]}
    assert extract_features(body).language == "ja"
    assert extract_features({"messages": []}).language is None
    assert extract_features({"messages": [{"role": "user", "content": "x"}]},
                            detect_language=False).language is None


def test_tool_results_are_not_user_language() -> None:
    body = {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "Summarise the search results for me please, in two lines."},
        {"type": "tool_result", "tool_use_id": "t1", "content": "检索结果：" + "相关新闻报道" * 200},
    ]}]}
    assert extract_features(body, surface="messages").language == "en"


def test_huge_prompt_is_sampled() -> None:
    body = {"messages": [{"role": "user", "content": "这是一个很长的文档。" * 200_000 + "请总结。"}]}
    assert extract_features(body, detect_pii=False).language == "zh"


def test_text_without_noise_characters_skips_the_noise_scan_with_the_same_answer(
        rows: list[dict[str, str]]) -> None:
    """Text with none of "`", "@", "<", "://" is judged without the noise regex; an
    inline code span (which the scan removes) appended must not change any answer."""
    plain = [r["text"] for r in rows if len(r["text"]) < 1800
             and not any(c in r["text"] for c in ("`", "@", "<", "://"))]
    assert len(plain) > 500
    for text in plain:
        assert detect_language(text + " `x`") == detect_language(text), text[:60]
