"""Every API route x every role, against a hand-written allow/deny table.

The table below is written from the API contract (who may do what), NOT derived
from ``hub.service.policy``: deriving it would only test the policy against
itself. A route in ``ROUTES`` without a row fails the test, and so does a row
whose route is gone, so adding a route means deciding here who may call it.

Roles: anonymous, a member of tenant A only, a member of tenant B only, the
tenant admin of A, a platform admin, and the checkpointer service (its own token,
read from the hub's secrets folder). Every call targets tenant A (vision)
and is sent over HTTP to one real hub + service. Write calls are shaped so that
an allowed call is recognisable without destroying what the other calls need:
a 2xx, or a 4xx about the object or body (409 exists, 404 no such member, 422
invalid body) -- never 401/403 or the policy's "not yours" 404, which is what a
denied call gets. Nothing may answer 5xx.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from hub.app.service_tokens import CHECKPOINTER, token_path
from hub.service.api.framework import not_yours
from hub.service.api.routes import ROUTES
from tests.conftest import need
from tests.integration.conftest import BASE_CONFIG, PASSWORDS, PROXY_MISSING
from tests.integration.hubrunner import Browser, RunningHub, write_hub

pytestmark = pytest.mark.integration

ANON, MEMBER_A, MEMBER_B, ADMIN_A, PLATFORM, CKPT = (
    "anonymous",
    "member of A",
    "member of B",
    "tenant admin of A",
    "platform admin",
    "checkpointer service",
)
ROLES = (ANON, MEMBER_A, MEMBER_B, ADMIN_A, PLATFORM, CKPT)
#: who plays each role: erin is only in vision (A), dan only in nlp (B), alice admins vision
USERS = {MEMBER_A: "erin", MEMBER_B: "dan", ADMIN_A: "alice", PLATFORM: "admin"}
TENANT_A, TENANT_B = "vision", "nlp"
NOBODY = "nobody-here"  # a user in no tenant: member/server targets that do not exist
NO_CHECKPOINT = "999999"  # a checkpoint, job or run id that does not exist

CONFIG: dict[str, Any] = {
    **BASE_CONFIG,
    "backend": {"kind": "local"},
    "tenants": [
        {
            **BASE_CONFIG["tenants"][0],
            "members": [*BASE_CONFIG["tenants"][0]["members"], {"user": "erin"}],
        },
        BASE_CONFIG["tenants"][1],
    ],
}


@dataclass(frozen=True)
class Row:
    """Who may call a route, and the request that probes it.

    ``allow``: the roles that get through. ``body``/``query``/``username``: what is
    sent; chosen so an allowed call changes nothing the other probes rely on.
    """

    allow: frozenset[str]
    body: Any = None
    query: dict[str, str] = field(default_factory=dict)
    username: str = NOBODY


#: the checkpointer's token reaches the service, so it is signed in: /me names it and
#: /tenants lists none (it is in no tenant)
SIGNED_IN = frozenset({MEMBER_A, MEMBER_B, ADMIN_A, PLATFORM, CKPT})
MEMBERS_OF_A = frozenset({MEMBER_A, ADMIN_A, PLATFORM})
ADMINS_OF_A = frozenset({ADMIN_A, PLATFORM})
PLATFORM_ONLY = frozenset({PLATFORM})
CHECKPOINTER_ONLY = frozenset({CKPT, PLATFORM})
ERIN_ONLY = frozenset({MEMBER_A, PLATFORM})  # erin's own; her tenant's admin is not allowed

#: THE TABLE: (method, path) -> who may. Written from the contract: members read their
#: tenant, its quota, profiles and usage; tenant admins also its members, servers and
#: audit; platform admins everything, and alone create/update/delete tenants and set
#: quotas and profiles.
TABLE: dict[tuple[str, str], Row] = {
    ("GET", "/me"): Row(SIGNED_IN),
    ("GET", "/tenants"): Row(SIGNED_IN),
    # an existing name: an allowed call is a 409, nothing is created
    ("POST", "/tenants"): Row(PLATFORM_ONLY, body={"name": TENANT_A}),
    ("GET", "/tenants/{tenant}"): Row(MEMBERS_OF_A),
    # the display name it already has: an allowed call is a 200 that changes nothing
    ("PATCH", "/tenants/{tenant}"): Row(PLATFORM_ONLY, body={"display_name": "Computer Vision"}),
    # an unknown field: an allowed call is a 422, the tenant stays
    ("DELETE", "/tenants/{tenant}"): Row(
        PLATFORM_ONLY, body={"confirm": TENANT_A, "probe": "not a field"}
    ),
    ("GET", "/tenants/{tenant}/members"): Row(ADMINS_OF_A),
    # a role that does not exist: an allowed call is a 422
    ("POST", "/tenants/{tenant}/members"): Row(ADMINS_OF_A, body={"user": NOBODY, "role": "owner"}),
    # a user who is not a member: an allowed call is a 404 about that member
    ("PATCH", "/tenants/{tenant}/members/{username}"): Row(ADMINS_OF_A, body={"role": "member"}),
    ("DELETE", "/tenants/{tenant}/members/{username}"): Row(ADMINS_OF_A),
    ("GET", "/tenants/{tenant}/quota"): Row(MEMBERS_OF_A),
    # a negative CPU quota: an allowed call is a 422, the quota stays
    ("PUT", "/tenants/{tenant}/quota"): Row(PLATFORM_ONLY, body={"cpu": "-1"}),
    ("GET", "/tenants/{tenant}/profiles"): Row(MEMBERS_OF_A),
    # not a profile name: an allowed call is a 422
    ("PUT", "/tenants/{tenant}/profiles"): Row(
        PLATFORM_ONLY, body={"allowed_profiles": ["Not_A_Name"]}
    ),
    ("GET", "/tenants/{tenant}/usage"): Row(MEMBERS_OF_A),
    ("GET", "/tenants/{tenant}/usage/history"): Row(MEMBERS_OF_A, query={"window": "24h"}),
    ("GET", "/usage"): Row(PLATFORM_ONLY),
    ("GET", "/tenants/{tenant}/servers"): Row(ADMINS_OF_A),
    # a user with no server: an allowed call is a 404 about that server (or a 2xx no-op)
    ("DELETE", "/tenants/{tenant}/servers/{username}"): Row(ADMINS_OF_A),
    ("GET", "/tenants/{tenant}/audit"): Row(ADMINS_OF_A),
    ("GET", "/audit"): Row(PLATFORM_ONLY),
    # checkpoints: the checkpointer reports them; each user alone sees and deletes theirs.
    # fields missing: an allowed call is a 422, nothing is created
    ("POST", "/checkpoints"): Row(CHECKPOINTER_ONLY, body={"user": NOBODY}),
    # no such checkpoint: an allowed call is a 404 about it
    ("PATCH", "/checkpoints/{checkpoint}"): Row(CHECKPOINTER_ONLY, body={"state": "committing"}),
    ("GET", "/checkpoints"): Row(CHECKPOINTER_ONLY),
    ("GET", "/users/{username}/checkpoints"): Row(ERIN_ONLY, username="erin"),
    # no such checkpoint of erin's: an allowed call is a 404 about it
    ("DELETE", "/users/{username}/checkpoints/{checkpoint}"): Row(ERIN_ONLY, username="erin"),
    # jobs: members of the tenant submit and see their own (admins: everyone's)
    # fields missing: an allowed call is a 422, nothing is queued
    ("POST", "/tenants/{tenant}/jobs"): Row(MEMBERS_OF_A, body={"name": "probe"}),
    ("GET", "/tenants/{tenant}/jobs"): Row(MEMBERS_OF_A),
    # no such job or run: an allowed call is a 404 about it
    ("GET", "/tenants/{tenant}/jobs/{job}"): Row(MEMBERS_OF_A),
    ("DELETE", "/tenants/{tenant}/jobs/{job}"): Row(MEMBERS_OF_A),
    # no such job: an allowed call is a 404 about it (pausing: the owner and admins, as cancel)
    ("PATCH", "/tenants/{tenant}/jobs/{job}"): Row(MEMBERS_OF_A, body={"paused": True}),
    ("POST", "/tenants/{tenant}/jobs/{job}/runs"): Row(MEMBERS_OF_A),
    ("GET", "/tenants/{tenant}/jobs/{job}/runs"): Row(MEMBERS_OF_A),
    ("GET", "/tenants/{tenant}/runs"): Row(MEMBERS_OF_A),
    ("GET", "/tenants/{tenant}/runs/{run}"): Row(MEMBERS_OF_A),
    ("POST", "/tenants/{tenant}/runs/{run}/cancel"): Row(MEMBERS_OF_A),
    ("GET", "/tenants/{tenant}/runs/{run}/log"): Row(MEMBERS_OF_A),
    ("GET", "/tenants/{tenant}/runs/{run}/output"): Row(MEMBERS_OF_A),
    # data sources: members browse and read, the tenant's admins register and change them
    ("GET", "/tenants/{tenant}/datasets"): Row(MEMBERS_OF_A),
    # a kind that does not exist: an allowed call is a 422, nothing is stored
    ("POST", "/tenants/{tenant}/datasets"): Row(
        ADMINS_OF_A, body={"name": "probe", "kind": "ftp", "settings": {}}
    ),
    # no such source: an allowed call is a 404 about it
    ("GET", "/tenants/{tenant}/datasets/{source}"): Row(MEMBERS_OF_A),
    ("PATCH", "/tenants/{tenant}/datasets/{source}"): Row(ADMINS_OF_A, body={}),
    ("DELETE", "/tenants/{tenant}/datasets/{source}"): Row(ADMINS_OF_A),
    ("GET", "/tenants/{tenant}/datasets/{source}/test"): Row(MEMBERS_OF_A),
    ("GET", "/tenants/{tenant}/datasets/{source}/list"): Row(MEMBERS_OF_A),
    ("GET", "/tenants/{tenant}/datasets/{source}/sample"): Row(MEMBERS_OF_A, query={"path": "a"}),
    ("GET", "/tenants/{tenant}/datasets/{source}/schema"): Row(MEMBERS_OF_A, query={"path": "a"}),
    ("GET", "/tenants/{tenant}/datasets/{source}/read"): Row(MEMBERS_OF_A, query={"path": "a"}),
}

ALLOWED_ERRORS = {404, 409, 422}  # about the object or the body, after the policy let it in


def api_url(hub: RunningHub, path: str) -> str:
    return hub.url + "services/tenanthub/api/v1/" + path.lstrip("/")


def token_of(browser: Browser) -> str:
    made = browser.api("POST", f"users/{browser.user}/tokens", json={"note": "access test"})
    assert made.status_code == 201, made.text
    return str(made.json()["token"])


@dataclass
class Hub:
    hub: RunningHub
    tokens: dict[str, str | None]


@pytest.fixture(scope="module")
def access_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """One hub for the whole module, with one API token per role."""
    if PROXY_MISSING:
        need(PROXY_MISSING)
    passwords = {**PASSWORDS, "erin": "erin-password-1"}
    hub = write_hub(tmp_path_factory.mktemp("access"), CONFIG, passwords)
    try:
        hub.start()
        hub.wait_for_service()
        tokens: dict[str, str | None] = {ANON: None}
        for role, user in USERS.items():
            browser = Browser(hub, user)
            assert browser.login().status_code == 302, f"{user} could not log in"
            tokens[role] = token_of(browser)
        tokens[CKPT] = token_path(hub.data_dir, CHECKPOINTER.name).read_text()
        yield Hub(hub, tokens)
    finally:
        hub.shutdown()


def send(hub: Hub, role: str, method: str, path: str, row: Row, tenant: str) -> requests.Response:
    url_path = (
        path.replace("{tenant}", tenant)
        .replace("{username}", row.username)
        .replace("{checkpoint}", NO_CHECKPOINT)
        .replace("{job}", NO_CHECKPOINT)
        .replace("{run}", NO_CHECKPOINT)
        .replace("{source}", "no-such-source")
    )
    token = hub.tokens[role]
    headers = {"Authorization": f"token {token}"} if token else {}
    return requests.request(
        method,
        api_url(hub.hub, url_path),
        headers=headers,
        params=row.query,
        json=row.body,
        timeout=30,
    )


def verdict(response: requests.Response, tenant: str) -> str:
    """'allowed' or 'denied', as the caller can tell from the answer alone."""
    status = response.status_code
    assert status < 500, f"server error {status}: {response.text[:500]}"
    if status in (401, 403):
        return "denied"
    message = response.json().get("message") if response.content else None
    if status == 404 and message == not_yours(tenant):
        return "denied"
    assert 200 <= status < 300 or status in ALLOWED_ERRORS, (
        f"neither allowed nor denied: {status} {response.text[:500]}"
    )
    return "allowed"


def route_keys() -> set[tuple[str, str]]:
    return {(r.method, r.path) for r in ROUTES}


def test_every_route_has_a_row_and_every_row_a_route():
    missing = sorted(route_keys() - TABLE.keys())
    stale = sorted(TABLE.keys() - route_keys())
    assert not missing, (
        f"routes without a row in TABLE of {__file__}: {missing}; add one saying which roles "
        "may call the route and what request probes it"
    )
    assert not stale, f"rows in TABLE for routes that no longer exist: {stale}; remove them"


CASES = [(key, role) for key in sorted(TABLE) for role in ROLES]


@pytest.mark.parametrize(("key", "role"), CASES, ids=[f"{m} {p} as {r}" for (m, p), r in CASES])
def test_route_answers_role_as_the_table_says(access_hub: Hub, key: tuple[str, str], role: str):
    if key not in route_keys():
        pytest.fail(f"{key[0]} {key[1]} has a row but no route (see the test above)")
    method, path = key
    row = TABLE[key]
    response = send(access_hub, role, method, path, row, TENANT_A)
    expected = "allowed" if role in row.allow else "denied"
    got = verdict(response, TENANT_A)
    assert got == expected, (
        f"{method} {path} as {role}: expected {expected}, got {response.status_code} "
        f"{response.text[:300]}"
    )
    if role == ANON:
        assert response.status_code == 401, response.text


TENANT_ROUTES = sorted(k for k in TABLE if "{tenant}" in k[1])
GHOST = "no-such-tenant"


@pytest.mark.parametrize(
    ("method", "path"), TENANT_ROUTES, ids=[f"{m} {p}" for m, p in TENANT_ROUTES]
)
def test_tenant_admin_of_a_is_denied_every_route_of_tenant_b(
    access_hub: Hub, method: str, path: str
):
    """A's admin is nobody in B: every B route is denied, with the very answer a tenant
    that does not exist gets (so the answer does not tell whether B exists)."""
    if (method, path) not in route_keys():
        pytest.fail(f"{method} {path} has a row but no route")
    row = TABLE[(method, path)]
    response = send(access_hub, ADMIN_A, method, path, row, TENANT_B)
    assert verdict(response, TENANT_B) == "denied", response.text
    ghost = send(access_hub, ADMIN_A, method, path, row, GHOST)
    assert ghost.status_code == response.status_code
    assert ghost.json()["message"].replace(GHOST, TENANT_B) == response.json()["message"]


def test_the_probes_left_the_fixtures_as_they_were(access_hub: Hub):
    """Runs last: the write probes above changed no tenant, membership or quota."""
    token = access_hub.tokens[PLATFORM]
    headers = {"Authorization": f"token {token}"}
    listed = requests.get(api_url(access_hub.hub, "tenants"), headers=headers, timeout=30).json()
    by_name = {t["name"]: t for t in listed["items"]}
    assert sorted(by_name) == [TENANT_B, TENANT_A]
    assert by_name[TENANT_A]["members"] == 3
    assert by_name[TENANT_A]["display_name"] == "Computer Vision"
    assert by_name[TENANT_A]["quota"]["cpu"] == "4"
    assert by_name[TENANT_A]["allowed_profiles"] is None


def test_openapi_document_is_public(access_hub: Hub):
    response = requests.get(api_url(access_hub.hub, "openapi.json"), timeout=30)
    assert response.status_code == 200
    documented = {
        (method.upper(), path) for path, item in response.json()["paths"].items() for method in item
    }
    assert documented == route_keys()


#: the service's routes outside the API (monitoring): who may, written from the contract.
#: /metrics: a token with read:metrics (the platform admin's role has it; the default
#: service.authenticate_metrics); health: anyone, no token (probes send none).
EVERYONE = frozenset(ROLES)
MONITORING: dict[str, frozenset[str]] = {
    "metrics": PLATFORM_ONLY,
    "health/live": EVERYONE,
    "health/ready": EVERYONE,
}
MONITORING_CASES = [(path, role) for path in sorted(MONITORING) for role in ROLES]


@pytest.mark.parametrize(
    ("path", "role"), MONITORING_CASES, ids=[f"GET /{p} as {r}" for p, r in MONITORING_CASES]
)
def test_monitoring_route_answers_role_as_the_table_says(access_hub: Hub, path: str, role: str):
    token = access_hub.tokens[role]
    headers = {"Authorization": f"token {token}"} if token else {}
    response = requests.get(
        access_hub.hub.url + "services/tenanthub/" + path, headers=headers, timeout=30
    )
    if role in MONITORING[path]:
        assert response.status_code == 200, response.text[:300]
    else:
        assert response.status_code == (401 if role == ANON else 403), response.text[:300]
        assert "tenanthub_" not in response.text
