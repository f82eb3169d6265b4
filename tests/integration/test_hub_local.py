"""The platform end to end on the local backend: real hub, real proxy, real servers."""

from __future__ import annotations

import time

import pytest

from tests.integration.hubrunner import Browser

pytestmark = pytest.mark.integration


def test_member_logs_in_spawns_reaches_server_and_files_persist(hub_factory, db_url):
    """Login through the proxy, spawn, /api/status via the proxy, write, stop, start, read."""
    hub = hub_factory(db_url=db_url)
    alice = Browser(hub, "alice")
    assert alice.login().status_code == 302

    form = alice.spawn_form()
    assert form.status_code == 200
    assert 'name="tenant" value="vision"' in form.text  # only tenant: fixed, not a choice
    assert "profile-vision" in form.text and "Big" in form.text

    alice.spawn({"tenant": "vision", "profile-vision": "small"})
    alice.wait_ready()
    assert alice.open_lab().status_code == 200
    status = alice.server_api("GET", "status")
    assert status.status_code == 200, status.text
    assert {"started", "last_activity", "kernels"} <= set(status.json())

    put = alice.server_api(
        "PUT",
        "contents/persist.txt",
        json={"type": "file", "format": "text", "content": "kept across restarts"},
    )
    assert put.status_code in (200, 201), put.text
    home = hub.data_dir / "tenants" / "vision" / "home" / "alice"
    assert (home / "persist.txt").read_text() == "kept across restarts"
    assert (home / "shared").resolve() == (hub.data_dir / "tenants" / "vision" / "shared").resolve()

    assert alice.api("DELETE", "users/alice/server").status_code in (202, 204)
    alice.wait_stopped()
    assert alice.server_api("GET", "status").status_code != 200

    alice.spawn({"tenant": "vision", "profile-vision": "small"})
    alice.wait_ready()
    alice.open_lab()
    again = alice.server_api("GET", "contents/persist.txt")
    assert again.status_code == 200
    assert again.json()["content"] == "kept across restarts"
    assert alice.api("DELETE", "users/alice/server").status_code in (202, 204)
    alice.wait_stopped()


def test_quota_precheck_names_the_quota_and_creates_nothing(hub_factory, db_url):
    hub = hub_factory(db_url=db_url)
    bob, dan = Browser(hub, "bob"), Browser(hub, "dan")
    bob.login()
    dan.login()
    # bob is in two tenants: the form asks which one
    assert 'id="tenanthub-tenant"' in bob.spawn_form().text
    bob.spawn({"tenant": "nlp", "profile-nlp": "small"}, server="nlp")
    bob.wait_ready("nlp")

    refused = dan.spawn({"tenant": "nlp", "profile-nlp": "small"})
    assert refused.status_code == 403
    assert "over quota" in refused.text
    assert "servers: 1 of 1 in use" in refused.text
    assert not (hub.data_dir / "tenants" / "nlp" / "home" / "dan").exists()
    assert dan.api("GET", "users/dan").json()["servers"] == {}

    # the REST API gets the same refusal as JSON
    api = dan.api("POST", "users/dan/server", json={"tenant": "nlp", "profile": "small"})
    assert api.status_code == 403
    assert "servers: 1 of 1 in use" in api.json()["message"]

    # CPU: alice takes all 4 CPU of vision with "big"; bob's 1-CPU server does not fit
    alice = Browser(hub, "alice")
    alice.login()
    alice.spawn({"tenant": "vision", "profile-vision": "big"})
    alice.wait_ready()
    cpu = bob.spawn({"tenant": "vision", "profile-vision": "small"}, server="vision")
    assert cpu.status_code == 403
    assert "cpu: 4 CPU of 4 CPU in use, this needs 1 CPU more" in cpu.text

    # freeing the quota lets the next spawn through
    bob.api("DELETE", "users/bob/servers/nlp")
    bob.wait_stopped("nlp")
    dan.spawn({"tenant": "nlp", "profile-nlp": "small"})
    dan.wait_ready()


def test_user_in_no_tenant_is_told_why_and_cannot_spawn(hub_factory):
    hub = hub_factory()
    carol = Browser(hub, "carol")
    carol.login()
    form = carol.spawn_form()
    assert "not a member of any tenant" in form.text
    refused = carol.spawn({})
    assert refused.status_code == 403
    assert "not a member of any tenant" in refused.text
    api = carol.api("POST", "users/carol/server", json={})
    assert api.status_code == 403
    assert "not a member of any tenant" in api.json()["message"]
    assert carol.api("GET", "users/carol").json()["servers"] == {}


def test_bad_spawn_requests_get_clear_errors(hub_factory):
    hub = hub_factory()
    bob = Browser(hub, "bob")
    bob.login()
    outsider = bob.api("POST", "users/bob/servers/x", json={"tenant": "vision", "profile": "gpu"})
    assert outsider.status_code == 403
    assert "'gpu' is not available in tenant 'vision'" in outsider.json()["message"]
    not_member = bob.api("POST", "users/bob/server", json={"tenant": "secret"})
    assert not_member.status_code == 403
    assert "not a member of tenant 'secret'" in not_member.json()["message"]
    unknown = bob.api("POST", "users/bob/server", json={"tenant": "nlp", "image": "evil"})
    assert unknown.status_code == 400
    assert "Unknown server options: image" in unknown.json()["message"]
    # nlp allows only "small"
    big = bob.api("POST", "users/bob/servers/nlp", json={"profile": "big"})
    assert big.status_code == 403
    assert "Available: small" in big.json()["message"]


