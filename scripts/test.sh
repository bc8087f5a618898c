#!/usr/bin/env bash
# Set up and run the whole test suite: bash scripts/test.sh [pytest options]
# Installs what it needs (Debian's redis-server and prometheus when missing, a
# virtual environment with the package and its test extras) and starts what it
# needs (the tests start their own redis-server, Prometheus and emulators).
set -euo pipefail
HERE="$(dirname "${BASH_SOURCE[0]}")"
bash "$HERE/apt-need.sh" redis-server:redis-server promtool:prometheus prometheus:prometheus wrk:wrk nginx:nginx chromium:chromium chromedriver:chromium-driver node:nodejs npm:npm
source "$HERE/setup.sh" test
cd "$ROOT"
# The real agent clients the tests drive (Claude Code, the AI SDK), pinned by lockfile.
(cd tests/agents && npm ci --no-audit --no-fund --loglevel=error)
set +e
python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "test: pytest collected no tests; that is a failure" >&2
  exit 1
fi
exit "$rc"
