"""No log of this test run holds a token or secret the run was issued (issue 13).

Runs last (``tests/conftest.py`` moves it there), or after a run on several workers in a
pytest of its own (``scripts/run-tests.sh``): see ``tests/log_secrets.py`` for what is
collected. In a run that started no hub there is nothing to scan, and it says so.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import log_secrets

pytestmark = pytest.mark.log_scan


def test_no_log_of_this_run_holds_a_secret_it_was_issued() -> None:
    watched, issued = log_secrets.collected()
    if not watched:
        pytest.skip("no hub ran in this test run, so there are no logs to scan")
    roots = sorted(r for r in watched if r.exists())
    assert roots, f"{len(watched)} hubs ran and none of their folders is left to scan"
    secrets = set(issued)
    for root in roots:
        secrets |= log_secrets.secrets_under(root)
    logs = [log for root in roots for log in log_secrets.logs_under(root)]
    assert logs, f"{len(roots)} hubs ran and left no log"
    assert secrets, "hubs ran and no secret was collected: the collection is broken"
    leaked = log_secrets.leaks(logs, secrets)
    print(f"scanned {len(logs)} logs of {len(roots)} hubs for {len(secrets)} secrets")
    assert not leaked, "secrets in logs: " + ", ".join(
        f"{path} holds {prefix}..." for path, prefix in leaked[:20]
    )


def test_the_scan_finds_a_secret_written_to_a_log(tmp_path: Path) -> None:
    """The scan itself: a token in a log is found, a token only in the secrets folder
    is collected, and a short value is not taken for a secret."""
    (tmp_path / "data" / "secrets").mkdir(parents=True)
    (tmp_path / "data" / "secrets" / "svc.token").write_text("a1b2c3d4e5f6a7b8c9d0\n")
    (tmp_path / "hub.log").write_text("[I] started\n[W] oops a1b2c3d4e5f6a7b8c9d0 leaked\n")
    (tmp_path / "other.log").write_text("nothing here\n")
    secrets = log_secrets.secrets_under(tmp_path)
    assert secrets == {"a1b2c3d4e5f6a7b8c9d0"}
    assert log_secrets.leaks(log_secrets.logs_under(tmp_path), secrets) == [
        (tmp_path / "hub.log", "a1b2c3")
    ]
    log_secrets.remember("short")
    assert "short" not in log_secrets.ISSUED
