#!/usr/bin/env bash
# Lint, type-check, then the whole test suite with real services.
# TENANTHUB_STRICT_SKIPS=1 turns "service missing" skips into failures: CI skips nothing.
set -euo pipefail
bin=.venv/bin
echo "== ruff"
"$bin/ruff" check .
"$bin/ruff" format --check .
echo "== mypy"
"$bin/mypy"
echo "== pytest"
set +e
TENANTHUB_STRICT_SKIPS=1 "$bin/pytest" -q -rs --durations=15 "$@"
status=$?
set -e
if [[ $status -eq 5 ]]; then
  echo "pytest collected no tests: that is a failure" >&2
  exit 1
fi
exit $status
