"""Is a notebook server idle long enough to checkpoint? (pure; the clock is a parameter)

Inputs are what the daemon can read without touching the container: the hub's
``last_activity`` for the user and the server (``GET /hub/api/users/<name>``),
and the server's own ``/api/status`` and ``/api/kernels`` (jupyter_server).
Checkpointing pauses the container and adds load on the node, so the rule errs
towards "not idle": anything unknown, any open connection and any kernel that
is doing something keeps the server active. A busy kernel is never idle, however
old every timestamp is (a long training run reports no activity while it
computes).

Like jupyterhub-idle-culler, the clock comes from the caller (``now``), so the
decision is a plain function over plain data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

#: Kernel states that mean the kernel is doing (or about to do) work. ``idle`` and
#: ``dead`` do not; ``unknown`` (jupyter_server before the first status message)
#: does not either, else a kernel that never reported would block forever.
BUSY_STATES = frozenset({"busy", "starting", "restarting", "autorestarting"})


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 time from the hub or jupyter_server as an aware UTC datetime.

    Both write UTC with a ``Z`` suffix (jupyter_server adds microseconds); a
    naive value is taken as UTC; anything else (None, "", garbage) is None.
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class KernelState:
    id: str
    execution_state: str
    connections: int = 0
    last_activity: datetime | None = None


@dataclass(frozen=True)
class ServerStatus:
    """What jupyter_server says about itself (``/api/status`` + ``/api/kernels``)."""

    connections: int
    kernels: int
    last_activity: datetime | None
    started: datetime | None = None
    kernel_states: tuple[KernelState, ...] = ()

    @classmethod
    def from_api(
        cls, status: Mapping[str, Any], kernels: Iterable[Mapping[str, Any]] = ()
    ) -> ServerStatus:
        """Build from the JSON bodies of ``/api/status`` and ``/api/kernels``."""
        return cls(
            connections=_count(status.get("connections")),
            kernels=_count(status.get("kernels")),
            last_activity=parse_time(status.get("last_activity")),
            started=parse_time(status.get("started")),
            kernel_states=tuple(
                KernelState(
                    id=str(k.get("id", "")),
                    execution_state=str(k.get("execution_state") or "unknown"),
                    connections=_count(k.get("connections")),
                    last_activity=parse_time(k.get("last_activity")),
                )
                for k in kernels
            ),
        )


def _count(value: object) -> int:
    # a malformed count must not read as "no connections"; treat it as one
    if isinstance(value, bool):
        return 1
    if isinstance(value, int):
        return max(value, 0)
    return 0 if value is None else 1


@dataclass(frozen=True)
class HubActivity:
    """The hub's view (``GET /hub/api/users/<name>``, the user and that one server)."""

    user_last_activity: datetime | None
    server_last_activity: datetime | None
    ready: bool = True
    pending: str | None = None

    @classmethod
    def from_api(cls, user: Mapping[str, Any], server_name: str) -> HubActivity:
        servers = user.get("servers") or {}
        server = servers.get(server_name) or {}
        return cls(
            user_last_activity=parse_time(user.get("last_activity")),
            server_last_activity=parse_time(server.get("last_activity")),
            ready=bool(server.get("ready", False)),
            pending=server.get("pending") or None,
        )


@dataclass(frozen=True)
class IdleDecision:
    idle: bool
    reason: str
    #: newest activity seen (None when nothing said anything)
    last_activity: datetime | None = None
    #: when the server becomes idle if nothing happens meanwhile (not idle yet, but quiet)
    idle_at: datetime | None = None
    busy_kernels: tuple[str, ...] = field(default=())


def decide(
    now: datetime,
    idle_after: timedelta,
    hub: HubActivity | None,
    status: ServerStatus | None,
) -> IdleDecision:
    """Idle when nothing has happened for ``idle_after`` and nothing is going on now.

    Not idle when: the server's status could not be read; the hub says the
    server is not ready or is starting/stopping; a kernel is busy (whatever the
    timestamps say); a connection is open (server-wide or to a kernel); or the
    newest activity (hub user, hub server, server, kernels) is younger than
    ``idle_after``. A timestamp in the future counts as now.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if status is None:
        return IdleDecision(False, "the server's /api/status could not be read")
    if hub is not None and hub.pending:
        return IdleDecision(False, f"the hub says the server is pending ({hub.pending})")
    if hub is not None and not hub.ready:
        return IdleDecision(False, "the hub says the server is not ready")
    busy = tuple(k.id for k in status.kernel_states if k.execution_state in BUSY_STATES)
    if busy:
        states = ", ".join(
            f"{k.id} {k.execution_state}" for k in status.kernel_states if k.id in busy
        )
        return IdleDecision(False, f"kernel busy: {states}", busy_kernels=busy)
    kernel_connections = sum(k.connections for k in status.kernel_states)
    connections = max(status.connections, kernel_connections)
    if connections:
        return IdleDecision(False, f"{connections} open connection(s) to the server")
    latest = newest(
        [
            hub.user_last_activity if hub else None,
            hub.server_last_activity if hub else None,
            status.last_activity,
            *(k.last_activity for k in status.kernel_states),
        ]
    )
    if latest is None:
        latest = status.started
    if latest is None:
        return IdleDecision(False, "no activity time known for the server yet")
    latest = min(latest, now)
    quiet = now - latest
    idle_at = latest + idle_after
    if quiet < idle_after:
        return IdleDecision(
            False,
            f"active {_seconds(quiet)} ago; idle after {_seconds(idle_after)}",
            last_activity=latest,
            idle_at=idle_at,
        )
    return IdleDecision(
        True,
        f"no activity for {_seconds(quiet)} (idle after {_seconds(idle_after)}), "
        "no busy kernel, no open connection",
        last_activity=latest,
        idle_at=idle_at,
    )


def newest(times: Sequence[datetime | None]) -> datetime | None:
    known = [t for t in times if t is not None]
    return max(known) if known else None


def _seconds(delta: timedelta) -> str:
    return f"{int(delta.total_seconds())} s"
