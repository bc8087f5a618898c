"""A git revision's ``gateway`` package, importable beside this tree's, and timing the
two alternately.

The in-process A/B scripts (``engine_ab.py``, ``features_ab.py``, ``finish_ab.py``) load
both versions into one interpreter and time them in interleaved batches: the revision's
package is exported with ``git archive`` (no checkout is touched) and renamed
``gateway_<rev>``; every import inside the package is relative, so it loads beside the
working tree's ``gateway`` without either seeing the other.
"""

from __future__ import annotations

import io
import re
import statistics
import subprocess
import sys
import tarfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def import_revision(rev: str, into: Path, files: Sequence[str] = ("gateway",)) -> str:
    """Export ``files`` (paths under ``gateway/``, or the whole package) of ``rev`` under
    ``into``, put it on ``sys.path`` and return the package's name there."""
    data = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", rev, *files],
                          check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        t.extractall(into / "export", filter="data")
    name = "gateway_" + re.sub(r"\W", "_", rev)
    (into / "export" / "gateway").rename(into / name)
    sys.path.insert(0, str(into))
    return name


async def alternate(old: Callable[[], Awaitable[float]], new: Callable[[], Awaitable[float]],
                    rounds: int) -> tuple[list[float], list[float]]:
    """``rounds`` measurements of each, the one going first alternating (machine drift
    and the collector hit both alike); the old's and the new's, in order."""
    olds: list[float] = []
    news: list[float] = []
    for i in range(rounds):
        pair = ((old, olds), (new, news)) if i % 2 else ((new, news), (old, olds))
        for measure, acc in pair:
            acc.append(await measure())
    return olds, news


def ratio_row(name: str, olds: list[float], news: list[float]) -> str:
    """A markdown row: the medians and their ratio."""
    mo, mn = statistics.median(olds), statistics.median(news)
    return f"| {name} | {mo:.2f} | {mn:.2f} | {mn / mo:.2f} |"
