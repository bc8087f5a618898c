"""A minimal SSE parser for tests: frames as (event name or None, data text)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson


def parse_frames(text: str) -> list[tuple[str | None, str]]:
    frames = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        event = None
        data = []
        for line in block.split("\n"):
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
        frames.append((event, "\n".join(data)))
    return frames


def frames_from_lines(lines: Iterable[str]) -> list[tuple[str | None, str]]:
    """Frames from ``iter_lines()``, yielded as soon as each is complete."""
    return list(iter_frames(lines))


def iter_frames(lines: Iterable[str]) -> Iterable[tuple[str | None, str]]:
    event: str | None = None
    data: list[str] = []
    for line in lines:
        if line == "":
            if event is not None or data:
                yield event, "\n".join(data)
            event, data = None, []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())


def data_json(frames: list[tuple[str | None, str]]) -> list[Any]:
    return [orjson.loads(d) for _, d in frames if d != "[DONE]"]
