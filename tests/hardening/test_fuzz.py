"""Schemathesis against a live gateway in front of the emulators, from its own OpenAPI.

For every operation of ``GET /openapi.json``, valid (positive) and, where there is
something to break, invalid (negative) requests go over loopback HTTP to a real
gateway that calls the real emulators. Checks: no 5xx (no fault is injected, so any
5xx is the gateway's own), the status is documented, the body matches the documented
schema of that status (OpenAI's or Anthropic's error shape on errors), the content
type and the documented headers are there, and invalid input is refused with a 4xx.

Budget: ``FUZZ_EXAMPLES`` requests in all (default 300, about 20 s), spread over the
operations; the run is derandomized so CI is reproducible. The long run, with fresh
random examples: ``FUZZ_EXAMPLES=5000 FUZZ_RANDOM=1 pytest tests/hardening/test_fuzz.py``.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi import checks as oc

from tests.hardening.support import held, wait_until

KEY = "gk-fuzz-0123456789abcdef"
KEYS = f"keys:\n  - {{name: fuzz, key: {KEY}}}\n"
POS, NEG = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
OPS = [("POST", "/v1/chat/completions"), ("POST", "/v1/messages"),
       ("POST", "/v1/messages/count_tokens"), ("POST", "/v1/gateway/route"),
       ("GET", "/v1/models"), ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics")]
BODY_OPS = [op for op in OPS if op[0] == "POST"]
# The GETs take nothing but a key: a handful of examples exhausts them.
CASES = ([(m, p, POS) for m, p in OPS] + [(m, p, NEG) for m, p in BODY_OPS]
         + [("GET", "/v1/models", NEG)]
         # The Responses API: valid bodies (its schema is a subset of what it accepts).
         + [("POST", "/v1/responses", POS), ("POST", "/v1/responses/input_tokens", POS)])
TOTAL = int(os.environ.get("FUZZ_EXAMPLES", "300"))
PER_BODY_CASE = max(5, (TOTAL - 40) // (2 * len(BODY_OPS)))
RANDOM = os.environ.get("FUZZ_RANDOM") == "1"
CHECKS = [not_a_server_error, oc.status_code_conformance, oc.content_type_conformance,
          oc.response_schema_conformance, oc.response_headers_conformance]
# Not ``positive_data_acceptance``: a schema-valid body can still be refused for
# reasons no schema states (a tool result without its tool call, a pinned model the
# policy forbids, a prompt over every window), and those refusals are correct.


def _steer(case: Any, data: st.DataObject, models: list[str], schema: Any,
           mode: GenerationMode) -> None:
    """Keep most generated requests on the paths that reach an upstream.

    A free-string model is valid input (a 404) but hypothesis picks it as often as the
    enum; and the key a generator invents is never a configured one.
    """
    if schema.is_security_param_negated(case):
        return  # the case is about a missing or wrong key: leave it as generated
    for h in ("authorization", "x-api-key"):
        case.headers.pop(h, None)
    case.headers["authorization"] = f"Bearer {KEY}"
    if mode == NEG:
        return  # the invalid part may be the model or a count: leave those alone
    if (isinstance(case.body, dict) and isinstance(case.body.get("model"), str)
            and data.draw(st.integers(0, 4), label="keep the generated model") < 4):
        case.body["model"] = data.draw(st.sampled_from(models), label="model")
    for name in ("max_tokens", "max_completion_tokens"):
        # A valid count far over every context window is a (correct) 400 every time.
        v = case.body.get(name) if isinstance(case.body, dict) else None
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            # (5.0 is an integer to JSON Schema; the gateway, like OpenAI, wants 5)
            case.body[name] = 1 + int(v) % 4096


@pytest.mark.parametrize("method, path, mode", CASES, ids=lambda v: str(v).strip("/"))
def test_live_gateway_conforms_to_its_openapi(make_gateway, kimi, claude, method: str,
                                              path: str, mode: GenerationMode) -> None:
    gw = make_gateway(keys=KEYS, extra="cache: {mode: all}")
    schema = schemathesis.openapi.from_url(gw.url + "/openapi.json",
                                           headers={"authorization": f"Bearer {KEY}"})
    models = schema.raw_schema["x-models"]
    op = schema[path][method]
    checks = CHECKS + ([oc.negative_data_rejection] if mode == NEG else [])
    seen: Counter[int] = Counter()

    @settings(max_examples=PER_BODY_CASE if method == "POST" else 5, deadline=None,
              suppress_health_check=list(HealthCheck), database=None,
              derandomize=not RANDOM, print_blob=True)
    @given(case=op.as_strategy(generation_mode=mode), data=st.data())
    def run(case: Any, data: st.DataObject) -> None:
        _steer(case, data, models, schema, mode)
        resp = case.call(base_url=gw.url, timeout=30)
        case.validate_response(resp, checks=checks)
        seen[resp.status_code] += 1

    run()
    # The fuzz must have reached past validation: positive bodies get answers from the
    # emulators, negative ones get refused.
    if mode == POS:
        assert seen[200] > 0, f"no positive example of {method} {path} succeeded: {seen}"
    else:
        assert any(400 <= s < 500 for s in seen), seen
    # Nothing the fuzz did is still held: upstream streams, connections, requests.
    assert kimi.control.wait_for(lambda c: c.active_streams == 0)
    assert claude.control.wait_for(lambda c: c.active_streams == 0)
    assert wait_until(lambda: (held(gw, "fuzz").upstream_connections, held(gw).inflight) == (0, 0))
