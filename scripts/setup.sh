#!/usr/bin/env bash
# Shared by serve.sh and test.sh: a virtual environment with the package installed.
# Usage: source scripts/setup.sh EXTRAS   (EXTRAS: "test" for the test suite, "" for none;
# always pass it: a sourced script sees the caller's arguments when given none)
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
# Reinstall only when pyproject.toml changed since the last install. The base
# install is also satisfied by an install with extras (test.sh's includes it).
stamp="$VENV/.gateway-installed-${extras:-base}"
candidates=("$stamp")
[ -z "$extras" ] && candidates+=("$VENV"/.gateway-installed-*)
installed=""
for s in "${candidates[@]}"; do
  if [ -f "$s" ] && [ ! "$ROOT/pyproject.toml" -nt "$s" ]; then installed=1; break; fi
done
if [ -z "$installed" ]; then
  echo "setup: installing gateway${extras:+[$extras]} into $VENV" >&2
  "$VENV/bin/python" -m pip install -q -e "$spec" >&2
  touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"
