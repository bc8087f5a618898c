#!/usr/bin/env bash
# Set up and run the gateway: bash scripts/serve.sh [gateway serve options]
# With no provider key in the environment it starts in demo mode (in-process
# emulators of the Moonshot and Anthropic APIs) so it can be tried at once.
set -euo pipefail
# "" : no extras (sourced without arguments, setup.sh would read ours as its own)
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh" ""
cd "$ROOT"
args=("$@")
if [ -z "${KIMI_API_KEY:-}" ] && [ -z "${ANTHROPIC_API_KEY:-}" ] && [[ " ${args[*]-} " != *" --demo "* ]]; then
  echo "serve: neither KIMI_API_KEY nor ANTHROPIC_API_KEY is set: starting in --demo mode" >&2
  args+=("--demo")
fi
exec gateway serve "${args[@]}"
