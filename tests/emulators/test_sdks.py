"""The official SDKs talk to the emulators: proof they are faithful enough."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from .conftest import CLAUDE_KEY, CLAUDE_MODEL, KIMI_KEY, KIMI_MODEL, Emulator

OPENAI_TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]
CLAUDE_TOOLS: list[Any] = [
    {
        "name": "get_weather",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    }
]
ASK = [{"role": "user", "content": "what is the weather? use get_weather"}]


# ----- openai SDK -> Moonshot emulator -------------------------------------------------
def test_openai_sync_create_and_tool_round(kimi: Emulator) -> None:
    client = openai.OpenAI(base_url=kimi.v1, api_key=KIMI_KEY, max_retries=0)
    first = client.chat.completions.create(model=KIMI_MODEL, messages=ASK, tools=OPENAI_TOOLS)  # type: ignore[arg-type]
    call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert first.choices[0].finish_reason == "tool_calls"
    assert (call.id, call.function.name, call.function.arguments) == (
        "functions.get_weather:0",
        "get_weather",
        '{"city":"Paris"}',
    )  # type: ignore[union-attr]
    messages: list[Any] = [
        *ASK,
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "22C"},
    ]
    second = client.chat.completions.create(model=KIMI_MODEL, messages=messages, tools=OPENAI_TOOLS)  # type: ignore[arg-type]
    assert second.choices[0].message.content == "Tool result: 22C"
    assert second.usage is not None and second.usage.prompt_tokens > first.usage.prompt_tokens  # type: ignore[union-attr]
    assert client.models.list().data[0].id == KIMI_MODEL


def test_openai_sync_stream_accumulates_tool_calls(kimi: Emulator) -> None:
    client = openai.OpenAI(base_url=kimi.v1, api_key=KIMI_KEY, max_retries=0)
    with client.chat.completions.stream(
        model=KIMI_MODEL, messages=ASK, tools=OPENAI_TOOLS
    ) as stream:  # type: ignore[arg-type]
        for _ in stream:
            pass
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert message.content == "Calling get_weather."
    assert (
        message.tool_calls is not None
        and message.tool_calls[0].function.arguments == '{"city":"Paris"}'
    )  # type: ignore[union-attr]
    assert final.choices[0].finish_reason == "tool_calls"


async def test_openai_async_create_and_stream(kimi: Emulator) -> None:
    client = openai.AsyncOpenAI(base_url=kimi.v1, api_key=KIMI_KEY, max_retries=0)
    answer = await client.chat.completions.create(
        model=KIMI_MODEL, messages=[{"role": "user", "content": "hi"}]
    )
    assert answer.choices[0].message.content == "Echo: hi"
    stream = await client.chat.completions.create(
        model=KIMI_MODEL, messages=[{"role": "user", "content": "hi you"}], stream=True
    )
    text = ""
    finish = None
    async for chunk in stream:
        text += chunk.choices[0].delta.content or ""
        finish = chunk.choices[0].finish_reason or finish
    assert (text, finish) == ("Echo: hi you", "stop")
    await client.close()


def test_openai_error_mapping_and_retry(kimi: Emulator) -> None:
    client = openai.OpenAI(base_url=kimi.v1, api_key=KIMI_KEY, max_retries=0)
    kimi.control.fail_next(429)
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(
            model=KIMI_MODEL, messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.body == {
        "type": "engine_overloaded_error",
        "message": "The engine is currently overloaded, please try again later",
    }
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=kimi.v1, api_key="wrong", max_retries=0).models.list()
    with pytest.raises(openai.BadRequestError, match="temperature"):
        client.chat.completions.create(
            model=KIMI_MODEL, messages=[{"role": "user", "content": "hi"}], temperature=1.5
        )
    retrying = openai.OpenAI(base_url=kimi.v1, api_key=KIMI_KEY, max_retries=1)
    kimi.control.clear()
    kimi.control.fail_next(503, headers={"retry-after-ms": "10"})
    answer = retrying.chat.completions.create(
        model=KIMI_MODEL, messages=[{"role": "user", "content": "hi"}]
    )
    assert answer.choices[0].message.content == "Echo: hi"
    assert [r.headers["x-stainless-retry-count"] for r in kimi.control.requests] == ["0", "1"]


def test_openai_sdk_raises_on_error_mid_stream(kimi: Emulator) -> None:
    client = openai.OpenAI(base_url=kimi.v1, api_key=KIMI_KEY, max_retries=0)
    kimi.control.fault_next("error_event_mid_stream", after_chunks=2)
    stream = client.chat.completions.create(
        model=KIMI_MODEL, messages=[{"role": "user", "content": "a b c"}], stream=True
    )
    seen = []
    with pytest.raises(openai.APIError, match="overloaded"):
        for chunk in stream:
            seen.append(chunk)
    assert len(seen) == 2


# ----- anthropic SDK -> Anthropic emulator ---------------------------------------------
def test_anthropic_sync_create_and_tool_round(claude: Emulator) -> None:
    client = anthropic.Anthropic(base_url=claude.url, api_key=CLAUDE_KEY, max_retries=0)
    first = client.messages.create(
        model=CLAUDE_MODEL, max_tokens=200, messages=ASK, tools=CLAUDE_TOOLS
    )  # type: ignore[arg-type]
    assert first.stop_reason == "tool_use"
    use = next(b for b in first.content if b.type == "tool_use")
    assert (use.name, use.input) == ("get_weather", {"city": "Paris"})  # type: ignore[union-attr]
    messages: list[Any] = [
        *ASK,
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "22C"}],
        },  # type: ignore[union-attr]
    ]
    second = client.messages.create(
        model=CLAUDE_MODEL, max_tokens=200, messages=messages, tools=CLAUDE_TOOLS
    )  # type: ignore[arg-type]
    assert second.content[0].text == "Tool result: 22C"  # type: ignore[union-attr]
    assert second.usage.input_tokens > first.usage.input_tokens
    count = client.messages.count_tokens(model=CLAUDE_MODEL, messages=messages, tools=CLAUDE_TOOLS)  # type: ignore[arg-type]
    assert count.input_tokens == second.usage.input_tokens
    # The SDK sends its key as a Bearer token and its own API version.
    assert claude.control.last_request is not None
    assert claude.control.last_request.headers["authorization"] == f"Bearer {CLAUDE_KEY}"


def test_anthropic_sync_stream_helper(claude: Emulator) -> None:
    client = anthropic.Anthropic(base_url=claude.url, api_key=CLAUDE_KEY, max_retries=0)
    with client.messages.stream(
        model=CLAUDE_MODEL, max_tokens=200, messages=ASK, tools=CLAUDE_TOOLS
    ) as stream:  # type: ignore[arg-type]
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Calling get_weather."
    assert [b.type for b in final.content] == ["text", "tool_use"]
    assert final.content[1].input == {"city": "Paris"}  # type: ignore[union-attr]
    assert final.usage.output_tokens > 1


async def test_anthropic_async_create_and_stream(claude: Emulator) -> None:
    client = anthropic.AsyncAnthropic(base_url=claude.url, api_key=CLAUDE_KEY, max_retries=0)
    answer = await client.messages.create(
        model=CLAUDE_MODEL, max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    )
    assert answer.content[0].text == "Echo: hi"  # type: ignore[union-attr]
    async with client.messages.stream(
        model=CLAUDE_MODEL,
        max_tokens=50,
        system="s",
        messages=[{"role": "user", "content": "hi you"}],
    ) as stream:
        text = "".join([t async for t in stream.text_stream])
        final = await stream.get_final_message()
    assert text == "Echo: hi you" and final.stop_reason == "end_turn"
    raw = await client.messages.create(
        model=CLAUDE_MODEL, max_tokens=50, stream=True, messages=[{"role": "user", "content": "x"}]
    )
    kinds = [event.type async for event in raw]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    await client.close()


def test_anthropic_error_mapping(claude: Emulator) -> None:
    client = anthropic.Anthropic(base_url=claude.url, api_key=CLAUDE_KEY, max_retries=0)
    claude.control.fail_next(529)
    with pytest.raises(anthropic.OverloadedError) as caught:
        client.messages.create(
            model=CLAUDE_MODEL, max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.status_code == 529
    assert caught.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    assert caught.value.request_id == caught.value.body["request_id"]  # type: ignore[index]
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(
            model="claude-0", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    with pytest.raises(anthropic.BadRequestError, match="Extra inputs are not permitted"):
        client.messages.create(
            model=CLAUDE_MODEL,
            max_tokens=10,
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"n": 2},
        )
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=claude.url, api_key="wrong", max_retries=0).messages.create(
            model=CLAUDE_MODEL, max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )


def test_anthropic_sdk_raises_on_error_event(claude: Emulator) -> None:
    client = anthropic.Anthropic(base_url=claude.url, api_key=CLAUDE_KEY, max_retries=0)
    claude.control.fault_next("error_event_mid_stream", after_chunks=3)
    seen = []
    stream = client.messages.stream(
        model=CLAUDE_MODEL, max_tokens=50, messages=[{"role": "user", "content": "a b c"}]
    )
    with pytest.raises(anthropic.APIStatusError, match="overloaded_error"), stream as events:
        for event in events:
            seen.append(event.type)
    assert seen[0] == "message_start"