def test_second_server_in_same_tenant_is_refused(hub_factory):
    hub = hub_factory()
    alice = Browser(hub, "alice")
    alice.login()
    alice.spawn({"tenant": "vision", "profile-vision": "small"})
    alice.wait_ready()
    again = alice.api("POST", "users/alice/servers/other", json={"tenant": "vision"})
    assert again.status_code == 409
    assert "already have a server in tenant 'vision'" in again.json()["message"]


def test_hub_restart_keeps_servers_routes_and_quota_usage(hub_factory):
    hub = hub_factory()
    bob, dan = Browser(hub, "bob"), Browser(hub, "dan")
    bob.login()
    bob.spawn({"tenant": "nlp", "profile-nlp": "small"}, server="nlp")
    bob.wait_ready("nlp")
    bob.open_lab("nlp")
    before = bob.server_api("GET", "status", server="nlp").json()

    hub.restart()
    assert "appears to have stopped" not in hub.log().split("Running JupyterHub")[-1]

    # same process, same route: the server's start time did not change
    after = bob.server_api("GET", "status", server="nlp")
    assert after.status_code == 200
    assert after.json()["started"] == before["started"]
    assert bob.wait_ready("nlp")["ready"]
    # the quota ledger was rebuilt from the running servers
    dan.login()
    refused = dan.api("POST", "users/dan/server", json={"tenant": "nlp"})
    assert refused.status_code == 403
    assert "servers: 1 of 1 in use" in refused.json()["message"]


def test_native_signup_needs_admin_approval(hub_factory):
    hub = hub_factory()
    erin = Browser(hub, "erin")
    erin.session.get(hub.url + "hub/signup")
    signup = erin.session.post(
        hub.url + "hub/signup",
        data={
            "username": "erin",
            "signup_password": "erin-password-1",
            "signup_password_confirmation": "erin-password-1",
            "_xsrf": erin.hub_xsrf(),
        },
    )
    assert signup.status_code == 200
    assert erin.login("erin-password-1").status_code != 302  # not approved yet

    admin = Browser(hub, "admin")
    assert admin.login().status_code == 302
    # as a browser does when the admin clicks the link on the authorize page
    approve = admin.session.get(
        hub.url + "hub/authorize/erin", headers={"Referer": hub.url + "hub/authorize"}
    )
    assert approve.status_code == 200
    assert erin.login("erin-password-1").status_code == 302
    assert erin.login("wrong-password").status_code != 302


def test_idle_culler_stops_idle_servers(hub_factory):
    config = {
        **__import__("tests.integration.conftest", fromlist=["BASE_CONFIG"]).BASE_CONFIG,
        "culling": {"enabled": True, "idle_timeout": 2, "every": 2},
    }
    hub = hub_factory(config=config)
    alice = Browser(hub, "alice")
    alice.login()
    alice.spawn({"tenant": "vision", "profile-vision": "small"})
    alice.wait_ready()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if alice.api("GET", "users/alice").json()["servers"] == {}:
            break
        time.sleep(1)
    else:
        raise AssertionError("idle server was not culled:\n" + hub.log()[-3000:])
    assert "idle-culler" in hub.log()


def test_kernel_started_through_the_proxy_writes_into_the_tenant_home(hub_factory):
    hub = hub_factory()
    from tests.integration.kernel import run_in_new_kernel

    alice = Browser(hub, "alice")
    alice.login()
    alice.spawn({"tenant": "vision", "profile-vision": "small"})
    alice.wait_ready()
    alice.open_lab()
    reply = run_in_new_kernel(
        alice, "import pathlib; pathlib.Path('kernel.txt').write_text('from a kernel')"
    )
    assert reply["status"] == "ok", reply
    home = hub.data_dir / "tenants" / "vision" / "home" / "alice"
    assert (home / "kernel.txt").read_text() == "from a kernel"


def test_server_that_died_on_its_own_frees_its_quota(hub_factory):
    import os
    import signal

    hub = hub_factory()
    bob, dan = Browser(hub, "bob"), Browser(hub, "dan")
    bob.login()
    dan.login()
    bob.spawn({"tenant": "nlp", "profile-nlp": "small"}, server="nlp")
    bob.wait_ready("nlp")
    (pid,) = hub._server_pids()
    os.killpg(pid, signal.SIGKILL)
    # the hub sees it dead when asked to stop it: it never calls stop(), only its hooks
    bob.api("DELETE", "users/bob/servers/nlp")
    bob.wait_stopped("nlp")
    dan.spawn({"tenant": "nlp", "profile-nlp": "small"})
    assert dan.wait_ready()["ready"]


def test_quota_of_a_server_started_without_options_survives_a_restart(hub_factory):
    hub = hub_factory()
    dan, bob = Browser(hub, "dan"), Browser(hub, "bob")
    dan.login()
    # dan is only in nlp: no body at all picks his only tenant and its default profile
    started = dan.api("POST", "users/dan/server")
    assert started.status_code in (201, 202), started.text
    dan.wait_ready()
    hub.restart()
    bob.login()
    refused = bob.api("POST", "users/bob/servers/nlp", json={"tenant": "nlp"})
    assert refused.status_code == 403
    assert "servers: 1 of 1 in use" in refused.json()["message"]
