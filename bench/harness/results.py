"""The results of one run, as plain data (also saved as JSON beside RESULTS.md)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Row:
    scenario: str
    system: str
    concurrency: int
    rps: float
    p50_ms: float
    p99_ms: float
    rss_mb: float
    errors: int
    requests: int
    cpu_us: float = 0.0      # CPU time (user + system) of the system's process per request


@dataclass
class Results:
    command: str
    machine: dict[str, str] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    streams: dict[str, dict[str, Any]] = field(default_factory=dict)   # scenario -> system -> ...
    soak: dict[str, Any] = field(default_factory=dict)
    language: dict[str, Any] = field(default_factory=dict)             # first French prompt
    profiles: dict[str, Any] = field(default_factory=dict)
    shipped: dict[str, Any] = field(default_factory=dict)              # harness/shipped.py
    skipped: dict[str, str] = field(default_factory=dict)              # system -> why
    notes: list[str] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)

    def get(self, scenario: str, system: str, concurrency: int) -> Row | None:
        for r in self.rows:
            if (r.scenario, r.system, r.concurrency) == (scenario, system, concurrency):
                return r
        return None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
