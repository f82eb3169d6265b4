"""Shared settings of the fuzz tests (``test_fuzz_*.py``): bounded and reproducible.

``derandomize=True`` draws the same examples on every run (the seed comes from the
test's own source), and no example database is kept, so CI and a laptop fuzz alike
and a failure found once is found again. Each test's ``max_examples`` keeps the whole
fuzz set well under a minute on two cores; raise ``TENANTHUB_FUZZ_EXAMPLES`` (a
multiplier) for a longer local run.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

SCALE = float(os.environ.get("TENANTHUB_FUZZ_EXAMPLES", "1"))


def fuzz(examples: int, deadline_ms: int | None = 2000) -> settings:
    return settings(
        max_examples=max(1, int(examples * SCALE)),
        deadline=deadline_ms,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


#: JSON values: what a request body or a YAML file can hold after parsing
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
)
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def shaped(keys: list[str], value: st.SearchStrategy[Any] = json_values) -> st.SearchStrategy[Any]:
    """Objects with (some of) a model's own keys, each holding any JSON value, plus now
    and then an unknown key: past the "unknown field" check, into each field's rules."""
    return st.fixed_dictionaries({}, optional={k: value for k in keys}) | st.dictionaries(
        st.sampled_from(keys) | st.text(max_size=8), value, max_size=6
    )
