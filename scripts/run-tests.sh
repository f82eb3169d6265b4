#!/usr/bin/env bash
# Lint, type-check, then the whole test suite with real services.
# TENANTHUB_STRICT_SKIPS=1 turns "service missing" skips into failures: CI skips nothing.
#
# The suite runs on TENANTHUB_TEST_WORKERS pytest-xdist workers (default 3: most of a
# test's time is spent waiting on hubs, containers and pods, so on 2 cores 3 workers
# keep them busy). Tests that share the Kubernetes test cluster or the project's Docker
# engine run one after another on one worker, and so do a module's tests; the rest go
# to whichever worker is free (tests/scheduling.py). The log scan for issued secrets
# (tests/integration/test_log_secrets.py) runs after them, over what every worker
# recorded. Arguments go to the first run (a subset: `scripts/run-tests.sh tests/unit`).
set -euo pipefail
bin=.venv/bin
workers="${TENANTHUB_TEST_WORKERS:-3}"
echo "== ruff"
"$bin/ruff" check .
"$bin/ruff" format --check .
echo "== mypy"
"$bin/mypy"

scan_dir="$(mktemp -d -t tenanthub-log-scan.XXXXXX)"
trap 'rm -rf "$scan_dir"' EXIT
export TENANTHUB_STRICT_SKIPS=1 TENANTHUB_LOG_SCAN_DIR="$scan_dir"

# pytest's exit code 5 (it collected no tests) is a failure, not a pass
pytest_run() {
  local status=0
  "$bin/pytest" "$@" || status=$?
  if [[ $status -eq 5 ]]; then
    echo "pytest collected no tests: that is a failure" >&2
    return 1
  fi
  return $status
}

status=0
echo "== pytest ($workers workers)"
pytest_run -q -rs --durations=15 -n "$workers" --dist loadscope \
  --no-loadscope-reorder -m "not log_scan" "$@" \
  || status=$?
echo "== pytest: the run's logs scanned for the secrets it issued"
pytest_run -q -rs -m log_scan tests/integration/test_log_secrets.py || status=$?
exit $status
