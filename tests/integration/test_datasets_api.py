"""Data sources through the platform API on a real hub: a tenant admin registers a files
source in the tenant's shared folder, an S3 source on a real moto server (with
credentials) and a PostgreSQL source (password written in the URL); members test,
page, sample, describe and read them (an Arrow stream pandas loads); credentials never
come back, nor appear in the hub's and service's log; bad credentials and a closed port
say so; ``..``, symbolic links out and folders outside the tenant's are refused; a read
over the cap is refused, not cut short; other tenants see nothing."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
import requests

from spawner.plan import local_paths
from tests.conftest import need
from tests.integration.conftest import BASE_CONFIG, PASSWORDS, PROXY_MISSING
from tests.integration.hubrunner import Browser, RunningHub, api_tokens, write_hub
from tests.services.postgres import PostgresServer
from tests.services.s3 import S3Server

pytestmark = pytest.mark.integration

USERS = ("alice", "bob", "dan", "admin")  # alice admins vision, bob is a member, dan is not
SQL_PASSWORD = "pg-pass-never-shown-7"
CONFIG: dict[str, Any] = {
    **BASE_CONFIG,
    "backend": {"kind": "local"},
    "datasets": {"read_bytes": "64Ki", "page_size": 50},
}


@dataclass
class Platform:
    hub: RunningHub
    tokens: dict[str, str]
    s3: S3Server
    postgres: PostgresServer

    def api(self, user: str, method: str, path: str, **kw: Any) -> requests.Response:
        url = self.hub.url + "services/tenanthub/api/v1/" + path.lstrip("/")
        return requests.request(
            method, url, headers={"Authorization": f"token {self.tokens[user]}"}, timeout=60, **kw
        )

    @property
    def shared(self) -> Path:
        return local_paths(self.hub.data_dir, "vision", "-").shared


@pytest.fixture(scope="module")
def platform(
    tmp_path_factory: pytest.TempPathFactory, s3: S3Server, postgres: PostgresServer
) -> Iterator[Platform]:
    if PROXY_MISSING:
        need(PROXY_MISSING)
    hub = write_hub(tmp_path_factory.mktemp("datasets-api") / "hub", CONFIG, PASSWORDS)
    try:
        hub.start()
        hub.wait_for_service()
        tokens = api_tokens(hub, USERS, "datasets test")
        yield Platform(hub, tokens, s3, postgres)
    finally:
        hub.shutdown()


def make_files(shared: Path) -> Path:
    data = shared / "data"
    (data / "many").mkdir(parents=True, exist_ok=True)
    for i in range(120):
        (data / "many" / f"part-{i:04d}.csv").write_text("a,b\n1,2\n")
    frame = pd.DataFrame({"city": ["Lyon", "Oslo", "Lima"], "sales": [10, 20, 30]})
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), data / "sales.parquet")
    (data / "big.csv").write_text("x,y\n" + "1,2\n" * 40_000)  # 160 KB: over read_bytes
    (shared / "private.csv").write_text("secret,1\n")
    if not (data / "escape").is_symlink():
        (data / "escape").symlink_to(shared / "private.csv")
    return data


def test_files_source_registered_by_the_admin_is_browsed_and_read_by_members(
    platform: Platform,
) -> None:
    data = make_files(platform.shared)
    files = {"name": "files", "kind": "files", "settings": {"root": str(data)}}
    made = platform.api("alice", "POST", "tenants/vision/datasets", json=files)
    assert made.status_code == 201, made.text
    assert platform.api("bob", "POST", "tenants/vision/datasets",
                        json={"name": "x", "kind": "files",
                              "settings": {"root": str(data)}}).status_code == 403  # fmt: skip
    listed = platform.api("bob", "GET", "tenants/vision/datasets").json()["items"]
    assert [s["name"] for s in listed] == ["files"]
    assert platform.api("bob", "GET", "tenants/vision/datasets/files/test").json()["ok"] is True

    page = platform.api("bob", "GET", "tenants/vision/datasets/files/list",
                        params={"path": "many"}).json()  # fmt: skip
    assert len(page["entries"]) == 50 and page["next_cursor"]
    seen = [e["name"] for e in page["entries"]]
    while page["next_cursor"]:
        more = {"path": "many", "cursor": page["next_cursor"]}
        page = platform.api("bob", "GET", "tenants/vision/datasets/files/list", params=more).json()
        seen += [e["name"] for e in page["entries"]]
    assert sorted(seen) == [f"part-{i:04d}.csv" for i in range(120)]

    sample = platform.api("bob", "GET", "tenants/vision/datasets/files/sample",
                          params={"path": "sales.parquet", "n": 2}).json()  # fmt: skip
    assert sample["columns"] == ["city", "sales"] and sample["rows"] == [["Lyon", 10], ["Oslo", 20]]
    assert sample["truncated"] is True
    schema = platform.api("bob", "GET", "tenants/vision/datasets/files/schema",
                          params={"path": "sales.parquet"}).json()  # fmt: skip
    assert schema["row_count"] == 3 and [c["name"] for c in schema["columns"]] == ["city", "sales"]

    read = platform.api("bob", "GET", "tenants/vision/datasets/files/read",
                        params={"path": "sales.parquet"})  # fmt: skip
    assert read.status_code == 200
    assert read.headers["Content-Type"] == "application/vnd.apache.arrow.stream"
    frame = ipc.open_stream(io.BytesIO(read.content)).read_pandas()
    assert frame.to_dict("list") == {"city": ["Lyon", "Oslo", "Lima"], "sales": [10, 20, 30]}

    big = platform.api(
        "bob", "GET", "tenants/vision/datasets/files/read", params={"path": "big.csv"}
    )
    assert big.status_code == 422 and "over the 65536 bytes" in big.json()["message"]
    for bad in ("../private.csv", "/etc/passwd", "escape"):
        got = platform.api("bob", "GET", "tenants/vision/datasets/files/sample",
                           params={"path": bad})  # fmt: skip
        assert got.status_code in (404, 422), (bad, got.text)
        assert "secret" not in got.text

    # another tenant's member sees nothing of vision's sources
    assert platform.api("dan", "GET", "tenants/vision/datasets").status_code == 404
    assert platform.api("dan", "GET", "tenants/vision/datasets/files/list").status_code == 404


def test_a_tenant_admin_cannot_register_a_folder_outside_the_tenant(platform: Platform) -> None:
    for root in ("/etc", str(platform.hub.data_dir), str(platform.shared / ".." / "..")):
        outside = {"name": "outside", "kind": "files", "settings": {"root": root}}
        got = platform.api("alice", "POST", "tenants/vision/datasets", json=outside)
        assert got.status_code == 422, (root, got.text)
        assert "settings.root: must be a folder inside one of" in got.json()["message"]
    hive = platform.api("alice", "POST", "tenants/vision/datasets",
                        json={"name": "h", "kind": "hive",
                              "settings": {"warehouse_dir": str(platform.shared)}})  # fmt: skip
    assert hive.status_code == 403


def test_s3_source_keeps_its_credentials_secret_and_explains_failures(platform: Platform) -> None:
    s3 = platform.s3
    s3.create_bucket("vision-data")
    for i in range(30):
        s3.put("vision-data", f"events/2026/day-{i:02d}.jsonl", b'{"n": 1}\n{"n": 2}\n')
    secret = s3.reader.secret_key
    made = platform.api("alice", "POST", "tenants/vision/datasets", json={
        "name": "lake", "kind": "s3",
        "settings": {"bucket": "vision-data", "endpoint_url": s3.endpoint_url},
        "secrets": {"access_key": s3.reader.access_key, "secret_key": secret},
    })  # fmt: skip
    assert made.status_code == 201, made.text
    assert made.json()["secrets_set"] == ["access_key", "secret_key"]
    for user in ("alice", "bob"):
        shown = platform.api(user, "GET", "tenants/vision/datasets/lake")
        assert secret not in shown.text and s3.reader.access_key not in shown.text
    assert platform.api("bob", "GET", "tenants/vision/datasets/lake/test").json()["ok"] is True
    page = platform.api("bob", "GET", "tenants/vision/datasets/lake/list",
                        params={"path": "events/2026", "limit": 10}).json()  # fmt: skip
    assert len(page["entries"]) == 10 and page["next_cursor"]
    sample = platform.api("bob", "GET", "tenants/vision/datasets/lake/sample",
                          params={"path": "events/2026/day-03.jsonl"}).json()  # fmt: skip
    assert sample["rows"] == [[1], [2]]

    # wrong credentials: the person is told it is the credentials, and nothing leaks
    changed = platform.api("alice", "PATCH", "tenants/vision/datasets/lake",
                           json={"secrets": {"secret_key": "wrong-secret-key-123"}})  # fmt: skip
    assert changed.status_code == 200 and changed.json()["secrets_set"] == [
        "access_key", "secret_key",
    ]  # fmt: skip
    health = platform.api("bob", "GET", "tenants/vision/datasets/lake/test").json()
    assert health["ok"] is False and health["problem"] == "bad_credentials", health
    assert "wrong-secret-key-123" not in str(health)
    # nothing listens there: refused
    closed = platform.api("alice", "POST", "tenants/vision/datasets", json={
        "name": "closed", "kind": "s3",
        "settings": {"bucket": "vision-data", "endpoint_url": "http://127.0.0.1:9"},
    })  # fmt: skip
    assert closed.status_code == 201
    health = platform.api("bob", "GET", "tenants/vision/datasets/closed/test").json()
    assert (health["ok"], health["problem"]) == (False, "refused"), health
    assert health["advice"]

    log = platform.hub.log()
    assert secret not in log and "wrong-secret-key-123" not in log


def test_sql_source_moves_the_password_out_of_the_url_and_reads_a_table(
    platform: Platform,
) -> None:
    import psycopg

    name = f"th_ds_api_{os.getpid()}"
    url = platform.postgres.create_database(name)
    dsn = f"host=127.0.0.1 port={platform.postgres.port} user=tenanthub dbname={name}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.orders (id int, item text)")
        conn.execute(
            "INSERT INTO public.orders SELECT g, 'item ' || g FROM generate_series(1, 7) g"
        )
    assert url.startswith("postgresql")
    with_password = (
        f"postgresql://tenanthub:{SQL_PASSWORD}@127.0.0.1:{platform.postgres.port}/{name}"
    )
    orders = {"name": "orders", "kind": "sql", "settings": {"url": with_password}}
    made = platform.api("alice", "POST", "tenants/vision/datasets", json=orders)
    assert made.status_code == 201, made.text
    assert SQL_PASSWORD not in made.text and made.json()["secrets_set"] == ["password"]
    tables = platform.api("bob", "GET", "tenants/vision/datasets/orders/list",
                          params={"path": "public"}).json()  # fmt: skip
    assert [e["name"] for e in tables["entries"]] == ["orders"]
    read = platform.api("bob", "GET", "tenants/vision/datasets/orders/read",
                        params={"path": "public/orders"})  # fmt: skip
    frame = ipc.open_stream(io.BytesIO(read.content)).read_pandas()
    assert sorted(frame["id"]) == list(range(1, 8))
    capped = platform.api("bob", "GET", "tenants/vision/datasets/orders/read",
                          params={"path": "public/orders", "limit": 5})  # fmt: skip
    assert capped.status_code == 422 and "more than 5 rows" in capped.json()["message"]
    assert SQL_PASSWORD not in platform.hub.log()


def test_sources_in_the_config_are_registered_at_start_with_credentials_from_the_environment(
    hub_factory: Any, s3: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TH_TEST_LAKE_KEY", s3.reader.access_key)
    monkeypatch.setenv("TH_TEST_LAKE_SECRET", s3.reader.secret_key)
    s3.create_bucket("seeded-lake")
    s3.put("seeded-lake", "a.csv", b"x\n1\n")
    vision = {
        **BASE_CONFIG["tenants"][0],
        "data_sources": [
            {"name": "lake", "kind": "s3",
             "settings": {"bucket": "seeded-lake", "endpoint_url": s3.endpoint_url},
             "secrets_env": {"access_key": "TH_TEST_LAKE_KEY",
                             "secret_key": "TH_TEST_LAKE_SECRET"}},
            {"name": "notes", "kind": "files", "settings": {"root": str(tmp_path)}},
            {"name": "local-db", "kind": "sql", "settings": {"url": "sqlite:////etc/x.db"}},
            {"name": "unset", "kind": "s3", "settings": {"bucket": "seeded-lake"},
             "secrets_env": {"secret_key": "TH_TEST_NOT_SET"}},
        ],
    }  # fmt: skip
    config = {**BASE_CONFIG, "backend": {"kind": "local"},
              "tenants": [vision, BASE_CONFIG["tenants"][1]]}  # fmt: skip
    hub = hub_factory(config=config)
    hub.wait_for_service()
    alice = Browser(hub, "alice")
    assert alice.login().status_code == 302
    token = alice.api("POST", "users/alice/tokens", json={"note": "t"}).json()["token"]
    headers = {"Authorization": f"token {token}"}
    api = hub.url + "services/tenanthub/api/v1/tenants/vision/datasets"
    listed = requests.get(api, headers=headers, timeout=30).json()["items"]
    assert {s["name"]: s["secrets_set"] for s in listed} == {
        "lake": ["access_key", "secret_key"], "notes": [],
    }  # fmt: skip
    sample = requests.get(f"{api}/lake/sample", params={"path": "a.csv"}, headers=headers,
                          timeout=30).json()  # fmt: skip
    assert sample["rows"] == [[1]]
    log = hub.log()
    assert "tenants[0].data_sources[2] (vision/local-db)" in log
    assert "tenants[0].data_sources[3] (vision/unset): environment variable(s) not set" in log
    assert s3.reader.secret_key not in log
