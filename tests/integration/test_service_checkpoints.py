"""Checkpoint records over HTTP, against a real hub starting the real service.

The checkpointer's own token (read from the hub's secrets folder, as the daemon
reads it) creates records and reports each step; users list and delete their own.
One hub per database (SQLite, then PostgreSQL), ``checkpoint.keep`` 2. In the base
config bob is a member of vision and alice its admin: her being bob's tenant admin
gives her no view of his checkpoints.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from hub.app.service_tokens import CHECKPOINTER, token_path
from tests.conftest import need
from tests.integration.conftest import BASE_CONFIG, PASSWORDS, PROXY_MISSING
from tests.integration.hubrunner import Browser, RunningHub, write_hub

pytestmark = pytest.mark.integration

CONFIG = {**BASE_CONFIG, "backend": {"kind": "local"}, "checkpoint": {"keep": 2}}
DAEMON = "checkpointer"
BASE = "tenanthub/notebook-cpu:latest"
_dbs = itertools.count()


def digest(n: int) -> str:
    return "sha256:" + f"{n:064x}"


@dataclass
class Api:
    hub: RunningHub
    tokens: dict[str, str] = field(default_factory=dict)

    def __call__(self, who: str, method: str, path: str, **kw: Any) -> requests.Response:
        url = self.hub.url + "services/tenanthub/api/v1/" + path.lstrip("/")
        headers = {"Authorization": f"token {self.tokens[who]}"}
        return requests.request(method, url, headers=headers, timeout=60, **kw)

    def start(self, user: str, server: str = "", base: str = BASE) -> dict[str, Any]:
        body = {"user": user, "server": server, "tenant": "vision", "profile": "small",
                "base_image": base, "node": "node-1"}  # fmt: skip
        made = self(DAEMON, "POST", "checkpoints", json=body)
        assert made.status_code == 201, made.text
        return dict(made.json())

    def step(self, cid: int, state: str, **fields: Any) -> requests.Response:
        return self(DAEMON, "PATCH", f"checkpoints/{cid}", json={"state": state, **fields})

    def to_pushing(self, cid: int) -> None:
        assert self.step(cid, "committing").status_code == 200
        image = f"127.0.0.1:5000/tenanthub/ckpt-vision-x:default-{cid}"
        assert self.step(cid, "verifying", image=image, size_bytes=1234).status_code == 200
        assert self.step(cid, "pushing").status_code == 200

    def ready(self, user: str, server: str = "") -> tuple[int, dict[str, Any]]:
        cid = int(self.start(user, server)["id"])
        self.to_pushing(cid)
        done = self.step(cid, "ready", digest=digest(cid))
        assert done.status_code == 200, done.text
        return cid, dict(done.json())

    def listed(self, who: str, user: str) -> list[int]:
        got = self(who, "GET", f"users/{user}/checkpoints")
        assert got.status_code == 200, got.text
        return [c["id"] for c in got.json()["items"]]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    if PROXY_MISSING:
        need(PROXY_MISSING)
    root = tmp_path_factory.mktemp(f"ckpt-{request.param}")
    config: dict[str, Any] = dict(CONFIG)
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres")
        config["hub"] = {"db_url": server.create_database(f"th_ckpt_{os.getpid()}_{next(_dbs)}")}
    hub = write_hub(root / "hub", config, PASSWORDS)
    try:
        hub.start()
        hub.wait_for_service()
        api = Api(hub)
        api.tokens[DAEMON] = token_path(hub.data_dir, CHECKPOINTER.name).read_text()
        for user in ("admin", "alice", "bob", "dan"):
            browser = Browser(hub, user)
            assert browser.login().status_code == 302, user
            made = browser.api("POST", f"users/{user}/tokens", json={"note": "checkpoints"})
            assert made.status_code == 201, made.text
            api.tokens[user] = made.json()["token"]
        yield api
    finally:
        hub.shutdown()


def test_the_daemon_walks_a_checkpoint_to_ready_and_the_user_sees_it(api: Api) -> None:
    made = api.start("bob", server="nb")
    assert (made["state"], made["user"], made["server"], made["deleted"]) == (
        "requested", "bob", "nb", False,
    )  # fmt: skip
    api.to_pushing(made["id"])
    done = api.step(made["id"], "ready", digest=digest(made["id"]))
    assert done.status_code == 200, done.text
    c = done.json()["checkpoint"]
    assert (c["state"], c["digest"], c["size_bytes"]) == ("ready", digest(made["id"]), 1234)
    assert c["image"].endswith(f":default-{made['id']}") and done.json()["expired"] == []
    assert made["id"] in api.listed("bob", "bob")
    assert made["id"] in api.listed("admin", "bob")  # platform admins see anyone's
    pending = api(DAEMON, "GET", "checkpoints", params={"node": "node-1", "state": "ready"})
    assert made["id"] in [x["id"] for x in pending.json()["items"]]


def test_an_illegal_step_is_a_409_and_changes_nothing(api: Api) -> None:
    cid, _ = api.ready("bob", server="illegal")
    again = api.step(cid, "committing")
    assert again.status_code == 409, again.text
    assert "ready" in again.json()["message"] and "final" in again.json()["message"]
    early = api.start("bob", server="illegal2")
    jump = api.step(early["id"], "pushing")
    assert jump.status_code == 409 and jump.json()["current"] == "requested"
    got = api(DAEMON, "GET", "checkpoints", params={"state": "requested", "limit": 500})
    assert early["id"] in [x["id"] for x in got.json()["items"]]


def test_ready_without_a_digest_is_a_422_and_failed_says_why(api: Api) -> None:
    made = api.start("bob", server="nodigest")
    api.to_pushing(made["id"])
    refused = api.step(made["id"], "ready")
    assert refused.status_code == 422, refused.text
    assert [e["path"] for e in refused.json()["errors"]] == ["digest"]
    bad = api.step(made["id"], "ready", digest="latest")
    assert bad.status_code == 422 and bad.json()["errors"][0]["path"] == "digest"
    got = api(DAEMON, "GET", "checkpoints", params={"state": "pushing", "limit": 500})
    assert made["id"] in [x["id"] for x in got.json()["items"]]  # still pushing
    assert api.step(made["id"], "failed").status_code == 422  # a failure needs a reason
    failed = api.step(made["id"], "failed", message="The registry refused the push.")
    assert failed.status_code == 200
    mine = api("bob", "GET", "users/bob/checkpoints", params={"limit": 500}).json()["items"]
    shown = next(c for c in mine if c["id"] == made["id"])
    assert (shown["state"], shown["message"]) == ("failed", "The registry refused the push.")


def test_users_see_and_delete_only_their_own_checkpoints(api: Api) -> None:
    bobs, _ = api.ready("bob", server="own")
    alices, _ = api.ready("alice", server="own")
    assert alices not in api.listed("bob", "bob") and bobs not in api.listed("alice", "alice")
    # another member, bob's tenant admin, a user of another tenant: all refused
    for who, whose in (("bob", "alice"), ("alice", "bob"), ("dan", "bob")):
        listed = api(who, "GET", f"users/{whose}/checkpoints")
        assert listed.status_code == 403, listed.text
        cid = bobs if whose == "bob" else alices
        deleted = api(who, "DELETE", f"users/{whose}/checkpoints/{cid}")
        assert deleted.status_code == 403, deleted.text
    # naming someone else's checkpoint under one's own name finds nothing
    assert api("bob", "DELETE", f"users/bob/checkpoints/{alices}").status_code == 404
    assert api("bob", "DELETE", "users/bob/checkpoints/not-a-number").status_code == 404
    assert alices in api.listed("alice", "alice") and bobs in api.listed("bob", "bob")
    # users and tenant admins cannot report checkpoints, nor read the daemon's list
    for who in ("bob", "alice"):
        assert api(who, "GET", "checkpoints").status_code == 403
        assert api(who, "PATCH", f"checkpoints/{bobs}", json={"state": "failed"}).status_code == 403
    # the daemon cannot read users' lists (it is nobody's self)
    assert api(DAEMON, "GET", "users/bob/checkpoints").status_code == 403

    gone = api("bob", "DELETE", f"users/bob/checkpoints/{bobs}")
    assert gone.status_code == 204, gone.text
    assert bobs not in api.listed("bob", "bob")
    assert api("bob", "DELETE", f"users/bob/checkpoints/{bobs}").status_code == 404
    to_remove = api(DAEMON, "GET", "checkpoints", params={"deleted": "true", "limit": 500})
    assert bobs in [x["id"] for x in to_remove.json()["items"]]  # the daemon removes its image
    audit = api("admin", "GET", "audit", params={"limit": 500}).json()["items"]
    assert any(
        (e["actor"], e["action"], e["target"]) == ("bob", "checkpoint.delete", "user:bob")
        for e in audit
    )
    tenant_audit = api("alice", "GET", "tenants/vision/audit", params={"limit": 500})
    assert tenant_audit.status_code == 200
    assert not [e for e in tenant_audit.json()["items"] if e["action"].startswith("checkpoint")]


def test_marking_one_ready_beyond_keep_returns_the_expired_ones(api: Api) -> None:
    first, _ = api.ready("alice", server="keep")
    second, _ = api.ready("alice", server="keep")
    third, answer = api.ready("alice", server="keep")
    assert [(c["id"], c["deleted"]) for c in answer["expired"]] == [(first, True)]
    assert answer["expired"][0]["image"].endswith(f":default-{first}")
    kept = api.listed("alice", "alice")
    assert first not in kept and {second, third} <= set(kept)
    _fourth, answer = api.ready("alice", server="keep")
    assert [c["id"] for c in answer["expired"]] == [second]
    _other, answer = api.ready("alice", server="other")  # another server keeps its own
    assert answer["expired"] == []


def test_the_tenant_shows_how_many_ready_checkpoints_its_users_have(api: Api) -> None:
    """A tenant admin sees the count (the console's), never the members' images."""

    def count() -> int:
        got = api("alice", "GET", "tenants/vision")
        assert got.status_code == 200, got.text
        return int(got.json()["checkpoints"])

    before = count()
    cid, _ = api.ready("bob", server="counted")
    assert count() == before + 1
    assert api("bob", "DELETE", f"users/bob/checkpoints/{cid}").status_code == 204
    assert count() == before
    listed = api("alice", "GET", "tenants").json()["items"]
    assert all(t["checkpoints"] is None for t in listed)  # lists stay cheap
