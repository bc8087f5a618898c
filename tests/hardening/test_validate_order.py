"""The chat validator reports the first bad field in one fixed order, whichever fields
a body has and in whatever order it lists them (``validate.chat_request`` checks only
the optional fields a body holds, in the order below)."""

from __future__ import annotations

from itertools import combinations
from typing import Any

import pytest

from gateway import validate
from gateway.errors import BadRequest

# Each optional field with a value it refuses, in the order the checks run.
BAD: list[tuple[str, Any]] = [
    ("stream", "yes"), ("stream_options", 1), ("temperature", 5), ("top_p", 5),
    ("frequency_penalty", 5), ("presence_penalty", -5), ("max_tokens", 0),
    ("max_completion_tokens", 0), ("n", 0), ("seed", "1"), ("parallel_tool_calls", "no"),
    ("stop", 1), ("tools", {}), ("tool_choice", "any"), ("response_format", "json"),
    ("metadata", []),
]
BASE = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}


def refused(body: dict[str, Any]) -> BadRequest:
    with pytest.raises(BadRequest) as e:
        validate.chat_request(body)
    return e.value


@pytest.mark.parametrize("first, second", list(combinations(BAD, 2)))
def test_the_first_bad_field_in_check_order_is_reported(first: tuple[str, Any],
                                                        second: tuple[str, Any]) -> None:
    for fields in ((first, second), (second, first)):  # the body's order does not matter
        assert refused({**BASE, **dict(fields)}).param == first[0]


@pytest.mark.parametrize("name, value", BAD)
def test_each_bad_field_alone(name: str, value: Any) -> None:
    assert refused({**BASE, name: value}).param == name
    assert validate.chat_request({**BASE, name: None}) is not None  # null: as if absent


def test_messages_come_before_fields_and_differing_budgets_after_their_own() -> None:
    assert refused({**BASE, "messages": [{"role": "x"}], "n": 0}).param == "messages[0].role"
    differ = {**BASE, "max_tokens": 5, "max_completion_tokens": 6}
    assert "differ" in refused({**differ, "n": 0}).message
    assert refused({**differ, "top_p": 5}).param == "top_p"
