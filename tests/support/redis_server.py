"""Real redis-server processes for tests: standalone, TLS and a 3-master cluster.

Tests own these processes, so they can stop, SIGKILL, SIGSTOP and restart them to
exercise faults; they never touch the system Redis on 6379. Every server runs with
persistence off (``--save "" --appendonly no``) in its own temp dir, so a restart
comes back empty, exactly like a crashed cache node would.
"""

from __future__ import annotations

import atexit
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
HOST = "127.0.0.1"

_live: set[RedisServer] = set()


@atexit.register
def _kill_leftovers() -> None:
    # A test that crashed before its fixture teardown must not leave servers behind.
    for server in list(_live):
        server.kill()


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port(*, with_bus: bool = False) -> int:
    """A port that is free now (and, for cluster nodes, whose bus port +10000 is too)."""
    for _ in range(500):
        port = random.randint(20000, 55000)
        if _port_free(port) and (not with_bus or _port_free(port + 10000)):
            return port
    raise RuntimeError("no free port found")


@dataclass(frozen=True)
class TlsFiles:
    ca: str
    cert: str
    key: str


def make_tls_files(directory: str | Path) -> TlsFiles:
    """A throwaway CA and a server certificate for localhost/127.0.0.1 (openssl CLI)."""
    d = Path(directory)
    ca_key, ca, key, csr, cert = (str(d / n) for n in
                                  ("ca.key", "ca.crt", "server.key", "server.csr", "server.crt"))
    ext = d / "san.ext"
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", ca_key, "-out", ca)
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", key,
        "-out", csr)
    run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-days", "2",
        "-extfile", str(ext), "-out", cert)
    return TlsFiles(ca=ca, cert=cert, key=key)


class RedisServer:
    """One redis-server on a free port; ``restart()`` reuses the same port."""

    def __init__(self, *, port: int | None = None, tls: TlsFiles | None = None,
                 extra_args: tuple[str, ...] = (), bus_port: bool = False) -> None:
        self._want_port = port
        self._bus = bus_port
        self.tls = tls
        self.extra_args = extra_args
        self.port = 0
        self.dir = tempfile.mkdtemp(prefix="redis-test-")
        self.proc: subprocess.Popen[bytes] | None = None
        self.paused = False

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> RedisServer:
        attempts = 1 if (self._want_port or self.port) else 5
        for _ in range(attempts):
            self.port = self.port or self._want_port or free_port(with_bus=self._bus)
            try:
                self._spawn()
                return self
            except RuntimeError:
                if attempts == 1:
                    raise
                self.port = 0  # someone grabbed the port between probe and bind: retry
        raise RuntimeError("redis-server failed to start")

    def _argv(self) -> list[str]:
        argv = [REDIS_SERVER, "--bind", HOST, "--save", "", "--appendonly", "no",
                "--dir", self.dir, "--logfile", os.path.join(self.dir, "redis.log"),
                "--daemonize", "no", "--loglevel", "warning"]
        if self.tls:
            argv += ["--port", "0", "--tls-port", str(self.port),
                     "--tls-cert-file", self.tls.cert, "--tls-key-file", self.tls.key,
                     "--tls-ca-cert-file", self.tls.ca, "--tls-auth-clients", "no"]
        else:
            argv += ["--port", str(self.port)]
        return argv + list(self.extra_args)

    def _spawn(self) -> None:
        self.proc = subprocess.Popen(self._argv(), cwd=self.dir, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        _live.add(self)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                _live.discard(self)
                raise RuntimeError(f"redis-server exited: {self.log_tail()}")
            if self.ping():
                return
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"redis-server did not answer PING: {self.log_tail()}")

    def _signal_and_wait(self, sig: int) -> None:
        if self.proc is None:
            return
        if self.paused:
            self.proc.send_signal(signal.SIGCONT)
            self.paused = False
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None
        _live.discard(self)

    def stop(self) -> None:
        self._signal_and_wait(signal.SIGTERM)

    def kill(self) -> None:
        self._signal_and_wait(signal.SIGKILL)

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def restart(self) -> None:
        self.stop()
        self._spawn()  # same self.port

    def cleanup(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    # -- probing ---------------------------------------------------------------
    @property
    def url(self) -> str:
        # TLS certificates name "localhost", so TLS URLs use it for hostname checks.
        return f"rediss://localhost:{self.port}" if self.tls else f"redis://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ping(self, timeout: float = 0.5) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=timeout) as raw:
                sock: socket.socket = raw
                if self.tls:
                    ctx = ssl.create_default_context(cafile=self.tls.ca)
                    sock = ctx.wrap_socket(raw, server_hostname="localhost")
                sock.sendall(b"PING\r\n")
                # -NOAUTH: up, with a password (tests of AUTH start such servers)
                return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False

    def cli(self, *args: str) -> str:
        """Run one command through redis-cli (not for TLS servers)."""
        out = subprocess.run([REDIS_CLI, "-h", HOST, "-p", str(self.port), *args],
                             check=True, capture_output=True, text=True, timeout=10)
        return out.stdout

    def log_tail(self, n: int = 20) -> str:
        try:
            return "".join(Path(self.dir, "redis.log").read_text().splitlines(True)[-n:])
        except OSError:
            return "(no log)"


class RedisCluster:
    """Three masters sharing the 16384 slots equally, no replicas."""

    def __init__(self, masters: int = 3) -> None:
        self.nodes = [RedisServer(bus_port=True, extra_args=(
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", "2000")) for _ in range(masters)]

    def start(self) -> RedisCluster:
        for node in self.nodes:
            node.start()
        # What ``redis-cli --cluster create`` does, minus its 1 s polling: distinct
        # config epochs, an equal share of the 16384 slots each, and every pair of
        # nodes introduced directly rather than waiting for gossip to spread them.
        n = len(self.nodes)
        for i, node in enumerate(self.nodes):
            node.cli("CLUSTER", "SET-CONFIG-EPOCH", str(i + 1))
            node.cli("CLUSTER", "ADDSLOTSRANGE", str(i * 16384 // n),
                     str((i + 1) * 16384 // n - 1))
        for i, node in enumerate(self.nodes):
            for other in self.nodes[i + 1:]:
                node.cli("CLUSTER", "MEET", HOST, str(other.port))
        # A master refuses "ok" for ~2 s after start (and for node-timeout after it saw
        # itself in a minority), hence the short --cluster-node-timeout above.
        self._wait(lambda info: "cluster_state:ok" in info and "cluster_slots_ok:16384" in info
                   and f"cluster_known_nodes:{n}" in info)
        return self

    def _wait(self, ready: Callable[[str], bool]) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if all(ready(node.cli("CLUSTER", "INFO")) for node in self.nodes):
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("cluster did not converge")

    @property
    def url(self) -> str:
        """Seed URL for redis-py's ``RedisCluster.from_url``."""
        return self.nodes[0].url

    @property
    def store_url(self) -> str:
        """The same seed in the gateway's cluster URL form."""
        return f"redis+cluster://{HOST}:{self.nodes[0].port}"

    def stop(self) -> None:
        for node in self.nodes:
            node.cleanup()

    def __enter__(self) -> RedisCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
