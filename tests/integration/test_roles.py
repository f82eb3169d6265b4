"""Roles on a real TenantHub: platform admin, tenant admin, member, and the service tokens.

BASE_CONFIG: tenant ``vision`` has alice (admin) and bob, tenant ``nlp`` has bob
and dan, carol is in no tenant, ``admin`` is a platform admin. JupyterHub only
puts a user in their tenant groups at login (or an auth refresh), so each test
logs in the users whose servers it needs.

How the tenant-admin tests were checked to fail without the protection: the
hub was run with ``hub.auth.groups.tenant_admin_role`` patched (through a
``sitecustomize`` on PYTHONPATH, nothing in the tree changed) to drop the
``!group=`` filters; alice then listed dan and stopped his server, and
``test_tenant_admin_sees_and_stops_only_their_tenants_servers`` failed.
"""

from __future__ import annotations

import stat
import subprocess
import sys
import time
from typing import Any

import pytest
import requests
from jupyterhub.scopes import define_custom_scopes, expand_scopes

from hub.app.service_tokens import SERVICES, token_path
from hub.app.traits import CUSTOM_SCOPES
from hub.tenancy import db
from hub.tenancy.membership_sync import sync_source_memberships
from hub.tenancy.store import TenantStore
from tests.integration.conftest import BASE_CONFIG, PASSWORDS
from tests.integration.hubrunner import Browser, RunningHub, write_hub

pytestmark = pytest.mark.integration

LOCAL = {**BASE_CONFIG, "backend": {"kind": "local"}}


def token_of(browser: Browser) -> str:
    """A new API token of the logged-in browser's user (inherits all of its scopes)."""
    made = browser.api("POST", f"users/{browser.user}/tokens", json={"note": "test"})
    assert made.status_code == 201, made.text
    return str(made.json()["token"])


def with_token(hub: RunningHub, token: str, method: str, path: str, **kw: Any) -> Any:
    headers = {"Authorization": f"token {token}"}
    return requests.request(method, hub.url + "hub/api/" + path, headers=headers, timeout=60, **kw)


def names(response: requests.Response) -> set[str]:
    assert response.status_code == 200, response.text
    return {user["name"] for user in response.json()}


def running(hub: RunningHub, user: str) -> dict[str, Any]:
    admin = Browser(hub, "admin")
    admin.login()
    return dict(admin.api("GET", f"users/{user}").json()["servers"])


def test_tenant_admin_sees_and_stops_only_their_tenants_servers(hub_factory):
    """alice administers vision: she lists vision's users and stops their servers, never
    dan's (nlp), with her token or her browser cookie."""
    hub = hub_factory(config=LOCAL)
    alice, bob, dan = Browser(hub, "alice"), Browser(hub, "bob"), Browser(hub, "dan")
    for browser in (alice, bob, dan):
        assert browser.login().status_code == 302
    bob.spawn({"tenant": "vision", "profile-vision": "small"})
    dan.spawn({"tenant": "nlp", "profile-nlp": "small"})
    bob.wait_ready()
    dan.wait_ready()
    token = token_of(alice)

    assert names(with_token(hub, token, "GET", "users")) == {"alice", "bob"}
    assert names(alice.api("GET", "users")) == {"alice", "bob"}
    groups = with_token(hub, token, "GET", "groups").json()
    assert [g["name"] for g in groups] == ["tenant-vision"]
    for read in (with_token(hub, token, "GET", "users/dan"), alice.api("GET", "users/dan")):
        assert read.status_code in (403, 404)

    for stop in (
        with_token(hub, token, "DELETE", "users/dan/server"),
        alice.api("DELETE", "users/dan/server"),
    ):
        assert stop.status_code in (403, 404), stop.text
    assert running(hub, "dan")[""]["ready"]
    # seeing is not starting: a tenant admin cannot start (or open) a member's server
    assert with_token(hub, token, "POST", "users/bob/servers/x").status_code in (403, 404)

    stopped = with_token(hub, token, "DELETE", "users/bob/server")
    assert stopped.status_code in (202, 204), stopped.text
    bob.wait_stopped()
    assert running(hub, "dan")[""]["ready"]

    # a plain member cannot list users at all, and sees only themself
    bob_token = token_of(bob)
    assert with_token(hub, bob_token, "GET", "users").status_code == 403
    assert with_token(hub, bob_token, "GET", "users/alice").status_code in (403, 404)
    assert with_token(hub, bob_token, "DELETE", "users/dan/server").status_code in (403, 404)


def test_platform_admin_sees_every_tenant(hub_factory):
    hub = hub_factory(config=LOCAL)
    for user in ("admin", "alice", "dan"):
        Browser(hub, user).login()
    admin = Browser(hub, "admin")
    admin.login()
    assert {"admin", "alice", "dan"} <= names(admin.api("GET", "users"))
    assert {g["name"] for g in admin.api("GET", "groups").json()} >= {
        "tenant-vision",
        "tenant-nlp",
    }


