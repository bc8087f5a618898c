"""The openai-agents SDK (its default model class speaks the Responses API):
Runner.run with a function tool, on both providers."""

from __future__ import annotations

import asyncio

import pytest
from agents import Agent, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled
from openai import AsyncOpenAI

set_tracing_disabled(True)
CALLS: list[str] = []


@function_tool
def get_weather(city: str) -> str:
    """The weather of a city."""
    CALLS.append(city)
    return f"18C and sunny in {city}"


@pytest.mark.parametrize("model", ["kimi-k2", "claude-opus"])
def test_runner_run_with_a_function_tool(gateway, model, kimi, claude):
    CALLS.clear()
    sdk = AsyncOpenAI(base_url=gateway.url + "/v1", api_key="any", max_retries=0)
    agent = Agent(name="weather", instructions="Answer with the tool.", tools=[get_weather],
                  model=OpenAIResponsesModel(model=model, openai_client=sdk))

    async def run() -> object:
        try:
            return await Runner.run(agent, "What is the weather in `Paris`? use get_weather")
        finally:
            await sdk.close()

    result = asyncio.run(run())
    assert CALLS == ["Paris"]
    assert isinstance(result.final_output, str) and result.final_output
    # The second turn sent the tool's output back to the provider.
    emu = kimi if model == "kimi-k2" else claude
    assert "18C and sunny in Paris" in str(emu.control.last_request.json["messages"])
