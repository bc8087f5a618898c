#!/usr/bin/env bash
# Shared by serve.sh and test.sh: a virtual environment with the package installed.
# Usage: source scripts/setup.sh [extras]   (extras: "test" for the test suite)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${GATEWAY_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating virtual environment in $VENV" >&2
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip >&2
fi
extras="${1:-}"
spec="$ROOT"
[ -n "$extras" ] && spec="$ROOT[$extras]"
# Reinstall only when pyproject.toml changed since the last install.
stamp="$VENV/.gateway-installed-${extras:-base}"
if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
  echo "setup: installing gateway${extras:+[$extras]} into $VENV" >&2
  "$VENV/bin/python" -m pip install -q -e "$spec" >&2
  touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"