def test_tenant_admin_reaches_only_their_tenants_server_of_a_member_of_two_tenants(hub_factory):
    """bob is in vision and nlp with one server in each (nlp: his default server).
    JupyterHub filters scopes per user, so alice (admin of vision) would reach both;
    TenantHub's server handlers narrow her to bob's vision server: she neither sees
    nor stops his nlp server.

    Checked to fail without the protection: with ``TenantAuthMixin.get_handlers``
    returning only the upstream handlers, alice saw bob's nlp server and stopped it.
    """
    hub = hub_factory(config=LOCAL)
    alice, bob = Browser(hub, "alice"), Browser(hub, "bob")
    alice.login()
    bob.login()
    bob.spawn({"tenant": "nlp", "profile-nlp": "small"})
    bob.spawn({"tenant": "vision", "profile-vision": "small"}, server="vision")
    bob.wait_ready()
    bob.wait_ready("vision")
    token = token_of(alice)

    for read in (alice.api("GET", "users/bob"), with_token(hub, token, "GET", "users/bob")):
        assert set(read.json()["servers"]) == {"vision"}, read.text
        assert read.json()["server"] is None, read.text
    listed = {u["name"]: u for u in alice.api("GET", "users").json()}
    assert set(listed["bob"]["servers"]) == {"vision"}
    assert alice.api("GET", "users/bob/server").status_code == 404
    assert alice.api("GET", "users/bob/server/progress").status_code == 404

    for stop in (
        alice.api("DELETE", "users/bob/server"),
        with_token(hub, token, "DELETE", "users/bob/server"),
    ):
        assert stop.status_code == 404, stop.text
    assert running(hub, "bob")[""]["ready"]

    assert alice.api("GET", "users/bob/servers/vision").status_code == 200
    stopped = alice.api("DELETE", "users/bob/servers/vision")
    assert stopped.status_code in (202, 204), stopped.text
    bob.wait_stopped("vision")
    # bob still reaches both of his own servers, the platform admin reaches every one
    own = bob.api("GET", "users/bob?include_stopped_servers=1").json()["servers"]
    assert {"", "vision"} <= set(own)
    assert running(hub, "bob")[""]["ready"]


def test_member_cannot_start_a_server_in_a_tenant_they_are_not_in(hub_factory):
    hub = hub_factory(config=LOCAL)
    dan = Browser(hub, "dan")
    dan.login()
    api = dan.api("POST", "users/dan/server", json={"tenant": "vision"})
    assert api.status_code == 403
    assert api.json()["message"] == "You are not a member of tenant 'vision'. Your tenants: nlp."
    form = dan.spawn({"tenant": "vision", "profile-vision": "small"})
    assert form.status_code == 403
    assert "You are not a member of tenant &#39;vision&#39;" in form.text
    token = token_of(dan)
    named = with_token(hub, token, "POST", "users/dan/servers/x", json={"tenant": "vision"})
    assert named.status_code == 403
    assert "not a member of tenant 'vision'" in named.json()["message"]
    assert dan.api("GET", "users/dan").json()["servers"] == {}
    assert not (hub.data_dir / "tenants" / "vision" / "home" / "dan").exists()


def test_user_in_no_tenant_is_told_why(hub_factory):
    hub = hub_factory(config=LOCAL)
    carol = Browser(hub, "carol")
    carol.login()
    why = "You are not a member of any tenant, so you cannot start a server."
    assert why in carol.spawn_form().text
    assert why in carol.spawn({}).text
    api = carol.api("POST", "users/carol/server")
    assert api.status_code == 403
    assert api.json()["message"].startswith(why)
    assert "tenant admin to add you" in api.json()["message"]
    assert carol.api("GET", "users/carol").json()["groups"] == []


# ----------------------------------------------------------------------------- auth refresh


class RefreshingHub(RunningHub):
    """A hub started with ``--Authenticator.auth_refresh_age=SECONDS``.

    tenanthub.yaml has no setting for the refresh age of native accounts (the
    default, 300 s, is too long for a test), so this passes it on the command
    line of ``tenanthub run`` (which hands extra arguments to JupyterHub).
    """

    refresh_age = 2

    def start(self, timeout: float = 60) -> None:
        self.starts += 1
        with open(self.log_path, "ab") as handle:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "hub.cli",
                    "run",
                    str(self.config_path),
                    f"--Authenticator.auth_refresh_age={self.refresh_age}",
                ],
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            try:
                if requests.get(f"{self.url}hub/api/", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"hub did not answer within {timeout}s:\n{self.log()[-4000:]}")


@pytest.fixture
def refreshing_hub(tmp_path, db_url):
    config = {**LOCAL, "hub": {"db_url": db_url}}
    plain = write_hub(tmp_path / "refreshing", config, PASSWORDS)
    hub = RefreshingHub(plain.root, plain.config_path, plain.url, plain.passwords)
    try:
        hub.start()
        yield hub, TenantStore(db.make_engine(db_url))
    finally:
        hub.shutdown()


