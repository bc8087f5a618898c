"""The Live figures come from the gateway's own metrics, merged across workers."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from tests.serve.support import access_lines, config_text
from tests.support.gateway_process import GatewayProcess

pytestmark = pytest.mark.timeout(120)


def test_live_totals_are_the_same_whichever_worker_answers(kimi, claude) -> None:
    with GatewayProcess(config_text(kimi.url, claude.url), workers=2) as gw:
        sent = 0
        # Until both workers have served requests (the kernel picks one per connection).
        while len({r["pid"] for r in access_lines(gw)}) < 2 and sent < 200:
            for i in range(10):
                prompt = "用一句话介绍你自己" if i % 2 else "Hello there, how are you?"
                oa = openai.OpenAI(base_url=gw.url + "/v1", api_key="any", max_retries=0)
                oa.chat.completions.create(model="auto",
                                           messages=[{"role": "user", "content": prompt}])
                oa.close()
            sent += 10
            time.sleep(0.3)  # the last request's bookkeeping runs after its response
        assert len({r["pid"] for r in access_lines(gw)}) == 2, "one worker served everything"
        answered_by: set[int] = set()
        for _ in range(100):  # a new connection each time, so either worker may answer
            live = httpx.get(gw.url + "/console/api/live").json()
            m = live["metrics"]
            assert (m["requests"], m["by_route"]["chinese"], m["by_route"]["default"]) == (
                sent, sent / 2, sent / 2), live["pid"]
            answered_by.add(live["pid"])
            if len(answered_by) == 2:
                break
        assert len(answered_by) == 2, "one worker answered every console call"
