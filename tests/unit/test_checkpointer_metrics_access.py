"""checkpointer.metrics_access: the decision is pure; the cache means one hub call a
minute per token (the hub call itself is exercised against a real hub in
tests/integration/test_monitoring.py)."""

from __future__ import annotations

import asyncio

from checkpointer.metrics_access import REMEMBER_SECONDS, MetricsAccess
from hub.metrics_auth import METRICS_SCOPE, bearer, problem


def test_bearer_takes_token_or_bearer_schemes_only() -> None:
    assert bearer("token abc") == "abc"
    assert bearer("Bearer abc ") == "abc"
    assert bearer("Basic abc") is None
    assert bearer("token ") is None
    assert bearer(None) is None


def test_problem_names_the_scope() -> None:
    assert problem(None, None) is not None and problem(None, None)[0] == 401  # type: ignore[index]
    assert problem("t", None) == (403, f"Access to metrics requires scope '{METRICS_SCOPE}'.")
    assert problem("t", frozenset({"read:users"})) is not None
    assert problem("t", frozenset({METRICS_SCOPE})) is None


class Hub:
    """Scopes per token, counting the lookups (what the hub would answer)."""

    def __init__(self, scopes: dict[str, frozenset[str]], down: bool = False) -> None:
        self.scopes, self.down, self.calls = scopes, down, 0

    async def __call__(self, token: str) -> frozenset[str] | None:
        self.calls += 1
        if self.down:
            raise ConnectionError("no answer")
        return self.scopes.get(token)


def test_an_accepted_token_is_remembered_for_a_minute_a_refused_one_never() -> None:
    hub = Hub({"good": frozenset({METRICS_SCOPE}), "plain": frozenset()})
    now = [1000.0]
    access = MetricsAccess(hub, clock=lambda: now[0])
    check = access.check
    assert asyncio.run(check("token good")) is None
    assert asyncio.run(check("token good")) is None
    assert hub.calls == 1
    now[0] += REMEMBER_SECONDS + 1  # a revoked token stops working within a minute
    hub.scopes["good"] = frozenset()
    assert asyncio.run(check("token good")) == problem("good", frozenset())
    for _ in range(3):
        assert asyncio.run(check("token plain"))[0] == 403  # type: ignore[index]
    assert hub.calls == 5
    assert asyncio.run(check(None))[0] == 401  # type: ignore[index]
    assert hub.calls == 5  # no token: no hub call


def test_a_hub_that_does_not_answer_is_a_503_not_an_open_door() -> None:
    access = MetricsAccess(Hub({}, down=True))
    status, message = asyncio.run(access.check("token any"))  # type: ignore[misc]
    assert status == 503 and "hub does not answer" in message
