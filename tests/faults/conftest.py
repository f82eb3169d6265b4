"""Fixtures of the fault suite: the integration suite's hub factory, and a Docker engine
check with a per-test tenant whose containers and volumes are removed afterwards."""

from __future__ import annotations

from tests.integration.conftest import hub_factory

__all__ = ["hub_factory"]
