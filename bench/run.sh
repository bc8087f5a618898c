#!/usr/bin/env bash
# The benchmark harness: this gateway side by side with its peers, in one run.
#   bash bench/run.sh [--quick] [--systems direct,nginx,gateway,gateway-redis,litellm,portkey]
#                     [--phases http,stream] [--profile] [--no-ab] [--out PATH] [--keep]
#   bash bench/run.sh --shipped [--systems gateway,litellm,portkey] [--rounds 3] ...
#     (the headline setup alone, or variants of the gateway: harness/shipped.py)
# Installs what it needs: Debian's wrk, nginx and redis-server; the gateway's venv;
# py-spy (for --profile); the peers into bench/.venv-litellm (LiteLLM from PyPI) and
# bench/.portkey (@portkey-ai/gateway from npm). A peer that cannot be installed is
# reported and skipped. Writes bench/RESULTS.md (and RESULTS.json). See bench/README.md.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
bash "$ROOT/scripts/apt-need.sh" wrk:wrk nginx:nginx redis-server:redis-server

VENV="${GATEWAY_VENV:-$ROOT/.venv}"
if ! "$VENV/bin/python" -c "import gateway, aiohttp, uvloop, orjson, httpx" 2>/dev/null; then
  source "$ROOT/scripts/setup.sh" ""  # no extras (it would read our arguments)
fi
PY="$VENV/bin/python"

systems="direct,nginx,gateway,gateway-redis,litellm,portkey"
profile=0
shipped=0
args=()
for a in "$@"; do
  if [ "$a" = "--shipped" ]; then shipped=1; else args+=("$a"); fi
done
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --systems) systems="${args[$((i + 1))]:-}" ;;
    --systems=*) systems="${args[$i]#--systems=}" ;;
    --profile) profile=1 ;;
  esac
done

if [ "$profile" = 1 ] && [ ! -x "$VENV/bin/py-spy" ]; then
  "$PY" -m pip install -q py-spy >&2 || echo "bench: py-spy could not be installed" >&2
fi
if [[ ",$systems," == *",litellm,"* ]] && [ ! -x "$HERE/.venv-litellm/bin/litellm" ]; then
  echo "bench: installing LiteLLM's proxy into bench/.venv-litellm (PyPI)" >&2
  (python3 -m venv "$HERE/.venv-litellm" \
    && "$HERE/.venv-litellm/bin/pip" install -q --upgrade pip \
    && "$HERE/.venv-litellm/bin/pip" install -q 'litellm[proxy]') >&2 \
    || echo "bench: LiteLLM could not be installed; continuing without it" >&2
fi
if [[ ",$systems," == *",portkey,"* ]] \
  && [ ! -f "$HERE/.portkey/node_modules/@portkey-ai/gateway/build/start-server.js" ]; then
  echo "bench: installing @portkey-ai/gateway into bench/.portkey (npm)" >&2
  mkdir -p "$HERE/.portkey"
  [ -f "$HERE/.portkey/package.json" ] || echo '{"name": "bench-portkey", "private": true}' \
    > "$HERE/.portkey/package.json"
  (cd "$HERE/.portkey" && npm install --no-audit --no-fund @portkey-ai/gateway) >&2 \
    || echo "bench: Portkey could not be installed; continuing without it" >&2
fi

if [[ ",$systems," == *"granian"* ]] && [ ! -d "$HERE/.granian/granian" ]; then
  echo "bench: installing granian into bench/.granian (PyPI)" >&2
  "$PY" -m pip install -q --target "$HERE/.granian" granian >&2 \
    || echo "bench: granian could not be installed" >&2
fi

ulimit -n 65536 2>/dev/null || true
export BENCH_COMMAND="bash bench/run.sh${*:+ $*}"
export BENCH_CWD="$PWD"  # relative paths in the arguments (--out, --alt) are from here
cd "$HERE"
if [ "$shipped" = 1 ]; then
  # The headline setup alone (issue #21), or variants of the gateway: harness/shipped.py
  exec "$PY" -m harness.shipped "${args[@]}"
fi
exec "$PY" -m harness "$@"
