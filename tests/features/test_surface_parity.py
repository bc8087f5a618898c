"""The same request on three surfaces has the same features (issue 14).

For every field a Messages body and a chat-completions body both carry text in (and the
Responses API where it has the field), a Messages body, its chat equivalent and its
Responses equivalent are built with an email, a card number or a phone number planted in
that field and the text written in one of four languages. ``extract_features`` must give
all of them the same tokens, PII kinds, language, ``has_tools``, ``has_images`` and
``requested_output``: routing rules, PII policies, window checks and token limits then
hold whichever API a client speaks.

The chat equivalents are written by hand and, independently, made by the gateway's own
translators (``messages_to_chat_request``, ``responses_to_chat_request``): the chat body
the gateway would send Kimi for a Messages request must have the features the Messages
request was routed on.

Token counts are equal exactly unless the two wire formats put different text on the
wire for the same content; each such case states its tolerance and why (``Case.slack``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from gateway.features import Features, extract_features
from gateway.features._walk import TOOL_ERROR_PREFIX
from gateway.translate import messages_to_chat_request
from gateway.translate.from_messages import ERROR_PREFIX
from gateway.translate.reasoning import sign
from gateway.translate.responses_request import responses_to_chat_request

PII = {"email": "ann.lee@example.com", "credit_card": "4111 1111 1111 1111",
       "phone": "+1 415 555 2671"}

# Two sentences per language: a field's text, and the user's own words around it.
PROSE = {
    "en": ("Could you check why the nightly build failed again and tell me what to change?",
           "Please keep the answer short and list the files you would touch first."),
    "zh": ("请帮我看看为什么昨晚的构建又失败了，告诉我应该修改哪里。",
           "回答请简短一些，先列出你要修改的文件。"),
    "ja": ("昨夜のビルドがまた失敗した理由を調べて、どこを直せばよいか教えてください。",
           "答えは短くして、最初に変更するファイルを挙げてください。"),
    "fr": ("Pourriez-vous vérifier pourquoi la compilation de cette nuit a encore échoué ?",
           "Répondez brièvement et donnez d'abord la liste des fichiers à modifier."),
}
LANGS = list(PROSE)
PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9aw"
       "AAAABJRU5ErkJggg==")
SCHEMA = {"type": "object", "properties": {"query": {"type": "string", "description":
                                                     "What to search for"},
                                           "limit": {"type": "integer"}},
          "required": ["query"]}


@dataclass
class Case:
    """One field on each surface; ``None`` where a surface has no such field."""

    messages: dict[str, Any]
    chat: dict[str, Any]
    responses: dict[str, Any] | None
    language: str  # the language every surface must find
    slack: int = 0  # token difference allowed between Messages and chat, with ``why``
    why: str = ""
    translate: bool = True  # whether messages_to_chat_request can express the body
    tools: bool = False
    images: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def text(lang: str, kind: str, which: int = 0) -> str:
    """A sentence in ``lang`` with the PII ``kind`` in it."""
    return f"{PROSE[lang][which]} {PII[kind]}"


def user(lang: str) -> str:
    return PROSE[lang][1]


def _m(messages: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    return {"model": "auto", "max_tokens": 512, "messages": messages, **kw}


def _c(messages: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    return {"model": "auto", "max_tokens": 512, "messages": messages, **kw}


def _r(inp: Any, **kw: Any) -> dict[str, Any]:
    return {"model": "auto", "max_output_tokens": 512, "input": inp, **kw}


def _ru(s: str) -> dict[str, Any]:
    return {"role": "user", "content": s}


def _tool_use(tid: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": tid, "name": "search", "input": args}


def _call(tid: str, arguments: str) -> dict[str, Any]:
    return {"id": tid, "type": "function", "function": {"name": "search", "arguments": arguments}}


def _compact(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _tool_turns(result_m: Any, result_c: Any, result_r: Any, lang: str,
                is_error: bool = False) -> tuple[list[Any], list[Any], list[Any]]:
    """user asks, assistant calls ``search``, the user turn carries the result and a
    follow-up question: on chat the result is a ``tool`` message of its own."""
    args = {"query": "nightly build", "limit": 3}
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": "toolu_r",
                             "content": result_m}
    if is_error:
        block["is_error"] = True
    m = [_ru(user(lang)), {"role": "assistant", "content": [_tool_use("toolu_r", args)]},
         {"role": "user", "content": [block, {"type": "text", "text": user(lang)}]}]
    c = [_ru(user(lang)),
         {"role": "assistant", "content": None, "tool_calls": [_call("toolu_r", _compact(args))]},
         {"role": "tool", "tool_call_id": "toolu_r", "content": result_c}, _ru(user(lang))]
    r = [_ru(user(lang)), {"type": "function_call", "call_id": "toolu_r", "name": "search",
                           "arguments": _compact(args)},
         {"type": "function_call_output", "call_id": "toolu_r", "output": result_r},
         _ru(user(lang))]
    return m, c, r


# -- the cases: one builder per field, (lang, pii kind) -> Case ---------------------------

def system_string(lang: str, kind: str) -> Case:
    s = text(lang, kind)
    return Case(_m([_ru(user(lang))], system=s),
                _c([{"role": "system", "content": s}, _ru(user(lang))]),
                _r(user(lang), instructions=s), lang)


def system_as_developer(lang: str, kind: str) -> Case:
    s = text(lang, kind)
    return Case(_m([_ru(user(lang))], system=[{"type": "text", "text": s}]),
                _c([{"role": "developer", "content": s}, _ru(user(lang))]),
                _r([{"role": "developer", "content": s}, _ru(user(lang))]), lang)


def system_blocks(lang: str, kind: str) -> Case:
    a, b = text(lang, kind), PROSE[lang][0]
    return Case(
        _m([_ru(user(lang))], system=[{"type": "text", "text": a},
                                      {"type": "text", "text": b, "cache_control":
                                       {"type": "ephemeral"}}]),
        _c([{"role": "system", "content": [{"type": "text", "text": a},
                                           {"type": "text", "text": b}]}, _ru(user(lang))]),
        _r([{"role": "system", "content": [{"type": "input_text", "text": a},
                                           {"type": "input_text", "text": b}]},
            _ru(user(lang))]), lang,
        slack=2, why="the translators join system blocks with a newline (Messages) or a "
        "blank line (Responses): characters the blocks do not have")


def system_decides_language(lang: str, kind: str) -> Case:
    """No words of the user's own (only an agent's reminder): the system text decides."""
    s = text(lang, kind)
    reminder = ("<system-reminder>The user opened the file build.log in the IDE."
                "</system-reminder>")
    return Case(_m([_ru(reminder)], system=s),
                _c([{"role": "system", "content": s}, _ru(reminder)]),
                _r(reminder, instructions=s), lang)


def system_turn_mid_conversation(lang: str, kind: str) -> Case:
    """Claude Code's ``system`` turns inside ``messages``: system text on both."""
    s = text(lang, kind)
    reminder = "<system-reminder>Context was compacted.</system-reminder>"
    return Case(
        _m([_ru(reminder), {"role": "assistant", "content": "OK."},
            {"role": "system", "content": s}, _ru(reminder)]),
        _c([_ru(reminder), {"role": "assistant", "content": "OK."},
            {"role": "system", "content": s}, _ru(reminder)]),
        _r([_ru(reminder), {"role": "assistant", "content": "OK."},
            {"role": "system", "content": s}, _ru(reminder)]), lang)


