"""The idle rule over plain data: hub activity + jupyter_server's status and kernels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from checkpointer.idle import HubActivity, ServerStatus, decide, parse_time

NOW = datetime(2025, 3, 4, 12, 0, 0, tzinfo=UTC)
IDLE_AFTER = timedelta(minutes=30)
LONG_AGO = "2025-03-04T10:00:00.000000Z"  # two hours before NOW


def iso(delta: timedelta) -> str:
    return (NOW - delta).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def status(
    *, connections: int = 0, last_activity: str = LONG_AGO, kernels: list[dict] | None = None
) -> ServerStatus:
    kernels = kernels or []
    body = {
        "connections": connections,
        "kernels": len(kernels),
        "last_activity": last_activity,
        "started": "2025-03-04T08:00:00.000000Z",
    }
    return ServerStatus.from_api(body, kernels)


def kernel(state: str = "idle", connections: int = 0, last_activity: str = LONG_AGO) -> dict:
    return {
        "id": f"k-{state}",
        "name": "python3",
        "last_activity": last_activity,
        "execution_state": state,
        "connections": connections,
    }


def hub(user: str | None = LONG_AGO, server: str | None = LONG_AGO, **kw: object) -> HubActivity:
    body = {
        "name": "alice",
        "last_activity": user,
        "servers": {"": {"name": "", "last_activity": server, "ready": True, "pending": None}},
    }
    body["servers"][""].update(kw)  # type: ignore[index]
    return HubActivity.from_api(body, "")


def test_quiet_server_past_idle_after_is_idle() -> None:
    decision = decide(NOW, IDLE_AFTER, hub(), status(kernels=[kernel("idle")]))
    assert decision.idle
    assert "no activity for 7200 s" in decision.reason
    assert decision.last_activity == datetime(2025, 3, 4, 10, tzinfo=UTC)


@pytest.mark.parametrize("state", ["busy", "starting", "restarting", "autorestarting"])
def test_a_busy_kernel_is_never_idle_however_old_the_activity(state: str) -> None:
    ancient = "2000-01-01T00:00:00Z"
    decision = decide(
        NOW,
        IDLE_AFTER,
        hub(user=ancient, server=ancient),
        status(
            last_activity=ancient, kernels=[kernel("idle"), kernel(state, last_activity=ancient)]
        ),
    )
    assert not decision.idle
    assert decision.busy_kernels == (f"k-{state}",)
    assert state in decision.reason


@pytest.mark.parametrize("state", ["idle", "dead", "unknown"])
def test_kernels_that_are_not_working_do_not_block(state: str) -> None:
    assert decide(NOW, IDLE_AFTER, hub(), status(kernels=[kernel(state)])).idle


def test_an_open_connection_keeps_it_active() -> None:
    decision = decide(NOW, IDLE_AFTER, hub(), status(connections=1))
    assert not decision.idle and "1 open connection" in decision.reason


def test_a_connection_to_a_kernel_keeps_it_active() -> None:
    decision = decide(NOW, IDLE_AFTER, hub(), status(kernels=[kernel("idle", connections=2)]))
    assert not decision.idle and "2 open connection" in decision.reason


@pytest.mark.parametrize(
    "where", ["hub_user", "hub_server", "server", "kernel"], ids=lambda w: f"recent-{w}"
)
def test_recent_activity_anywhere_keeps_it_active(where: str) -> None:
    recent = iso(timedelta(minutes=5))
    h = hub(
        user=recent if where == "hub_user" else LONG_AGO,
        server=recent if where == "hub_server" else LONG_AGO,
    )
    s = status(
        last_activity=recent if where == "server" else LONG_AGO,
        kernels=[kernel("idle", last_activity=recent if where == "kernel" else LONG_AGO)],
    )
    decision = decide(NOW, IDLE_AFTER, h, s)
    assert not decision.idle
    assert decision.reason == "active 300 s ago; idle after 1800 s"
    assert decision.idle_at == NOW + timedelta(minutes=25)


def test_the_boundary_is_inclusive() -> None:
    exactly = iso(IDLE_AFTER)
    assert decide(NOW, IDLE_AFTER, hub(exactly, exactly), status(last_activity=exactly)).idle
    just_not = iso(IDLE_AFTER - timedelta(seconds=1))
    assert not decide(NOW, IDLE_AFTER, hub(just_not, just_not), status(last_activity=exactly)).idle


def test_the_clock_decides_not_the_wall_clock() -> None:
    recent = iso(timedelta(minutes=5))
    s = status(last_activity=recent)
    h = hub(recent, recent)
    assert not decide(NOW, IDLE_AFTER, h, s).idle
    assert decide(NOW + timedelta(minutes=25), IDLE_AFTER, h, s).idle


def test_unreadable_status_is_not_idle() -> None:
    decision = decide(NOW, IDLE_AFTER, hub(), None)
    assert not decision.idle and "/api/status" in decision.reason


def test_pending_or_not_ready_server_is_not_idle() -> None:
    assert "pending (stop)" in decide(NOW, IDLE_AFTER, hub(pending="stop"), status()).reason
    assert not decide(NOW, IDLE_AFTER, hub(ready=False), status()).idle


def test_future_timestamps_count_as_now() -> None:
    future = "2030-01-01T00:00:00Z"
    decision = decide(NOW, IDLE_AFTER, hub(future, future), status())
    assert not decision.idle and decision.last_activity == NOW


def test_without_any_activity_the_start_time_counts() -> None:
    body = {"connections": 0, "kernels": 0, "last_activity": None, "started": iso(timedelta(0))}
    s = ServerStatus.from_api(body, [])
    assert not decide(NOW, IDLE_AFTER, hub(None, None), s).idle
    s_old = ServerStatus.from_api({**body, "started": LONG_AGO}, [])
    assert decide(NOW, IDLE_AFTER, hub(None, None), s_old).idle
    nothing = ServerStatus.from_api({"connections": 0}, [])
    decision = decide(NOW, IDLE_AFTER, None, nothing)
    assert not decision.idle and "no activity time" in decision.reason


def test_malformed_counts_read_as_connected_not_as_zero() -> None:
    s = ServerStatus.from_api({"connections": "lots", "last_activity": LONG_AGO}, [])
    assert not decide(NOW, IDLE_AFTER, hub(), s).idle


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(NOW.replace(tzinfo=None), IDLE_AFTER, hub(), status())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-03-04T10:00:00.123456Z", datetime(2025, 3, 4, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2025-03-04T10:00:00Z", datetime(2025, 3, 4, 10, tzinfo=UTC)),
        ("2025-03-04T11:00:00+01:00", datetime(2025, 3, 4, 10, tzinfo=UTC)),
        ("2025-03-04T10:00:00", datetime(2025, 3, 4, 10, tzinfo=UTC)),
        (None, None),
        ("", None),
        ("yesterday", None),
        (12, None),
    ],
)
def test_parse_time(text: object, expected: datetime | None) -> None:
    assert parse_time(text) == expected
