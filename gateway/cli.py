"""``gateway serve | check-config | route``."""

from __future__ import annotations

import argparse
import math
import os
import signal
import socket
import sys
from types import FrameType
from typing import Any

import orjson
import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess

from .api.explain import explain_body, pick_surface
from .config import (
    ConfigError,
    GatewayConfig,
    describe_config_path,
    load_config,
    resolve_config_path,
)
from .drain import SHUTDOWN_MARGIN_S
from .errors import GatewayError
from .metrics import MULTIPROC_ENV, remove_multiprocess_dir, setup_multiprocess_dir
from .replay import format_summary, read_access_log, replay

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config_path(arg: str | None) -> str:
    return resolve_config_path(arg, os.environ)


def routing_table(cfg: GatewayConfig) -> str:
    lines = ["models:"]
    for alias, m in cfg.models.items():
        lines.append(f"  {alias:<16} {m.provider}/{m.upstream}  window {m.context_window}  "
                     f"default_max_tokens {m.default_max_tokens}")
    lines.append("policies:")
    for name, p in cfg.policies.items():
        mark = " (default)" if name == cfg.routing.default_policy else ""
        lines.append(f"  {name:<16} providers={p.providers or 'any'} "
                     f"pii_providers={p.pii_providers or 'any'}{mark}")
    lines.append("rules (first that holds and keeps a candidate wins):")
    for i, r in enumerate(cfg.routing.rules, 1):
        when = r.when.model_dump(exclude_none=True, by_alias=True) or "always"
        w = f" weights={r.weights}" if r.weights else ""
        lines.append(f"  {i}. {r.name:<14} when {when} -> {' | '.join(r.to)}{w}")
    keys = cfg.active_keys()
    lines.append(f"keys: {', '.join(k.name for k in keys) if keys else 'none (open access)'}")
    return "\n".join(lines)


def cmd_check_config(args: argparse.Namespace) -> int:
    path = _config_path(args.path)
    try:
        cfg = load_config(path, os.environ)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{describe_config_path(path)}: OK")
    print(routing_table(cfg))
    return 0