def user_string(lang: str, kind: str) -> Case:
    u = text(lang, kind)
    return Case(_m([_ru(u)]), _c([_ru(u)]), _r(u), lang)


def user_blocks(lang: str, kind: str) -> Case:
    a, b = text(lang, kind), user(lang)
    return Case(
        _m([{"role": "user", "content": [{"type": "text", "text": a},
                                         {"type": "text", "text": b}]}]),
        _c([{"role": "user", "content": [{"type": "text", "text": a},
                                         {"type": "text", "text": b}]}]),
        _r([{"role": "user", "content": [{"type": "input_text", "text": a},
                                         {"type": "input_text", "text": b}]}]), lang)


def assistant_text(lang: str, kind: str) -> Case:
    a = text(lang, kind)
    return Case(
        _m([_ru(user(lang)), {"role": "assistant", "content": [{"type": "text", "text": a}]},
            _ru(user(lang))]),
        _c([_ru(user(lang)), {"role": "assistant", "content": a}, _ru(user(lang))]),
        _r([_ru(user(lang)), {"role": "assistant", "content": [
            {"type": "output_text", "text": a}]}, _ru(user(lang))]), lang)


def assistant_prefill(lang: str, kind: str) -> Case:
    """A final assistant turn (Anthropic's prefill, Moonshot's partial mode)."""
    a = text(lang, kind)
    return Case(_m([_ru(user(lang)), {"role": "assistant", "content": a}]),
                _c([_ru(user(lang)), {"role": "assistant", "content": a, "partial": True}]),
                _r([_ru(user(lang)), {"role": "assistant", "content": a}]), lang)


