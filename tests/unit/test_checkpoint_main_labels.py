"""TENANTHUB_CHECKPOINTER_LABELS: a daemon takes only its own containers on a shared engine."""

from __future__ import annotations

import pytest

from checkpointer.__main__ import ModeError, container_selector
from checkpointer.daemon import SELECTOR


def test_without_extra_labels_the_selector_is_tenanthubs_own() -> None:
    assert container_selector(None) == SELECTOR
    assert container_selector(" , ") == SELECTOR


def test_extra_labels_narrow_the_selector() -> None:
    got = container_selector("tenanthub.io/tenant=vision, example.org/hub=a=b")
    assert got == {**SELECTOR, "tenanthub.io/tenant": "vision", "example.org/hub": "a=b"}


@pytest.mark.parametrize("bad", ["tenanthub.io/tenant", "=vision"])
def test_an_item_without_key_and_value_is_refused_with_the_variable_named(bad: str) -> None:
    with pytest.raises(ModeError, match="TENANTHUB_CHECKPOINTER_LABELS"):
        container_selector(bad)