def cmd_route(args: argparse.Namespace) -> int:
    try:
        cfg = load_config(_config_path(args.config), os.environ)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    raw = sys.stdin.buffer.read()
    try:
        body: Any = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        print(f"error: the request on stdin is not valid JSON: {exc}", file=sys.stderr)
        return 1
    try:
        surface = pick_surface(body, args.surface) if args.surface else None
    except GatewayError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    status, out = explain_body(cfg, body, header_policy=args.policy, surface=surface)
    sys.stdout.write(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0 if status == 200 else 1


def cmd_replay(args: argparse.Namespace) -> int:
    """Route an access log's recorded requests through a draft config; print what changes."""
    try:
        cfg = load_config(args.config, os.environ)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        if args.access_log in (None, "-"):
            summary = replay(read_access_log(sys.stdin), cfg)
        else:
            with open(args.access_log, encoding="utf-8", errors="replace") as f:
                summary = replay(read_access_log(f), cfg)
    except (OSError, ValueError) as exc:
        print(f"error: {args.access_log or 'stdin'}: {exc}", file=sys.stderr)
        return 1
    if summary["replayed"] + summary["skipped"] == 0:
        print(f"error: {args.access_log or 'stdin'}: no access lines found (replay reads the "
              "JSON access log: GATEWAY_LOG_FORMAT=json, the default)", file=sys.stderr)
        return 1
    if args.json:
        sys.stdout.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(format_summary(summary))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    path = _config_path(args.config)
    try:
        cfg = load_config(path, os.environ)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    os.environ["GATEWAY_CONFIG"] = path
    workers = args.workers
    if args.demo:
        if workers > 1:
            print("warning: --demo runs one worker (the emulators live in-process)", file=sys.stderr)
            workers = 1
        kp, ap = _free_port(), _free_port()
        os.environ["GATEWAY_DEMO_PORTS"] = f"{kp},{ap}"
        print(f"DEMO MODE: providers point at in-process emulators of the Moonshot API "
              f"(http://127.0.0.1:{kp}/v1) and the Anthropic API (http://127.0.0.1:{ap}); "
              "no real model answers. Responses carry `x-gateway-demo: true`.", file=sys.stderr)
    redis_url = cfg.redis.url or os.environ.get("REDIS_URL", "")
    metrics_dir: str | None = None
    if workers > 1:
        # Before any worker starts: spawned workers inherit it and import
        # prometheus_client fresh, so their values go to files render() merges.
        metrics_dir = os.environ[MULTIPROC_ENV] = setup_multiprocess_dir(None)
        if not redis_url:
            print(f"warning: {workers} workers with the memory store: rate limits and cache are "
                  "per process (each worker admits the full limit). Set REDIS_URL for exact "
                  "limits across processes.", file=sys.stderr)
    print(f"gateway listening on http://{args.host}:{args.port} "
          f"(config {describe_config_path(path)}, {workers} worker{'s' if workers > 1 else ''}, "
          f"store {'redis' if redis_url else 'memory'})", file=sys.stderr)
    if cfg.console.enabled:
        print(f"console: open http://{args.host}:{args.port}/console", file=sys.stderr)
    config = uvicorn.Config(
        "gateway.entry:app_from_env", factory=True, host=args.host, port=args.port,
        workers=workers, loop="uvloop", lifespan="on",
        # httptools, 431 past 64 KiB of head, head deadline, connection cap
        http="gateway.conn_guard:GuardedHttpTools",
        log_level="warning", access_log=False, proxy_headers=False, server_header=False,
        # A backstop only: the app's drain (gateway/drain.py) ends streams at
        # graceful_shutdown_s with an error event; uvicorn cancels what is left later.
        timeout_graceful_shutdown=math.ceil(cfg.server.graceful_shutdown_s + SHUTDOWN_MARGIN_S),
        h11_max_incomplete_event_size=64 * 1024,
    )
    try:
        return _run(config)
    finally:
        if metrics_dir is not None:
            remove_multiprocess_dir(metrics_dir)


class _Supervisor(Multiprocess):
    """uvicorn's worker supervisor, closing its copy of the listening socket on exit.

    Workers close theirs when SIGTERM reaches them, but the socket stays open while the
    supervisor holds it: new connections would queue unanswered during the drain
    instead of being refused (and retried elsewhere by a load balancer).
    """

    def terminate_all(self) -> None:
        for sock in self.sockets:
            sock.close()
        super().terminate_all()


def _run(config: uvicorn.Config) -> int:
    """``uvicorn.run`` with a clean exit: 0 after a SIGTERM/SIGINT shutdown."""
    if config.workers > 1:
        supervisor = _Supervisor(config, sockets=[config.bind_socket()])
        supervisor.run()
        failed = any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes)
        return STARTUP_FAILURE if failed else 0
    server = uvicorn.Server(config)

    def stop(signum: int, frame: FrameType | None) -> None:
        server.should_exit = True

    # uvicorn swaps in its own handlers while it serves and re-raises the signal once it
    # has shut down, to whatever handler was there before: the default one would kill
    # the process with SIGTERM's status after a clean drain. This one ends it with 0
    # (and, before uvicorn's are installed, still asks the server to stop).
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.run()
    return 0 if server.started else STARTUP_FAILURE


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gateway", description="LLM gateway for Kimi and Claude")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="run the gateway")
    s.add_argument("--config", help="config file (default $GATEWAY_CONFIG, else ./config/gateway.yaml "
                   "if present, else the built-in default)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument("--workers", type=int, default=1)
    s.add_argument("--demo", action="store_true",
                   help="serve from in-process emulators of the Moonshot and Anthropic APIs")
    s.set_defaults(fn=cmd_serve)
    c = sub.add_parser("check-config", help="validate a config and print the routing table")
    c.add_argument("path", nargs="?")
    c.set_defaults(fn=cmd_check_config)
    r = sub.add_parser("route", help="print the routing decision for a request on stdin")
    r.add_argument("--config")
    r.add_argument("--policy", help="as the x-gateway-policy header")
    r.add_argument("--surface", choices=["chat_completions", "messages", "responses"],
                   help="whose body it is (default: a Responses body if it has `input` "
                   "and no `messages`, else chat completions)")
    r.set_defaults(fn=cmd_route)
    w = sub.add_parser("replay", help="what a draft config would change for the requests of an "
                       "access log")
    w.add_argument("--config", required=True, help="the draft config")
    w.add_argument("access_log", nargs="?", help="JSON access log (default: stdin)")
    w.add_argument("--json", action="store_true", help="print the summary as JSON")
    w.set_defaults(fn=cmd_replay)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.fn(args))


if __name__ == "__main__":
    sys.exit(main())