def tool_use_input(lang: str, kind: str) -> Case:
    args = {"query": text(lang, kind), "limit": 3, "filters": {"repo": "gateway"}}
    m = [_ru(user(lang)), {"role": "assistant", "content": [
        {"type": "text", "text": "Searching."}, _tool_use("toolu_1", args)]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                      "content": "3 results"}]}]
    c = [_ru(user(lang)), {"role": "assistant", "content": "Searching.", "tool_calls": [
        _call("toolu_1", _compact(args))]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "3 results"}]
    r = [_ru(user(lang)), {"role": "assistant", "content": "Searching."},
         {"type": "function_call", "call_id": "toolu_1", "name": "search",
          "arguments": _compact(args)},
         {"type": "function_call_output", "call_id": "toolu_1", "output": "3 results"}]
    return Case(_m(m), _c(c), _r(r), lang, tools=True)


def _with_arguments(case: Case, arguments: str) -> Case:
    case.chat["messages"][1]["tool_calls"][0]["function"]["arguments"] = arguments
    assert case.responses is not None
    case.responses["input"][2]["arguments"] = arguments
    return case


def tool_use_input_spaced_json(lang: str, kind: str) -> Case:
    """Arguments written with ``json.dumps``' separators (", " and ": ")."""
    case = tool_use_input(lang, kind)
    spaced = json.dumps(case.messages["messages"][1]["content"][1]["input"], ensure_ascii=False)
    _with_arguments(case, spaced)
    case.slack = spaced.count(", ") + spaced.count(": ")
    case.why = ("a space after each ':' and ',' is text on the wire (cl100k: 41 tokens "
                "against 35 for the English case); Messages carries the object, counted as "
                "compact JSON, as the translator writes it for chat")
    return case


