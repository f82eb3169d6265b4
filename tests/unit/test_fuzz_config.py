"""Fuzz: the config loader turns anything into a valid PlatformConfig or its own
ConfigError (every issue with a key path and a message), never another exception.

Inputs: arbitrary YAML-ish data; data shaped like the schema (its real section and
field names, nested, holding arbitrary values), so examples get past "unknown key"
into each field's own rules and the cross-reference checks; and arbitrary text in a
file, through ``load_config`` (YAML parsing included)."""

from __future__ import annotations

import tempfile
import typing
from pathlib import Path
from typing import Any

import yaml
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import BaseModel

from hub.config.loader import ConfigError, load_config, parse_config
from hub.config.schema import PlatformConfig
from tests.unit.fuzzing import fuzz, json_values

GOOD = {
    "profiles": [{"name": "small", "cpu": {"limit": "1"}, "memory": {"limit": "1Gi"}}],
    "tenants": [{"name": "vision", "quota": {"servers": 2, "cpu": "4"}}],
}


def _models_in(annotation: Any) -> list[tuple[type[BaseModel], bool]]:
    """Pydantic models an annotation holds: (model, inside a list)."""
    found: list[tuple[type[BaseModel], bool]] = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(annotation, False)]
    origin = typing.get_origin(annotation)
    for arg in typing.get_args(annotation):
        inner = _models_in(arg)
        if origin in (list, tuple, set, frozenset):
            inner = [(model, True) for model, _ in inner]
        found += inner
    return found


def shaped_like(model: type[BaseModel], depth: int = 3) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts with some of ``model``'s fields (by alias), nested models shaped the same."""
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        value: st.SearchStrategy[Any] = json_values
        for inner, listed in _models_in(info.annotation)[:1]:
            if depth > 0:
                nested = shaped_like(inner, depth - 1)
                value = (st.lists(nested, max_size=3) if listed else nested) | json_values
        fields[key] = value
    return st.fixed_dictionaries({}, optional=fields) | st.builds(
        lambda d, extra: {**d, **extra},
        st.fixed_dictionaries({}, optional=fields),
        st.dictionaries(st.text(max_size=6), json_values, max_size=2),
    )


def outcome(data: Any) -> PlatformConfig | ConfigError:
    """What the loader makes of ``data``; an exception of any other type fails the test."""
    try:
        return parse_config(data)
    except ConfigError as exc:
        assert exc.issues, "a ConfigError lists at least one issue"
        for issue in exc.issues:
            assert issue.message, f"an issue without a message: {issue!r}"
        return exc


@fuzz(300)
@given(json_values)
def test_any_parsed_data_is_a_config_or_a_config_error(data: Any) -> None:
    outcome(data)


@fuzz(200, deadline_ms=None)
@given(
    shaped_like(PlatformConfig)
    # a valid file with some sections replaced: valid configs come out too
    | st.builds(lambda d: {**GOOD, **d}, shaped_like(PlatformConfig, depth=2))
)
@example(GOOD)
@example({"profiles": [{"name": "p", "cpu": {"limit": float("inf")}}]})
@example({"tenants": [{"name": "t", "quota": {"memory": float("nan")}}]})
@example({"hub": {"hub_port": []}})  # was a TypeError in the port clash check
def test_schema_shaped_data_is_a_config_or_a_config_error(data: dict[str, Any]) -> None:
    outcome(data)


yaml_text = st.one_of(
    st.text(max_size=200),
    st.builds(lambda d: yaml.safe_dump(d), shaped_like(PlatformConfig, depth=2)),
    st.builds(
        lambda d, cut: yaml.safe_dump(d)[:cut],
        shaped_like(PlatformConfig, depth=2),
        st.integers(min_value=0, max_value=200),
    ),
)


@fuzz(120, deadline_ms=None)
@given(yaml_text)
@example("tenants: [{name: a}]\ntenants: []\n")  # a key written twice
@example("profiles:\n- name: p\n  cpu: {limit: .inf}\n")
@example("a: &x [*x]\n")
@example("a: " + "[" * 3000 + "]" * 3000)  # was a RecursionError
@example("!!python/object:os.system {}\n")
def test_any_file_text_loads_or_is_a_config_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tenanthub.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            load_config(path)
        except ConfigError as exc:
            assert exc.issues and all(i.message for i in exc.issues)
