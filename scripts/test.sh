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
echo "==> pytest" >&2
python3 -m pytest -q --durations=30 "$@"