def tool_use_parallel(lang: str, kind: str) -> Case:
    """Two calls in one assistant turn; their results in one user turn."""
    a1, a2 = {"query": text(lang, kind)}, {"query": "flaky tests"}
    m = [_ru(user(lang)), {"role": "assistant", "content": [
        _tool_use("toolu_1", a1), _tool_use("toolu_2", a2)]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "none"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": "two"}]}]
    c = [_ru(user(lang)), {"role": "assistant", "content": None, "tool_calls": [
        _call("toolu_1", _compact(a1)), _call("toolu_2", _compact(a2))]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "none"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "two"}]
    r = [_ru(user(lang)),
         {"type": "function_call", "call_id": "toolu_1", "name": "search",
          "arguments": _compact(a1)},
         {"type": "function_call", "call_id": "toolu_2", "name": "search",
          "arguments": _compact(a2)},
         {"type": "function_call_output", "call_id": "toolu_1", "output": "none"},
         {"type": "function_call_output", "call_id": "toolu_2", "output": "two"}]
    return Case(_m(m), _c(c), _r(r), lang, tools=True)


def tool_result_string(lang: str, kind: str) -> Case:
    res = text(lang, kind)
    m, c, r = _tool_turns(res, res, res, lang)
    return Case(_m(m), _c(c), _r(r), lang, tools=True)


def tool_result_blocks(lang: str, kind: str) -> Case:
    a, b = text(lang, kind), PROSE[lang][0]
    m, c, r = _tool_turns([{"type": "text", "text": a}, {"type": "text", "text": b}],
                          [{"type": "text", "text": a}, {"type": "text", "text": b}],
                          [{"type": "input_text", "text": a}, {"type": "input_text", "text": b}],
                          lang)
    return Case(_m(m), _c(c), _r(r), lang, tools=True,
                slack=1, why="the translators join a result's text blocks with a newline")


def tool_result_error(lang: str, kind: str) -> Case:
    """``is_error``: a flag on Messages, the text ``Error: `` on chat (the translator's
    rendering; chat and Responses have no flag)."""
    res = text(lang, kind)
    m, c, r = _tool_turns(res, "Error: " + res, "Error: " + res, lang, is_error=True)
    return Case(_m(m), _c(c), _r(r), lang, tools=True)


def tool_result_in_another_language(lang: str, kind: str) -> Case:
    """Tool output is not the user's language, on any surface."""
    other = "zh" if lang != "zh" else "en"
    res = text(other, kind)
    m, c, r = _tool_turns(res, res, res, lang)
    return Case(_m(m), _c(c), _r(r), lang, tools=True)


def tool_result_image(lang: str, kind: str) -> Case:
    """A result with an image: chat tool messages hold text only, so the image travels
    in a user message after the tool message (what the translator does)."""
    res = text(lang, kind)
    img_m = {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": PNG}}
    m, c, r = _tool_turns([{"type": "text", "text": res}, img_m], res,
                          [{"type": "input_text", "text": res},
                           {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}"}],
                          lang)
    c[3] = {"role": "user", "content": [
        {"type": "text", "text": "Images from tool result toolu_r:"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "text", "text": user(lang)}]}
    return Case(_m(m), _c(c), _r(r), lang, tools=True, images=True, slack=8,
                why="the chat form adds the caption 'Images from tool result <id>:' "
                "(~8 tokens) in the user message that carries the image")


def tool_definitions(lang: str, kind: str) -> Case:
    desc = f"Search the build logs. {text(lang, kind)}"
    return Case(
        _m([_ru(user(lang))], tools=[{"name": "search", "description": desc,
                                      "input_schema": SCHEMA}]),
        _c([_ru(user(lang))], tools=[{"type": "function", "function": {
            "name": "search", "description": desc, "parameters": SCHEMA}}]),
        _r(user(lang), tools=[{"type": "function", "name": "search", "description": desc,
                               "parameters": SCHEMA}]), lang, tools=True)


def tool_schema(lang: str, kind: str) -> Case:
    """PII in the parameters' schema (an example value, a description)."""
    schema = {"type": "object", "properties": {"to": {"type": "string",
                                                      "description": text(lang, kind)}}}
    return Case(
        _m([_ru(user(lang))], tools=[{"name": "notify", "input_schema": schema}]),
        _c([_ru(user(lang))], tools=[{"type": "function", "function": {
            "name": "notify", "parameters": schema}}]),
        _r(user(lang), tools=[{"type": "function", "name": "notify", "parameters": schema}]),
        lang, tools=True)


def structured_output(lang: str, kind: str) -> Case:
    """A JSON schema for the answer: ``output_config.format`` / ``response_format`` /
    ``text.format``; only the schema is text on every surface."""
    schema = {"type": "object", "properties": {"summary": {"type": "string",
                                                           "description": text(lang, kind)}}}
    return Case(
        _m([_ru(user(lang))], output_config={"format": {"type": "json_schema",
                                                         "schema": schema}}),
        _c([_ru(user(lang))], response_format={"type": "json_schema", "json_schema": {
            "name": "answer", "strict": True, "schema": schema}}),
        _r(user(lang), text={"format": {"type": "json_schema", "name": "answer",
                                        "schema": schema}}),
        lang, translate=False)  # Moonshot has no structured outputs: the translator's 400


def image_base64(lang: str, kind: str) -> Case:
    u = text(lang, kind)
    url = f"data:image/png;base64,{PNG}"
    return Case(
        _m([{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": PNG}}, {"type": "text", "text": u}]}]),
        _c([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}},
                                         {"type": "text", "text": u}]}]),
        _r([{"role": "user", "content": [{"type": "input_image", "image_url": url},
                                         {"type": "input_text", "text": u}]}]),
        lang, images=True)


def image_url(lang: str, kind: str) -> Case:
    """PII in the image's URL (a signed link naming its owner) and none in the text."""
    url = f"https://files.example.com/shots/build.png?owner={PII[kind]}".replace(" ", "%20")
    if kind != "email":  # a number in a query string is no card or phone: put it in text
        url = "https://files.example.com/shots/build.png"
    u = user(lang) if kind == "email" else text(lang, kind)
    return Case(
        _m([{"role": "user", "content": [
            {"type": "image", "source": {"type": "url", "url": url}},
            {"type": "text", "text": u}]}]),
        _c([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}},
                                         {"type": "text", "text": u}]}]),
        _r([{"role": "user", "content": [{"type": "input_image", "image_url": url},
                                         {"type": "input_text", "text": u}]}]),
        lang, images=True, translate=False)  # Moonshot takes no image URLs: a 400


