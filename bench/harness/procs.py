"""Processes the harness starts: spawn, wait until they answer, measure RSS, kill.

Every process runs in its own session (process group), so stopping it also stops any
children it forked (LiteLLM's uvicorn, for example); the registry kills whatever is
still alive at exit, also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Self

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{tid}/children").read_text()
            out += [int(c) for c in text.split()]
    except OSError:
        pass
    return out


def tree(pid: int) -> list[int]:
    """pid and all its descendants."""
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += _children(p)
    return seen


def rss_mb(pid: int) -> float:
    """Resident memory of a process tree now, in MB."""
    total = 0
    for p in tree(pid):
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * PAGE_KB
        except (OSError, IndexError, ValueError):
            pass
    return total / 1024


def hwm_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of the tree's processes, summed, in MB."""
    total = 0
    for p in tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def cpu_s(pid: int) -> float:
    """CPU time (user + system) used so far by a process tree's live processes, in s."""
    return sum(cpu_split_s(pid))


def thread_cpu_s(pid: int) -> float:
    """CPU time (user + system) used so far by one thread (a process's main thread: its
    pid), in s."""
    try:
        fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def cpu_split_s(pid: int) -> tuple[float, float]:
    """User and system (kernel) CPU time used so far by a process tree, in s."""
    user = system = 0
    for p in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            user += int(fields[11])
            system += int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return user / CLK_TCK, system / CLK_TCK


class RssSampler:
    """Samples a process tree's RSS in a thread while a load runs."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid = pid
        self.cpu_s = 0.0   # CPU time the tree used while sampled
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        t0 = time.monotonic()
        while not self._stop.is_set():
            self.samples.append((time.monotonic() - t0, rss_mb(self.pid)))
            self._stop.wait(self.interval)

    def __enter__(self) -> Self:
        self._cpu0 = cpu_s(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu_s = cpu_s(self.pid) - self._cpu0
        self._stop.set()
        self._thread.join(2)
        self.samples.append((self.samples[-1][0] if self.samples else 0.0, rss_mb(self.pid)))

    @property
    def peak(self) -> float:
        return max((mb for _, mb in self.samples), default=0.0)


class Proc:
    def __init__(self, name: str, popen: subprocess.Popen[bytes], log: Path) -> None:
        self.name = name
        self.popen = popen
        self.log = log

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def _drain(fd: int, log: Path) -> None:
    """Read a pipe or a pseudo-terminal to its end; keep the first 64 KB (for errors)."""
    kept = 0
    with open(log, "ab") as fh:
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:  # a pty's reader gets EIO once the other side is closed
                data = b""
            if not data:
                break
            if kept < 65536:
                fh.write(data[:65536 - kept])
                fh.flush()
                kept += len(data)
    os.close(fd)


class Procs:
    """The registry of everything the harness started; ``stop_all`` ends them all."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.live: list[Proc] = []
        atexit.register(self.stop_all)
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: object) -> None:
        self.stop_all()
        raise SystemExit(128 + signum)

    def start(self, name: str, argv: Sequence[str], *, env: dict[str, str | None] | None = None,
              cwd: Path | None = None, sink: str = "file") -> Proc:
        """``sink``: where the process's stdout and stderr go (the gateway's access log is
        on stderr): ``file`` (the default, ``<logdir>/<name>.log``), ``devnull``, ``pipe``
        (a thread here reads it, as a container runtime or a supervisor would) or ``tty``
        (a pseudo-terminal, a thread here reading its other end, as a terminal would)."""
        log = self.logdir / f"{name}.log"
        full_env = dict(os.environ)
        for k, v in (env or {}).items():  # None: unset
            if v is None:
                full_env.pop(k, None)
            else:
                full_env[k] = v
        with open(log, "wb") as fh:  # the child keeps its own copy of the descriptor
            reader = -1
            if sink == "file":
                out: Any = fh
            elif sink == "devnull":
                out = subprocess.DEVNULL
            elif sink == "pipe":
                reader, out = os.pipe()
            elif sink == "tty":
                reader, out = os.openpty()
            else:
                raise ValueError(f"sink {sink!r}: file, devnull, pipe or tty")
            popen = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=full_env,
                                     cwd=cwd, start_new_session=True)
            if reader >= 0:
                os.close(out)
                threading.Thread(target=_drain, args=(reader, log), daemon=True).start()
        proc = Proc(name, popen, log)
        self.live.append(proc)
        return proc

    def wait_ready(self, proc: Proc, ready: Callable[[], bool], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited {proc.popen.returncode}:\n{proc.tail()}")
            try:
                if ready():
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop(proc)
        raise RuntimeError(f"{proc.name} did not become ready in {timeout:.0f} s:\n{proc.tail()}")

    def stop(self, proc: Proc, timeout: float = 10) -> None:
        if proc in self.live:
            self.live.remove(proc)
        if proc.popen.poll() is None:
            self._signal_group(proc, signal.SIGTERM)
            try:
                proc.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(proc, signal.SIGKILL)
                proc.popen.wait(5)
        # Children that outlived their parent (same process group) go too.
        self._signal_group(proc, signal.SIGKILL)

    @staticmethod
    def _signal_group(proc: Proc, sig: int) -> None:
        try:
            os.killpg(proc.pid, sig)  # the group we created for it: start_new_session
        except (ProcessLookupError, PermissionError):
            pass

    def stop_all(self) -> None:
        for proc in list(reversed(self.live)):
            self.stop(proc, timeout=5)
