"""The platform service's API over HTTP, against a real hub starting the real service.

One hub per database (SQLite, then PostgreSQL) serves every test of this module
(``api`` fixture): a hub start costs seconds, so tests share it and each works
in tenants of its own (created through the API), reading only what the others
leave alone. The last test restarts the hub.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from hub.tenancy import db
from hub.tenancy.store import TenantStore
from tests.conftest import need
from tests.integration.conftest import BASE_CONFIG, PASSWORDS, PROXY_MISSING
from tests.integration.hubrunner import Browser, RunningHub, write_hub

pytestmark = pytest.mark.integration

LOCAL = {**BASE_CONFIG, "backend": {"kind": "local"}}
#: BASE_CONFIG plus a tenant that only the delete test touches
CONFIG = {
    **LOCAL,
    "tenants": [
        *BASE_CONFIG["tenants"],
        {"name": "legacy", "quota": {"servers": 1}, "members": [{"user": "gina"}]},
    ],
}
USERS = {**PASSWORDS, "erin": "erin-password-1", "frank": "frank-password-1"}
_dbs = itertools.count()


def api_url(hub: RunningHub, path: str) -> str:
    return hub.url + "services/tenanthub/api/v1/" + path.lstrip("/")


def token_of(browser: Browser) -> str:
    made = browser.api("POST", f"users/{browser.user}/tokens", json={"note": "api test"})
    assert made.status_code == 201, made.text
    return str(made.json()["token"])


def call(
    hub: RunningHub, token: str | None, method: str, path: str, **kw: Any
) -> requests.Response:
    headers = {"Authorization": f"token {token}"} if token else {}
    return requests.request(method, api_url(hub, path), headers=headers, timeout=60, **kw)


@dataclass
class Api:
    """The shared hub, a browser session and an API token per user."""

    hub: RunningHub
    db_url: str
    browsers: dict[str, Browser] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def __call__(self, user: str | None, method: str, path: str, **kw: Any) -> requests.Response:
        return call(self.hub, self.tokens[user] if user else None, method, path, **kw)

    def login(self, user: str) -> Browser:
        """A fresh login (the hub takes the user's groups and roles from it)."""
        browser = Browser(self.hub, user)
        assert browser.login().status_code == 302, user
        self.browsers[user] = browser
        return browser

    def hub_group(self, tenant: str) -> list[str] | None:
        got = self.browsers["admin"].api("GET", f"groups/tenant-{tenant}")
        if got.status_code == 404:
            return None
        assert got.status_code == 200, got.text
        return sorted(got.json()["users"])

    def audit(self, user: str, path: str = "audit") -> list[tuple[str, str, str]]:
        got = self(user, "GET", path, params={"limit": 500})
        assert got.status_code == 200, got.text
        return [(e["actor"], e["action"], e["target"]) for e in got.json()["items"]]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    if PROXY_MISSING:
        need(PROXY_MISSING)
    root = tmp_path_factory.mktemp(f"api-{request.param}")
    config: dict[str, Any] = dict(CONFIG)
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres")
        db_url = server.create_database(f"th_api_{os.getpid()}_{next(_dbs)}")
        config["hub"] = {"db_url": db_url}
    else:
        db_url = f"sqlite:///{root / 'hub' / 'data' / 'tenanthub.sqlite'}"
    hub = write_hub(root / "hub", config, USERS)
    try:
        hub.start()
        hub.wait_for_service()
        api = Api(hub, db_url)
        for user in ("admin", "alice", "bob", "dan", "carol", "erin", "frank"):
            api.tokens[user] = token_of(api.login(user))
        yield api
    finally:
        hub.shutdown()


def add_ldap_membership(api: Api, tenant: str, user: str) -> None:
    """What an LDAP login with a mapped group writes, straight into the hub's platform DB
    (this hub signs people in with native accounts, so no directory login can make it)."""
    engine = db.make_engine(api.db_url)
    try:
        TenantStore(engine).add_membership(tenant, user, "member", "ldap", "ldap-login")
    finally:
        engine.dispose()


def create_tenant(api: Api, name: str, **body: Any) -> None:
    made = api("admin", "POST", "tenants", json={"name": name, **body})
    assert made.status_code == 201, made.text


# ----------------------------------------------------------------------------- tenants


def test_tenants_api_lists_what_each_role_may_see(api: Api) -> None:
    me = api("alice", "GET", "me")
    assert me.status_code == 200, me.text
    assert me.json() == {"name": "alice", "platform_admin": False, "tenants": {"vision": "admin"}}
    assert api("admin", "GET", "me").json()["platform_admin"] is True

    listed = api("admin", "GET", "tenants").json()
    assert {"legacy", "nlp", "vision"} <= {t["name"] for t in listed["items"]}
    vision = next(t for t in listed["items"] if t["name"] == "vision")
    assert vision["quota"]["cpu"] == "4" and vision["quota"]["memory"] == "8Gi"
    assert vision["members"] == 2
    assert [
        t["name"] for t in api("admin", "GET", "tenants", params={"q": "visi"}).json()["items"]
    ] == ["vision"]

    assert [t["name"] for t in api("dan", "GET", "tenants").json()["items"]] == ["nlp"]
    assert api("carol", "GET", "tenants").json()["items"] == []
    assert api("dan", "GET", "tenants/vision").status_code == 404
    assert api(None, "GET", "tenants").status_code == 401
    assert call(api.hub, "not-a-token", "GET", "tenants").status_code == 403

    created = api("admin", "POST", "tenants", json={"name": "geo", "quota": {"cpu": "2"}})
    assert created.status_code == 201, created.text
    assert created.json()["quota"]["cpu"] == "2"
    assert api("admin", "POST", "tenants", json={"name": "geo"}).status_code == 409
    refused = api("alice", "POST", "tenants", json={"name": "mine"})
    assert refused.status_code == 403
    assert "platform admins" in refused.json()["message"]
    bad = api("admin", "POST", "tenants", json={"name": "Bad_Name", "quota": {"cpu": "-1"}})
    assert bad.status_code == 422
    assert {e["path"] for e in bad.json()["errors"]} == {"name", "quota.cpu"}
    empty = api("admin", "POST", "tenants", json={"name": "noprof", "allowed_profiles": []})
    assert empty.status_code == 422 and "null" in empty.json()["message"]

    doc = requests.get(api_url(api.hub, "openapi.json"), timeout=10).json()
    for path in (
        "/tenants/{tenant}",
        "/tenants/{tenant}/members/{username}",
        "/tenants/{tenant}/quota",
        "/tenants/{tenant}/profiles",
        "/tenants/{tenant}/servers/{username}",
        "/tenants/{tenant}/audit",
        "/audit",
    ):
        assert path in doc["paths"], path
    assert set(doc["paths"]["/tenants/{tenant}"]) == {"get", "patch", "delete"}


def test_platform_admin_renames_a_tenant_and_the_change_is_audited(api: Api) -> None:
    create_tenant(api, "rename-me", display_name="Old name")
    api("admin", "POST", "tenants/rename-me/members", json={"user": "dan", "role": "admin"})

    renamed = api("admin", "PATCH", "tenants/rename-me", json={"display_name": "New name"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["display_name"] == "New name"
    assert api("dan", "GET", "tenants/rename-me").json()["display_name"] == "New name"

    refused = api("dan", "PATCH", "tenants/rename-me", json={"display_name": "Mine"})
    assert refused.status_code == 403 and "platform admins" in refused.json()["message"]
    unknown = api("admin", "PATCH", "tenants/rename-me", json={"name": "other"})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["path"] == "name"
    assert api("admin", "PATCH", "tenants/no-such", json={"display_name": "x"}).status_code == 404
    assert api("admin", "GET", "tenants/rename-me").json()["display_name"] == "New name"

    assert ("admin", "tenant.update", "rename-me") in api.audit("dan", "tenants/rename-me/audit")
    entry = api("admin", "GET", "tenants/rename-me/audit").json()["items"][0]
    assert entry["detail"] == {"display_name": "New name", "previous": "Old name"}


# ----------------------------------------------------------------------------- members


def test_members_are_managed_and_the_hub_group_follows_at_once(api: Api) -> None:
    create_tenant(api, "team")
    added = api("admin", "POST", "tenants/team/members", json={"user": "Erin", "role": "admin"})
    assert added.status_code == 201, added.text
    assert added.json() == {
        "user": "erin",
        "role": "admin",
        "sources": ["manual"],
        "source_roles": {"manual": "admin"},
    }
    # erin's next login gives her the tenant's group and tenant-admin role in the hub
    erin = api.login("erin")
    assert api.hub_group("team") == ["erin"]

    frank = api("erin", "POST", "tenants/team/members", json={"user": "frank"})
    assert frank.status_code == 201, frank.text
    assert api.hub_group("team") == ["erin", "frank"]  # without waiting for frank's login
    assert erin.api("GET", "users/frank").status_code == 200  # her group-filtered scope

    twice = api("erin", "POST", "tenants/team/members", json={"user": "frank", "role": "admin"})
    assert (
        twice.status_code == 409 and "PATCH /tenants/team/members/frank" in twice.json()["message"]
    )
    promoted = api("erin", "PATCH", "tenants/team/members/frank", json={"role": "admin"})
    assert promoted.status_code == 200 and promoted.json()["role"] == "admin"
    demoted = api("erin", "PATCH", "tenants/team/members/frank", json={"role": "member"})
    assert demoted.json()["source_roles"] == {"manual": "member"}
    bad_role = api("erin", "PATCH", "tenants/team/members/frank", json={"role": "owner"})
    assert bad_role.status_code == 422 and bad_role.json()["errors"][0]["path"] == "role"
    nobody = api("erin", "PATCH", "tenants/team/members/nobody", json={"role": "admin"})
    assert nobody.status_code == 404 and "POST /tenants/team/members" in nobody.json()["message"]

    page = api("erin", "GET", "tenants/team/members", params={"limit": 1, "offset": 1}).json()
    assert page["total"] == 2 and page["limit"] == 1
    assert [m["user"] for m in page["items"]] == ["frank"]
    assert api("erin", "GET", "tenants/team/members", params={"limit": 0}).status_code == 400

    # who may: tenant admins and platform admins; members 403; strangers 404
    assert api("frank", "GET", "tenants/team/members").status_code == 403
    assert api("frank", "POST", "tenants/team/members", json={"user": "x"}).status_code == 403
    assert api("dan", "GET", "tenants/team/members").status_code == 404
    assert api("dan", "DELETE", "tenants/team/members/frank").status_code == 404

    removed = api("erin", "DELETE", "tenants/team/members/frank")
    assert removed.status_code == 200, removed.text
    assert removed.json() == {
        "tenant": "team",
        "user": "frank",
        "removed_source": "manual",
        "remaining": None,
    }
    assert api.hub_group("team") == ["erin"]
    assert erin.api("GET", "users/frank").status_code in (403, 404)
    assert api("erin", "DELETE", "tenants/team/members/frank").status_code == 404

    assert [a for a in api.audit("erin", "tenants/team/audit") if a[2] == "team/frank"] == [
        ("erin", "membership.remove", "team/frank"),
        ("erin", "membership.change", "team/frank"),
        ("erin", "membership.change", "team/frank"),
        ("erin", "membership.add", "team/frank"),
    ]


def test_memberships_from_the_config_or_a_directory_are_changed_there(api: Api) -> None:
    config_member = api("admin", "PATCH", "tenants/vision/members/bob", json={"role": "admin"})
    assert config_member.status_code == 409
    message = config_member.json()["message"]
    assert "config file" in message and '"role": "admin"' in message
    kept = api("admin", "DELETE", "tenants/vision/members/bob")
    assert kept.status_code == 409 and "config file" in kept.json()["message"]

    create_tenant(api, "dir-team")
    add_ldap_membership(api, "dir-team", "gina")
    ldap = api("admin", "DELETE", "tenants/dir-team/members/gina")
    assert ldap.status_code == 409 and "LDAP directory" in ldap.json()["message"]

    # a manual membership on top raises the role; removing it leaves the directory's
    raised = api(
        "admin", "POST", "tenants/dir-team/members", json={"user": "gina", "role": "admin"}
    )
    assert raised.json()["role"] == "admin" and raised.json()["sources"] == ["ldap", "manual"]
    back = api("admin", "DELETE", "tenants/dir-team/members/gina").json()
    assert back["remaining"] == {
        "user": "gina",
        "role": "member",
        "sources": ["ldap"],
        "source_roles": {"ldap": "member"},
    }
    listed = api("admin", "GET", "tenants/vision/members").json()
    assert [(m["user"], m["role"], m["sources"]) for m in listed["items"]] == [
        ("alice", "admin", ["config"]),
        ("bob", "member", ["config"]),
    ]


# ----------------------------------------------------------------------------- quota


def test_quota_is_read_by_members_replaced_by_platform_admins_and_validated(api: Api) -> None:
    create_tenant(api, "quota-lab", quota={"cpu": "4", "memory": "8Gi", "servers": 2})
    api("admin", "POST", "tenants/quota-lab/members", json={"user": "bob"})
    api("admin", "POST", "tenants/quota-lab/members", json={"user": "alice", "role": "admin"})

    read = api("bob", "GET", "tenants/quota-lab/quota")
    assert read.status_code == 200, read.text
    assert read.json() == {
        "cpu": "4",
        "memory": "8Gi",
        "gpu": None,
        "servers": 2,
        "storage": None,
        "running_jobs": None,
    }
    assert api("dan", "GET", "tenants/quota-lab/quota").status_code == 404
    refused = api("alice", "PUT", "tenants/quota-lab/quota", json={"servers": 9})
    assert refused.status_code == 403 and "platform admins" in refused.json()["message"]

    put = api("admin", "PUT", "tenants/quota-lab/quota", json={"cpu": "500m", "storage": "1Ti"})
    assert put.status_code == 200, put.text
    assert put.json() == {
        "cpu": "500m",
        "memory": None,  # left out: no limit (PUT replaces the whole quota)
        "gpu": None,
        "servers": None,
        "storage": "1Ti",
        "running_jobs": None,
    }

    bad = api(
        "admin",
        "PUT",
        "tenants/quota-lab/quota",
        json={"cpu": "-1", "memory": "4GB", "gpu": -1, "servers": 10**9, "storage": "16"},
    )
    assert bad.status_code == 422
    problems = {e["path"]: e["message"] for e in bad.json()["errors"]}
    assert set(problems) == {"cpu", "memory", "gpu", "servers", "storage"}
    assert "not a Kubernetes quantity" in problems["memory"]
    assert "write the unit" in problems["storage"]
    units = api("admin", "PUT", "tenants/quota-lab/quota", json={"cpu": "2Gi"})
    assert units.status_code == 422 and "byte unit" in units.json()["message"]
    huge = api("admin", "PUT", "tenants/quota-lab/quota", json={"memory": "2Ei"})
    assert huge.status_code == 422 and "more than any tenant" in huge.json()["message"]
    typo = api("admin", "PUT", "tenants/quota-lab/quota", json={"cpus": "2"})
    assert typo.status_code == 422 and typo.json()["errors"][0]["path"] == "cpus"
    broken = api("admin", "PUT", "tenants/quota-lab/quota", data=b"{not json")
    assert broken.status_code == 400
    assert api("admin", "PUT", "tenants/no-such/quota", json={}).status_code == 404
    assert api("bob", "GET", "tenants/quota-lab/quota").json() == put.json()  # nothing lost

    changes = [e for e in api("alice", "GET", "tenants/quota-lab/audit").json()["items"]
               if e["action"] == "quota.set"]  # fmt: skip
    assert len(changes) == 1 and changes[0]["actor"] == "admin"
    assert changes[0]["detail"]["quota"]["cpu_millis"] == 500
    assert changes[0]["detail"]["previous"]["servers"] == 2


# ----------------------------------------------------------------------------- profiles


def test_allowed_profiles_are_listed_and_set_by_name(api: Api) -> None:
    create_tenant(api, "prof-lab")
    api("admin", "POST", "tenants/prof-lab/members", json={"user": "bob"})

    listed = api("bob", "GET", "tenants/prof-lab/profiles")
    assert listed.status_code == 200, listed.text
    assert listed.json()["items"] == [
        {"name": "small", "display_name": "Small", "allowed": True},
        {"name": "big", "display_name": "Big", "allowed": True},
    ]
    assert listed.json()["total"] == 2

    only_small = api(
        "admin", "PUT", "tenants/prof-lab/profiles", json={"allowed_profiles": ["small"]}
    )
    assert only_small.status_code == 200, only_small.text
    assert only_small.json()["allowed_profiles"] == ["small"]
    allowed = {
        p["name"]: p["allowed"]
        for p in api("bob", "GET", "tenants/prof-lab/profiles").json()["items"]
    }
    assert allowed == {"small": True, "big": False}
    assert api("bob", "GET", "tenants/prof-lab").json()["allowed_profiles"] == ["small"]

    unknown = api("admin", "PUT", "tenants/prof-lab/profiles", json={"allowed_profiles": ["huge"]})
    assert unknown.status_code == 422
    assert "'huge'" in unknown.json()["message"] and "['small', 'big']" in unknown.json()["message"]
    empty = api("admin", "PUT", "tenants/prof-lab/profiles", json={"allowed_profiles": []})
    assert empty.status_code == 422 and "send null" in empty.json()["message"]
    missing = api("admin", "PUT", "tenants/prof-lab/profiles", json={})
    assert missing.status_code == 422 and missing.json()["errors"][0]["path"] == "allowed_profiles"
    assert (
        api("bob", "PUT", "tenants/prof-lab/profiles", json={"allowed_profiles": None}).status_code
        == 403
    )

    every = api("admin", "PUT", "tenants/prof-lab/profiles", json={"allowed_profiles": None})
    assert every.json()["allowed_profiles"] is None
    assert all(p["allowed"] for p in every.json()["profiles"])
    sets = [a for a in api.audit("admin", "tenants/prof-lab/audit") if a[1] == "profiles.set"]
    assert sets == [("admin", "profiles.set", "prof-lab")] * 2


# ----------------------------------------------------------------------------- servers, delete


def test_tenant_admin_lists_and_stops_servers_of_their_tenant_then_the_tenant_goes(
    api: Api,
) -> None:
    create_tenant(api, "srv")
    create_tenant(api, "srv-other")
    api("admin", "POST", "tenants/srv/members", json={"user": "erin", "role": "admin"})
    api("admin", "POST", "tenants/srv-other/members", json={"user": "erin", "role": "admin"})
    api("admin", "POST", "tenants/srv/members", json={"user": "frank"})
    frank = api.login("frank")
    started = frank.spawn({"tenant": "srv", "profile-srv": "small"})
    assert started.status_code == 200, started.text[-2000:]
    frank.wait_ready()
    try:
        listed = api("erin", "GET", "tenants/srv/servers")
        assert listed.status_code == 200, listed.text
        assert listed.json()["total"] == 1
        server = listed.json()["items"][0]
        assert (server["user"], server["server"], server["profile"], server["ready"]) == (
            "frank",
            "",
            "small",
            True,
        )
        assert api("erin", "GET", "tenants/srv-other/servers").json()["items"] == []
        assert api("frank", "GET", "tenants/srv/servers").status_code == 403
        assert api("dan", "GET", "tenants/srv/servers").status_code == 404

        elsewhere = api("erin", "DELETE", "tenants/srv-other/servers/frank")
        assert elsewhere.status_code == 404 and "srv-other" in elsewhere.json()["message"]
        named = api("erin", "DELETE", "tenants/srv/servers/frank", params={"server": "other"})
        assert named.status_code == 404

        busy = api("admin", "DELETE", "tenants/srv", json={"confirm": "srv"})
        assert busy.status_code == 409 and "frank" in busy.json()["message"]

        stopped = api("erin", "DELETE", "tenants/srv/servers/frank")
        assert stopped.status_code == 202, stopped.text
        assert stopped.json()["state"] in ("stopping", "stopped")
        assert stopped.json()["user"] == "frank" and stopped.json()["server"] == ""
        frank.wait_stopped()
    finally:
        frank.api("DELETE", "users/frank/server")
    assert api("erin", "GET", "tenants/srv/servers").json()["total"] == 0
    assert ("erin", "server.stop", "srv/frank") in api.audit("erin", "tenants/srv/audit")

    home = api.hub.data_dir / "tenants" / "srv" / "home" / "frank"
    (home / "notes.txt").write_text("mine")
    assert "frank" in (api.hub_group("srv") or [])  # put there by frank's login
    deleted = api("admin", "DELETE", "tenants/srv", json={"confirm": "srv"})
    assert deleted.status_code == 200, deleted.text
    body = deleted.json()
    assert body["removed"] == {
        "memberships": 2, "profiles": 0, "jobs": 0, "runs": 0, "data_sources": 0,
    }  # fmt: skip
    assert body["still_in_config"] is False and body["warning"] is None
    assert any(str(api.hub.data_dir / "tenants" / "srv") in place for place in body["kept"])
    assert "nothing on disk" in body["data_kept"]
    assert (home / "notes.txt").read_text() == "mine"  # the data stays
    assert api("admin", "GET", "tenants/srv").status_code == 404
    assert api("erin", "GET", "tenants/srv/servers").status_code == 404
    assert api.hub_group("srv") == []  # the old tenant admin's group scope reaches nobody
    assert ("admin", "tenant.delete", "srv") in api.audit("admin")


def test_audit_log_is_newest_first_and_scoped_to_the_callers_tenant(api: Api) -> None:
    create_tenant(api, "audit-a")
    create_tenant(api, "audit-b")
    api("admin", "POST", "tenants/audit-a/members", json={"user": "carol", "role": "admin"})
    api("admin", "POST", "tenants/audit-b/members", json={"user": "dan", "role": "admin"})
    api("admin", "PUT", "tenants/audit-a/quota", json={"servers": 1})

    mine = api("carol", "GET", "tenants/audit-a/audit")
    assert mine.status_code == 200, mine.text
    assert [(e["action"], e["target"]) for e in mine.json()["items"]] == [
        ("quota.set", "audit-a"),
        ("membership.add", "audit-a/carol"),
        ("tenant.create", "audit-a"),
    ]
    stamps = [e["at"] for e in api("admin", "GET", "audit", params={"limit": 50}).json()["items"]]
    assert stamps == sorted(stamps, reverse=True)
    assert api("carol", "GET", "tenants/audit-b/audit").status_code == 404
    assert api("carol", "GET", "audit").status_code == 403
    page = api("admin", "GET", "audit", params={"limit": 2, "offset": 1}).json()
    assert page["limit"] == 2 and page["offset"] == 1 and len(page["items"]) == 2
    assert page["total"] >= 5
    assert api("admin", "GET", "audit", params={"limit": 501}).status_code == 400
    api("admin", "DELETE", "tenants/audit-a/members/carol")
    assert api("carol", "GET", "tenants/audit-a/audit").status_code == 404  # no longer hers


def test_deleting_a_config_tenant_needs_its_name_and_warns_it_comes_back(api: Api) -> None:
    mismatch = api("admin", "DELETE", "tenants/legacy", json={"confirm": "LEGACY"})
    assert mismatch.status_code == 422
    assert 'repeat its name exactly: {"confirm": "legacy"}' in mismatch.json()["message"]
    assert api("admin", "DELETE", "tenants/legacy").status_code == 422
    assert api("alice", "DELETE", "tenants/legacy", json={"confirm": "legacy"}).status_code == 403
    assert api("admin", "DELETE", "tenants/nope", json={"confirm": "nope"}).status_code == 404
    api("admin", "PUT", "tenants/legacy/quota", json={"servers": 7})
    assert api("admin", "GET", "tenants/legacy").status_code == 200  # nothing went yet

    deleted = api("admin", "DELETE", "tenants/legacy", json={"confirm": "legacy"})
    assert deleted.status_code == 200, deleted.text
    body = deleted.json()
    assert body["still_in_config"] is True
    assert "next hub start creates it again" in body["warning"]
    assert str(api.hub.config_path) in body["warning"]
    assert api("admin", "GET", "tenants/legacy").status_code == 404

    # what the warning says: the config seeds it again at the next start, from the config
    api.hub.restart()
    api.hub.wait_for_service()
    back = api("admin", "GET", "tenants/legacy")
    assert back.status_code == 200, back.text
    assert back.json()["quota"]["servers"] == 1  # the config's, not the API's 7
    members = api("admin", "GET", "tenants/legacy/members").json()["items"]
    assert [(m["user"], m["sources"]) for m in members] == [("gina", ["config"])]
