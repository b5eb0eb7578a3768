#!/usr/bin/env bash
# The whole test suite: install what it needs, lint, type-check, check the committed tree against
# the model, then run pytest (unit, golden and real-tool tests).
#
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
echo "==> ruff" >&2
ruff check src tests bench
ruff format --check src tests bench
echo "==> mypy" >&2
mypy
echo "==> iklim render --check" >&2
iklim render --check
if [ "${CI:-}" = true ]; then
  # CI runs as on a fresh machine: no Swarm-lab state a killed earlier run left behind (its
  # Sentinel and Raft state, secrets, Vault keys); the image cache is kept.
  echo "==> swarm-lab down --wipe (CI)" >&2
  python3 -m iklim swarm-lab down --wipe
fi
echo "==> pytest" >&2
python3 -m pytest -q --durations=30 "$@"
