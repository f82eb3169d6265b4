"""The kinds of data source: their settings (validated), which of them are secret, and
how a stored source becomes a connector.

Settings are what the API shows and the DB keeps in clear; secrets (an S3
secret key, a database password) are kept apart, encrypted, and only handed to
the connector. A password written inside an SQL URL is moved to the secrets.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.engine import make_url

from hub.config.quantities import parse_bytes
from hub.config.schema import DatasetSettings
from hub.service.datasets.connector import Connector, Limits
from hub.service.datasets.files import FilesConnector
from hub.service.datasets.hdfs import HdfsConnector
from hub.service.datasets.hive import HiveConnector, spark_session
from hub.service.datasets.paths import inside
from hub.service.datasets.s3 import S3Connector
from hub.service.datasets.sql import SqlConnector, split_password

Kind = Literal["files", "s3", "sql", "hive", "hdfs"]
KINDS: tuple[str, ...] = ("files", "s3", "sql", "hive", "hdfs")


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FilesSettings(_Settings):
    root: str = Field(min_length=1, description="Folder on the hub's machine (absolute path).")

    @field_validator("root")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/") or "\x00" in value:
            raise ValueError("root must be an absolute path")
        return value


class S3Settings(_Settings):
    bucket: str = Field(min_length=3, max_length=63, pattern=r"^[a-z0-9][a-z0-9.-]+[a-z0-9]$")
    prefix: str = Field("", description="Key prefix inside the bucket; empty: the whole bucket.")
    endpoint_url: str | None = Field(
        None, pattern=r"^https?://", description="S3 API URL; empty: AWS."
    )
    region: str = "us-east-1"


#: SQLAlchemy backends that open files of the hub's own machine: a tenant's source must
#: not be a way to read the platform database or any other file there
FILE_BACKENDS = frozenset({"sqlite", "duckdb", "access"})


class SqlSettings(_Settings):
    url: str = Field(min_length=1, description="SQLAlchemy URL, without the password.")

    @field_validator("url")
    @classmethod
    def _network_database(cls, value: str) -> str:
        try:
            backend = make_url(value).get_backend_name()
        except Exception:
            raise ValueError("not an SQLAlchemy URL (dialect+driver://user@host:port/db)") from None
        if backend in FILE_BACKENDS:
            raise ValueError(
                f"{backend} opens a file on the platform's machine: use a files source for "
                "data files, or a database server"
            )
        return value


#: Spark settings a hive source may set, and words that mark a setting loading code
CONF_PREFIXES = ("spark.sql.", "spark.hadoop.", "hive.")
CONF_REFUSED = ("jar", "extension", "classpath", "javaoptions", "plugin", "library", "class")


class HiveSettings(_Settings):
    warehouse_dir: str = Field(min_length=1, description="spark.sql.warehouse.dir")
    catalog: Literal["hive", "in-memory"] = "hive"
    metastore_dir: str | None = Field(None, description="Folder of the embedded Derby metastore.")
    master: str = Field("local[1]", pattern=r"^local(\[\d+\])?$", description="local[N]")
    conf: dict[str, str] = Field(
        default_factory=dict,
        description="Extra Spark settings: spark.sql.*, spark.hadoop.* (e.g. "
        "spark.hadoop.hive.metastore.uris) and hive.*; none that loads code.",
    )

    @field_validator("conf")
    @classmethod
    def _no_code(cls, conf: dict[str, str]) -> dict[str, str]:
        for key in conf:
            lower = key.lower()
            if not lower.startswith(CONF_PREFIXES) or any(w in lower for w in CONF_REFUSED):
                raise ValueError(
                    f"{key}: only spark.sql.*, spark.hadoop.* and hive.* settings that load "
                    "no code (jars, class paths, JVM options, extensions, plugins) are allowed"
                )
        return conf


class HdfsSettings(_Settings):
    host: str = Field(min_length=1)
    port: int = Field(8020, ge=1, le=65535)
    root: str = Field("/", pattern=r"^/")
    user: str | None = None


SETTINGS: dict[str, type[_Settings]] = {
    "files": FilesSettings,
    "s3": S3Settings,
    "sql": SqlSettings,
    "hive": HiveSettings,
    "hdfs": HdfsSettings,
}
#: the secret fields each kind accepts
SECRETS: dict[str, tuple[str, ...]] = {
    "files": (),
    "s3": ("access_key", "secret_key"),
    "sql": ("password",),
    "hive": (),
    "hdfs": ("kerberos_ticket",),
}


class InvalidSource(ValueError):
    """Settings or secrets that do not fit the kind; ``errors`` name each field."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def _outside(folder: str | None, roots: Sequence[Path]) -> bool:
    if folder is None:
        return False
    real = Path(os.path.realpath(folder))
    return not any(inside(Path(os.path.realpath(r)), real) for r in roots)


