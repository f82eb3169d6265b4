"""The RBAC the README documents is exactly what `tenanthub k8s rbac` prints."""

from __future__ import annotations

from pathlib import Path

from spawner.kubernetes.rbac import hub_rbac_yaml

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_lists_exactly_the_hubs_rbac() -> None:
    assert "```yaml\n" + hub_rbac_yaml() + "```" in README.read_text()
