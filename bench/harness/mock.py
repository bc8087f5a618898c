"""nginx configs: the static mock upstream and the plain proxy hop.

The mock answers every POST ending in ``/chat/completions`` with one OpenAI
chat.completion and every POST ending in ``/messages`` with one Anthropic message,
from memory (``return 200``), so the upstream costs a few microseconds and is never
the bottleneck. Both run as one nginx process (``master_process off``).
"""

from __future__ import annotations

from pathlib import Path

import orjson

OPENAI_RESPONSE = {
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1700000000,
    "model": "kimi-k2-0905-preview",
    "choices": [{"index": 0, "message": {"role": "assistant",
                                         "content": "Hello from the mock upstream."},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
}
ANTHROPIC_RESPONSE = {
    "id": "msg_bench", "type": "message", "role": "assistant", "model": "claude-opus-4-5",
    "content": [{"type": "text", "text": "Hello from the mock upstream."}],
    "stop_reason": "end_turn", "stop_sequence": None,
    "usage": {"input_tokens": 12, "output_tokens": 7},
}


def _common(name: str, workdir: Path) -> str:
    tmp = workdir / f"{name}-tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    return f"""daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 65536;
pid {workdir}/{name}.pid;
error_log {workdir}/{name}-error.log warn;
events {{ worker_connections 16384; multi_accept on; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  client_max_body_size 64m;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
"""


def mock_conf(port: int, workdir: Path, reader_port: int) -> Path:
    """``reader_port``: the asyncio server, which answers bodies of 100 KB and more.

    ``return`` answers before the body is read; for a 10 MB body the client is then
    still writing while the answer arrives, which wrk cannot follow (one request per
    run). Large bodies go to a server that reads them whole first, like a real API.
    """
    openai = orjson.dumps(OPENAI_RESPONSE).decode()
    anthropic = orjson.dumps(ANTHROPIC_RESPONSE).decode()
    big = 'if ($content_length ~ "^[0-9]{6,}$") { rewrite ^(.*)$ /__big$1 last; }'
    text = _common("mock", workdir) + f"""  upstream reader {{ server 127.0.0.1:{reader_port}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location ~ /chat/completions$ {{
      {big}
      default_type application/json; return 200 '{openai}';
    }}
    location ~ /messages$ {{
      {big}
      default_type application/json; return 200 '{anthropic}';
    }}
    location ^~ /__big/ {{
      internal;
      proxy_pass http://reader;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_request_buffering off;
    }}
    location / {{ return 404; }}
  }}
}}
"""
    path = workdir / "mock.conf"
    path.write_text(text)
    return path


def proxy_conf(port: int, upstream_port: int, workdir: Path, name: str) -> Path:
    # Buffering off: the same config relays SSE streams chunk by chunk.
    text = _common(name, workdir) + f"""  upstream mock {{ server 127.0.0.1:{upstream_port}; keepalive 512; }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
    }}
  }}
}}
"""
    path = workdir / f"{name}.conf"
    path.write_text(text)
    return path


def nginx_argv(conf: Path, workdir: Path) -> list[str]:
    return ["nginx", "-p", str(workdir), "-e", str(workdir / "nginx-startup.log"), "-c", str(conf)]
