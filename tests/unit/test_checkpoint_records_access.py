"""Who may touch checkpoint records (pure policy): the checkpointer by its scope, each user
their own; tenant admins and other services nobody's."""

from __future__ import annotations

import pytest

from hub.service.policy import CHECKPOINTS_SCOPE, Actor, Decision, Permission, decide

DAEMON = Actor(
    "service:tenanthub-checkpointer", scopes=frozenset({CHECKPOINTS_SCOPE}), service=True
)
JOBS = Actor("service:tenanthub-jobs", service=True)
BOB = Actor("bob", roles={"vision": "member"})
ALICE = Actor("alice", roles={"vision": "admin"})  # bob's tenant admin
ADMIN = Actor("admin", platform_admin=True)
#: a service whose name would read like a user's: still nobody's self
IMPOSTOR = Actor("bob", service=True)

OWN = (Permission.OWN_CHECKPOINTS_READ, Permission.OWN_CHECKPOINTS_DELETE)
DAEMON_ONLY = (Permission.CHECKPOINTS_REPORT, Permission.CHECKPOINTS_READ_ALL)


@pytest.mark.parametrize("permission", OWN)
def test_a_users_checkpoints_are_theirs_and_the_platform_admins(permission) -> None:
    assert decide(BOB, permission, username="bob") is Decision.ALLOW
    assert decide(ADMIN, permission, username="bob") is Decision.ALLOW
    for actor in (ALICE, DAEMON, JOBS, IMPOSTOR):
        assert decide(actor, permission, username="bob") is Decision.FORBIDDEN, actor
    assert decide(BOB, permission, username="alice") is Decision.FORBIDDEN
    assert decide(BOB, permission) is Decision.FORBIDDEN  # no user in the path: nobody's


@pytest.mark.parametrize("permission", DAEMON_ONLY)
def test_only_the_checkpoint_scope_reports_checkpoints(permission) -> None:
    assert decide(DAEMON, permission) is Decision.ALLOW
    assert decide(ADMIN, permission) is Decision.ALLOW
    for actor in (BOB, ALICE, JOBS):
        assert decide(actor, permission) is Decision.FORBIDDEN
    # the scope is what counts, not a user name or a tenant role
    assert decide(Actor("x", scopes=frozenset({"custom:tenanthub:admin"})), permission) is (
        Decision.FORBIDDEN
    )


def test_the_checkpoint_scope_opens_no_tenant_route() -> None:
    assert decide(DAEMON, Permission.TENANT_READ, "vision") is Decision.NOT_FOUND
    assert decide(DAEMON, Permission.SERVERS_STOP, "vision") is Decision.NOT_FOUND
    assert decide(DAEMON, Permission.PLATFORM_AUDIT_READ) is Decision.FORBIDDEN