def thinking(lang: str, kind: str) -> Case:
    """Signed thinking blocks vs Moonshot's ``reasoning_content`` vs a reasoning item.
    Signed by the gateway, so the translator carries them (Anthropic's own signatures
    are dropped on the way to Kimi)."""
    t = text(lang, kind)
    return Case(
        _m([_ru(user(lang)), {"role": "assistant", "content": [
            {"type": "thinking", "thinking": t, "signature": sign(t)},
            {"type": "text", "text": "Done."}]}, _ru(user(lang))]),
        _c([_ru(user(lang)), {"role": "assistant", "content": "Done.",
                              "reasoning_content": t}, _ru(user(lang))]),
        _r([_ru(user(lang)), {"type": "reasoning", "summary": [
            {"type": "summary_text", "text": t}]},
            {"role": "assistant", "content": "Done."}, _ru(user(lang))]), lang)


def stop_sequences(lang: str, kind: str) -> Case:
    s = [PII[kind], "END"]
    return Case(_m([_ru(user(lang))], stop_sequences=s), _c([_ru(user(lang))], stop=s),
                None, lang)  # Responses has no stop parameter


def user_id(lang: str, kind: str) -> Case:
    who = PII[kind]
    return Case(_m([_ru(user(lang))], metadata={"user_id": who}),
                _c([_ru(user(lang))], user=who), _r(user(lang), user=who), lang)


def output_limit(lang: str, kind: str) -> Case:
    u = text(lang, kind)
    return Case(_m([_ru(u)], max_tokens=777),
                {"model": "auto", "messages": [_ru(u)], "max_completion_tokens": 777},
                {"model": "auto", "input": u, "max_output_tokens": 777}, lang,
                extra={"requested_output": 777})


def output_limit_legacy(lang: str, kind: str) -> Case:
    u = text(lang, kind)
    return Case(_m([_ru(u)], max_tokens=64), _c([_ru(u)], max_tokens=64),
                {"model": "auto", "input": u, "max_output_tokens": 64}, lang,
                extra={"requested_output": 64})


def conversation(lang: str, kind: str) -> Case:
    """Every field at once, a Claude Code-shaped turn."""
    parts = [system_blocks, tool_definitions, tool_use_input, thinking, image_base64,
             tool_result_error]
    built = [p(lang, kind) for p in parts]
    resp = [b.responses for b in built if b.responses is not None]
    assert len(resp) == len(built)
    m = _m([], system=built[0].messages["system"], tools=built[1].messages["tools"],
           stop_sequences=["END"], metadata={"user_id": "u-1"}, stream=True)
    c = _c([built[0].chat["messages"][0]], tools=built[1].chat["tools"], stop=["END"],
           user="u-1", stream=True)
    r = _r([resp[0]["input"][0]], tools=resp[1]["tools"], stream=True, user="u-1")
    for b, rb in zip(built[2:], resp[2:]):
        m["messages"] += b.messages["messages"]
        c["messages"] += b.chat["messages"]
        r["input"] += rb["input"]
    return Case(m, c, r, lang, tools=True, images=True, slack=built[0].slack,
                why=built[0].why, extra={"stream": True})


