"""``gateway serve`` under cProfile on this thread's CPU clock, switched by signals.

    python -m harness.cprofile_serve OUT.pstats serve --config ... (gateway's arguments)

SIGUSR1 starts profiling the event loop's thread, SIGUSR2 stops it and writes OUT.N (N:
1 for the first start, 2 for the next...). The
clock is ``time.thread_time``: time the process waits for a CPU on a busy machine is not
charged to whatever it was doing (py-spy's samples are; README, "Reading the numbers"),
at the price of cProfile's per-call overhead, which inflates code that makes many small
calls (read shares, not absolute microseconds).
"""

from __future__ import annotations

import cProfile
import signal
import sys
import time
from types import FrameType

from gateway import cli


def main() -> int:
    out, argv = sys.argv[1], sys.argv[2:]
    profs: list[cProfile.Profile] = []

    def start(signum: int, frame: FrameType | None) -> None:
        profs.append(cProfile.Profile(time.thread_time))
        profs[-1].enable()

    def stop(signum: int, frame: FrameType | None) -> None:
        profs[-1].disable()
        profs[-1].dump_stats(f"{out}.{len(profs)}")  # OUT.1, OUT.2, ...: one per start

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
