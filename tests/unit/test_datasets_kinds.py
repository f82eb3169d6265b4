"""Settings of each data source kind: validated with the field named, the secret fields
kept apart from the settings (an SQL URL's password moves to the secrets), folders on
the hub's machine kept inside the allowed roots, no SQL backend that opens a local
file, no Spark setting that loads code; and every kind builds its connector."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hub.config.schema import DatasetSettings
from hub.service.datasets.connector import Connector, Limits
from hub.service.datasets.kinds import KINDS, SECRETS, InvalidSource, build, limits_from, validate


def errors(kind: str, settings: dict, secrets: dict | None = None, **kw: object) -> list[str]:
    with pytest.raises(InvalidSource) as caught:
        validate(kind, settings, secrets, **kw)  # type: ignore[arg-type]
    return caught.value.errors


def test_each_kind_names_its_secret_fields() -> None:
    assert set(KINDS) == set(SECRETS)
    assert SECRETS == {
        "files": (),
        "s3": ("access_key", "secret_key"),
        "sql": ("password",),
        "hive": (),
        "hdfs": ("kerberos_ticket",),
    }


def test_s3_settings_and_secrets_are_kept_apart() -> None:
    settings, secrets = validate(
        "s3",
        {"bucket": "lake", "prefix": "raw", "endpoint_url": "http://127.0.0.1:9000"},
        {"access_key": "AKIA0000", "secret_key": "shh-very-secret"},
    )
    assert settings == {
        "bucket": "lake",
        "prefix": "raw",
        "endpoint_url": "http://127.0.0.1:9000",
        "region": "us-east-1",
    }
    assert secrets == {"access_key": "AKIA0000", "secret_key": "shh-very-secret"}
    assert "shh-very-secret" not in repr(settings)


def test_a_password_in_an_sql_url_moves_to_the_secrets() -> None:
    settings, secrets = validate(
        "sql", {"url": "postgresql://ana:p%40ss-w0rd@db.example:5432/sales"}
    )
    assert settings == {"url": "postgresql://ana@db.example:5432/sales"}
    assert secrets == {"password": "p@ss-w0rd"}
    # a password given as a secret wins over one left in the URL
    _, secrets = validate("sql", {"url": "postgresql://ana:old@db/x"}, {"password": "new"})
    assert secrets == {"password": "new"}


@pytest.mark.parametrize(
    ("kind", "settings", "secrets", "expected"),
    [
        ("nope", {}, None, "kind: must be one of files, s3, sql, hive, hdfs"),
        ("s3", {"bucket": "Bad_Bucket"}, None, "settings.bucket:"),
        ("s3", {"bucket": "lake", "colour": "red"}, None, "settings.colour: Extra inputs"),
        ("s3", {"bucket": "lake"}, {"password": "x"}, "secrets.password: not a credential"),
        ("s3", {"bucket": "lake", "endpoint_url": "ftp://x"}, None, "settings.endpoint_url:"),
        ("files", {"root": "relative/dir"}, None, "settings.root: Value error, root must be"),
        ("files", {}, None, "settings.root: Field required"),
        ("sql", {"url": "::not a url::"}, None, "settings.url: not an SQLAlchemy URL"),
        ("sql", {"url": "sqlite:////var/lib/tenanthub/tenanthub.sqlite"}, None, "settings.url:"),
        ("hdfs", {"host": "nn", "port": 0}, None, "settings.port:"),
        ("hive", {"warehouse_dir": "/w", "master": "yarn"}, None, "settings.master:"),
    ],
)
def test_bad_settings_are_refused_with_the_field_named(
    kind: str, settings: dict, secrets: dict | None, expected: str
) -> None:
    assert any(e.startswith(expected) for e in errors(kind, settings, secrets)), errors(
        kind, settings, secrets
    )


def test_an_sql_url_that_opens_a_local_file_is_refused() -> None:
    (message,) = errors("sql", {"url": "sqlite:////var/lib/tenanthub/tenanthub.sqlite"})
    assert "opens a file on the platform's machine" in message


@pytest.mark.parametrize(
    "key",
    [
        "spark.driver.extraJavaOptions",
        "spark.jars",
        "spark.sql.extensions",
        "spark.sql.hive.metastore.jars",
        "spark.hadoop.fs.s3a.impl.class",
        "spark.plugins",
    ],
)
def test_spark_settings_that_load_code_are_refused(key: str) -> None:
    (message,) = errors("hive", {"warehouse_dir": "/w", "conf": {key: "x"}})
    assert message.startswith("settings.conf:") and key in message


def test_harmless_spark_settings_are_kept() -> None:
    conf = {"spark.hadoop.hive.metastore.uris": "thrift://m:9083", "spark.sql.ansi.enabled": "true"}
    settings, _ = validate("hive", {"warehouse_dir": "/w", "conf": conf})
    assert settings["conf"] == conf


def test_folders_must_lie_inside_the_allowed_roots_symlinks_resolved(tmp_path: Path) -> None:
    tenant = tmp_path / "tenants" / "vision" / "shared"
    (tenant / "data").mkdir(parents=True)
    os.symlink("/etc", tenant / "etc")
    roots = [tenant]
    settings, _ = validate("files", {"root": str(tenant / "data")}, roots=roots)
    assert settings == {"root": str(tenant / "data")}
    for root in ("/", "/etc", str(tenant / "etc"), str(tenant / ".." / "..")):
        (message,) = errors("files", {"root": root}, roots=roots)
        assert message.startswith("settings.root: must be a folder inside one of:")
    bad = errors("hive", {"warehouse_dir": str(tenant), "metastore_dir": "/var/lib"}, roots=roots)
    assert [m.split(":")[0] for m in bad] == ["settings.metastore_dir"]
    assert errors("files", {"root": str(tenant)}, roots=[])  # no root allowed: nothing fits


def test_every_kind_builds_a_connector_from_stored_settings(tmp_path: Path) -> None:
    stored = {
        "files": ({"root": str(tmp_path)}, {}),
        "s3": ({"bucket": "lake"}, {"access_key": "AKIA0000", "secret_key": "abcdefgh"}),
        "sql": ({"url": "postgresql://ana@127.0.0.1:1/x"}, {"password": "abcdefgh"}),
        "hive": ({"warehouse_dir": str(tmp_path)}, {}),
        "hdfs": ({"host": "namenode", "root": "/data"}, {}),
    }
    for kind, (settings, secrets) in stored.items():
        clean, secret_values = validate(kind, settings, secrets)
        connector = build(kind, clean, secret_values, Limits())
        assert isinstance(connector, Connector)
        assert connector.kind == kind
        for value in secret_values.values():
            assert value not in repr(connector)


def test_the_config_section_sets_the_caps() -> None:
    limits = limits_from(
        DatasetSettings.model_validate(
            {"sample_rows": 50, "sample_bytes": "256Ki", "page_size": 100, "timeout": 3}
        )
    )
    assert (limits.sample_rows, limits.sample_bytes, limits.page_size, limits.timeout) == (
        50,
        256 * 1024,
        100,
        3.0,
    )
    assert limits.rows(10_000) == 50 and limits.page(None) == 100 and limits.page(5000) == 1000