def validate(
    kind: str,
    settings: Mapping[str, Any],
    secrets: Mapping[str, str] | None = None,
    roots: Sequence[Path] | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Checked settings (as stored) and secrets; a password in an SQL URL moves to the secrets.

    ``roots``: when given, the folders of the hub's machine a source may use (a
    ``files`` root, a ``hive`` warehouse and metastore) must lie inside one of
    them, symlinks resolved: a tenant's source is no way to read the platform's
    own files.
    """
    if kind not in SETTINGS:
        raise InvalidSource([f"kind: must be one of {', '.join(KINDS)}"])
    values = dict(settings)
    secret_values = {k: v for k, v in (secrets or {}).items() if v}
    unknown = sorted(set(secret_values) - set(SECRETS[kind]))
    if unknown:
        raise InvalidSource([f"secrets.{k}: not a credential of a {kind} source" for k in unknown])
    if kind == "sql" and isinstance(values.get("url"), str):
        try:
            values["url"], password = split_password(values["url"])
        except Exception:
            raise InvalidSource(["settings.url: not an SQLAlchemy URL"]) from None
        if password and "password" not in secret_values:
            secret_values["password"] = password
    try:
        model = SETTINGS[kind].model_validate(values)
    except ValidationError as exc:
        raise InvalidSource(
            [
                f"settings.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                for e in exc.errors(include_input=False)
            ]
        ) from None
    if roots is not None:
        folders: dict[str, str | None] = {}
        if isinstance(model, FilesSettings):
            folders = {"root": model.root}
        elif isinstance(model, HiveSettings):
            folders = {"warehouse_dir": model.warehouse_dir, "metastore_dir": model.metastore_dir}
        bad = [k for k, v in folders.items() if _outside(v, roots)]
        if bad:
            allowed = ", ".join(str(r) for r in roots) or "none"
            raise InvalidSource(
                [f"settings.{k}: must be a folder inside one of: {allowed}" for k in bad]
            )
    return model.model_dump(), secret_values


def build(
    kind: str,
    settings: Mapping[str, Any],
    secrets: Mapping[str, str],
    limits: Limits | None = None,
    spark: Callable[[], Any] | None = None,
) -> Connector:
    """The connector of a stored source (settings as ``validate`` returned them)."""
    s = SETTINGS[kind].model_validate(dict(settings))
    if isinstance(s, FilesSettings):
        return FilesConnector(Path(s.root), limits)
    if isinstance(s, S3Settings):
        return S3Connector(
            s.bucket,
            prefix=s.prefix,
            endpoint_url=s.endpoint_url,
            region=s.region,
            access_key=secrets.get("access_key"),
            secret_key=secrets.get("secret_key"),
            limits=limits,
        )
    if isinstance(s, SqlSettings):
        return SqlConnector(s.url, password=secrets.get("password"), limits=limits)
    if isinstance(s, HiveSettings):
        hive = s
        return HiveConnector(
            spark
            or (
                lambda: spark_session(
                    hive.warehouse_dir,
                    hive=hive.catalog == "hive",
                    metastore_dir=hive.metastore_dir,
                    master=hive.master,
                    conf=hive.conf,
                )
            ),
            limits,
        )
    assert isinstance(s, HdfsSettings)
    return HdfsConnector(
        s.host,
        port=s.port,
        root=s.root,
        user=s.user,
        kerberos_ticket=secrets.get("kerberos_ticket"),
        limits=limits,
    )


def limits_from(config: DatasetSettings) -> Limits:
    """The caps of samples and pages as the config's ``datasets`` section sets them."""
    return Limits(
        sample_rows=config.sample_rows,
        sample_bytes=parse_bytes(config.sample_bytes),
        page_size=config.page_size,
        max_page_size=max(config.page_size, 1000),
        timeout=float(config.timeout),
    )
