"""Loopback emulators of the Moonshot (Kimi) and Anthropic APIs, for the test suite
and ``gateway serve --demo``.

    control = EmulatorControl()
    with EmulatorServer(create_anthropic_app(control)) as server:
        client = anthropic.Anthropic(base_url=server.url, api_key="sk-ant-emu")
        control.fail_next(529)              # the next request gets overloaded_error
        control.fault_next("reset_before")  # the one after: a TCP reset
"""

from .anthropic import create_anthropic_app
from .control import FAULT_KINDS, EmulatorControl, Fault, RecordedRequest
from .moonshot import create_moonshot_app
from .replies import Prompt, Reply, ToolCall, ToolSpec, estimate_tokens, generate_reply
from .server import EmulatorServer, RunningServer, serve_in_loop

__all__ = [
    "FAULT_KINDS",
    "EmulatorControl",
    "EmulatorServer",
    "Fault",
    "Prompt",
    "RecordedRequest",
    "Reply",
    "RunningServer",
    "ToolCall",
    "ToolSpec",
    "create_anthropic_app",
    "create_moonshot_app",
    "estimate_tokens",
    "generate_reply",
    "serve_in_loop",
]