def wait_for(check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


def test_membership_changed_in_the_database_reaches_hub_groups_on_auth_refresh(refreshing_hub):
    """TenantStore.add_membership (what the console will call) becomes dan's JupyterHub
    group and tenant-admin role within auth_refresh_age, with no new login; removing
    it takes them away again. Checked on SQLite and PostgreSQL."""
    hub, store = refreshing_hub
    alice, dan = Browser(hub, "alice"), Browser(hub, "dan")
    alice.login()
    dan.login()
    token = token_of(dan)

    def me() -> dict[str, Any]:
        return dict(with_token(hub, token, "GET", "user").json())

    def groups() -> list[str]:
        return sorted(me()["groups"])  # JupyterHub does not order them

    assert groups() == ["tenant-nlp"]
    assert with_token(hub, token, "GET", "users").status_code == 403  # a member lists no one

    store.add_membership("vision", "dan", "admin", "manual", "test")
    time.sleep(hub.refresh_age + 0.5)
    # the first request after the refresh age refreshes (TenantAuthMixin.refresh_user)
    assert wait_for(lambda: groups() == ["tenant-nlp", "tenant-vision"])
    assert "tenant-admin-vision" in me()["roles"]
    assert names(with_token(hub, token, "GET", "users")) == {"alice", "dan"}

    sync_source_memberships(store, "dan", "manual", {}, "test")
    time.sleep(hub.refresh_age + 0.5)
    assert wait_for(lambda: groups() == ["tenant-nlp"])
    assert "tenant-admin-vision" not in me()["roles"]
    assert with_token(hub, token, "GET", "users").status_code == 403


def test_membership_reaches_hub_groups_after_a_restart_with_the_default_refresh_age(
    hub_factory,
):
    """With the default refresh age (300 s) the change arrives at the first request after
    a hub restart (a restarted hub has not refreshed anyone) or at the next login."""
    hub = hub_factory(config=LOCAL)
    dan = Browser(hub, "dan")
    dan.login()
    token = token_of(dan)
    store = TenantStore(db.make_engine(f"sqlite:///{hub.data_dir / 'tenanthub.sqlite'}"))
    store.add_membership("vision", "dan", "member", "manual", "test")
    assert with_token(hub, token, "GET", "user").json()["groups"] == ["tenant-nlp"]
    hub.restart()
    assert sorted(with_token(hub, token, "GET", "user").json()["groups"]) == [
        "tenant-nlp",
        "tenant-vision",
    ]
    sync_source_memberships(store, "dan", "manual", {}, "test")
    assert dan.login().status_code == 302
    assert with_token(hub, token, "GET", "user").json()["groups"] == ["tenant-nlp"]


# ----------------------------------------------------------------------------- service tokens


def test_service_tokens_are_private_stable_unlogged_and_least_privilege(hub_factory):
    hub = hub_factory(config=LOCAL)
    tokens = {}
    for spec in SERVICES:
        path = token_path(hub.data_dir, spec.name)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        tokens[spec.name] = path.read_text()
    assert stat.S_IMODE((hub.data_dir / "secrets").stat().st_mode) == 0o700

    define_custom_scopes(CUSTOM_SCOPES)  # as the hub does, so expand_scopes knows them

    def check_scopes() -> None:
        for spec in SERVICES:
            me = with_token(hub, tokens[spec.name], "GET", "user")
            assert me.status_code == 200, me.text
            assert me.json()["kind"] == "service" and me.json()["name"] == spec.name
            # exactly the role's scopes (with the subscopes JupyterHub implies), nothing more
            assert set(me.json()["scopes"]) == expand_scopes(set(spec.scopes)), spec.name

    check_scopes()
    hub.restart()
    for spec in SERVICES:
        assert token_path(hub.data_dir, spec.name).read_text() == tokens[spec.name]
    check_scopes()

    # what the scopes mean in practice
    dan = Browser(hub, "dan")
    dan.login()
    dan.spawn({"tenant": "nlp", "profile-nlp": "small"})
    dan.wait_ready()
    platform, ckpt = (tokens[s.name] for s in SERVICES)
    assert "dan" in names(with_token(hub, platform, "GET", "users"))
    assert with_token(hub, ckpt, "GET", "users").status_code == 403
    dan_by_ckpt = with_token(hub, ckpt, "GET", "users/dan").json()
    assert dan_by_ckpt["servers"][""]["ready"] and dan_by_ckpt["last_activity"]
    assert "groups" not in dan_by_ckpt
    assert with_token(hub, ckpt, "DELETE", "users/dan/server").status_code == 403
    for token in tokens.values():
        assert with_token(hub, token, "PATCH", "users/dan", json={"admin": True}).status_code == 403
        assert with_token(hub, token, "POST", "users/dan/tokens", json={}).status_code == 403
    assert with_token(hub, platform, "DELETE", "users/dan/server").status_code in (202, 204)
    dan.wait_stopped()

    log = hub.log()
    assert "tenanthub-checkpointer" in log  # the services are there...
    for token in tokens.values():
        assert token not in log  # ...their tokens are not
        assert token[:16] not in log