CASES: dict[str, Callable[[str, str], Case]] = {f.__name__: f for f in [
    system_string, system_as_developer, system_blocks, system_decides_language,
    system_turn_mid_conversation, user_string, user_blocks, assistant_text, assistant_prefill,
    tool_use_input, tool_use_input_spaced_json, tool_use_parallel, tool_result_string,
    tool_result_blocks, tool_result_error, tool_result_in_another_language, tool_result_image,
    tool_definitions, tool_schema, structured_output, image_base64, image_url, thinking,
    stop_sequences, user_id, output_limit, output_limit_legacy, conversation]}


def _params() -> Iterator[Any]:
    for name in CASES:
        for lang in LANGS:
            for kind in PII:
                yield pytest.param(name, lang, kind, id=f"{name}-{lang}-{kind}")


COMPARED = ("pii", "language", "has_tools", "has_images", "requested_output", "stream")


def same(a: Features, b: Features, slack: int, why: str, what: str,
         compared: tuple[str, ...] = COMPARED) -> None:
    assert abs(a.tokens - b.tokens) <= slack, (
        f"{what}: tokens {a.tokens} vs {b.tokens}" + (f" (allowed {slack}: {why})" if slack
                                                       else ""))
    for name in compared:
        assert getattr(a, name) == getattr(b, name), f"{what}: {name}"


@pytest.mark.parametrize("name, lang, kind", list(_params()))
def test_same_features_on_every_surface(name: str, lang: str, kind: str) -> None:
    case = CASES[name](lang, kind)
    m = extract_features(case.messages, surface="messages")
    assert m.pii == {kind}, f"{name}: {sorted(m.pii)}"
    assert m.language == lang
    assert (m.has_tools, m.has_images) == (case.tools, case.images)
    assert m.requested_output == case.extra.get("requested_output", 512)
    assert m.stream is case.extra.get("stream", False)
    same(m, extract_features(case.chat, surface="chat_completions"), case.slack, case.why, "chat")
    if case.responses is not None:
        r = extract_features(case.responses, surface="responses")
        same(m, r, case.slack, case.why, "responses")


@pytest.mark.parametrize("name, lang, kind", list(_params()))
def test_the_translators_keep_the_features(name: str, lang: str, kind: str) -> None:
    """The chat body the gateway itself makes of a Messages (Responses) body."""
    case = CASES[name](lang, kind)
    m = extract_features(case.messages, surface="messages")
    if case.translate:
        chat, _ = messages_to_chat_request(case.messages, upstream_model="kimi")
        same(m, extract_features(chat, surface="chat_completions"), case.slack, case.why,
             "messages_to_chat_request")
    if case.responses is not None:
        r = extract_features(case.responses, surface="responses")
        chat, _ = responses_to_chat_request(case.responses)
        # The Responses surface streams by itself: its chat body never has ``stream``.
        same(r, extract_features(chat, surface="chat_completions"), case.slack, case.why,
             "responses_to_chat_request", COMPARED[:-1])


@pytest.mark.parametrize("lang", LANGS)
def test_escaped_arguments_cost_more_as_they_do_on_the_wire(lang: str) -> None:
    """``json.dumps``' default writes non-ASCII as ``\\uXXXX``: six characters where the
    object has one, which the provider reads as more tokens (cl100k: 122 against 52 for
    the Chinese case). The chat estimate follows the text the provider is sent; it is
    never below the Messages estimate of the same object, so a window or token limit
    checked on one surface is not looser on the other."""
    case = tool_use_input(lang, "email")
    _with_arguments(case, json.dumps(case.messages["messages"][1]["content"][1]["input"]))
    m = extract_features(case.messages, surface="messages")
    c = extract_features(case.chat, surface="chat_completions")
    assert c.pii == m.pii == {"email"} and c.language == m.language == lang
    assert c.tokens > m.tokens  # the separators' spaces, and the escapes
    if lang in ("zh", "ja"):  # every character of the text escaped
        assert c.tokens > m.tokens * 1.3


def test_the_walker_writes_is_error_as_the_translator_does() -> None:
    assert TOOL_ERROR_PREFIX == ERROR_PREFIX
