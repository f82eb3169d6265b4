"""Data sources of tenants in the platform DB (table ``th_data_sources``).

A row holds the source's settings in clear (JSON, what the API shows) and its
credentials as one Fernet token (``secrets.KeyRing``); nothing returned by this
store carries a credential: ``DataSource`` lists only the *names* of the secrets
set. The decrypted values reach a connector only (``connector()``).

Synchronous, like ``hub.tenancy.store``: callers on an event loop use a worker
thread. The tenant is a name, as in the other platform tables; removing a
tenant's sources belongs to the tenant removal.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    DateTime,
    Engine,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from hub.service.datasets.connector import Connector, Limits
from hub.service.datasets.kinds import InvalidSource, build, validate
from hub.service.datasets.secrets import KeyRing
from hub.tenancy.models import Base, utcnow

#: a source's name: it is the first part of dataset paths in notebooks ("sales/2024.parquet")
NAME = re.compile(r"^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$")


class DataSourceRow(Base):
    __tablename__ = "th_data_sources"
    __table_args__ = (UniqueConstraint("tenant", "name", name="uq_th_data_sources_tenant_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(40), nullable=False)
    name: Mapped[str] = mapped_column(String(63), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    #: Fernet token of the JSON of the credentials; None when the source has none
    secrets: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: names of the credentials in ``secrets`` (to show which are set, without decrypting)
    secret_names: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


_T = cast(Table, DataSourceRow.__table__)


@dataclass(frozen=True)
class DataSource:
    tenant: str
    name: str
    kind: str
    settings: dict[str, Any]
    secret_names: tuple[str, ...]
    created_at: datetime
    updated_at: datetime


class SourceNotFound(LookupError):
    pass


class SourceExists(ValueError):
    pass


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _out(row: Any) -> DataSource:
    r = row._mapping
    return DataSource(
        r["tenant"],
        r["name"],
        r["kind"],
        dict(r["settings"]),
        tuple(r["secret_names"]),
        _utc(r["created_at"]),
        _utc(r["updated_at"]),
    )


class DataSourceStore:
    def __init__(
        self, engine: Engine, keys: KeyRing | None, now: Callable[[], datetime] = utcnow
    ) -> None:
        """``keys`` may be None when no key is configured: sources without secrets still work."""
        self.engine = engine
        self.keys = keys
        self.now = now

    def __repr__(self) -> str:
        return "DataSourceStore()"

    def _seal(self, secrets: Mapping[str, str]) -> str | None:
        if not secrets:
            return None
        if self.keys is None:
            raise InvalidSource(
                ["secrets: no datasets key is configured, so credentials cannot be stored"]
            )
        return self.keys.encrypt(secrets)

    def create(
        self,
        tenant: str,
        name: str,
        kind: str,
        settings: Mapping[str, Any],
        secrets: Mapping[str, str] | None = None,
    ) -> DataSource:
        if not NAME.match(name):
            raise InvalidSource(
                [
                    "name: lowercase letters, digits, - and _, at most 63, starting and ending "
                    "with a letter or digit"
                ]
            )
        clean, secret_values = validate(kind, settings, secrets)
        now = self.now()
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(_T).values(
                        tenant=tenant,
                        name=name,
                        kind=kind,
                        settings=clean,
                        secrets=self._seal(secret_values),
                        secret_names=sorted(secret_values),
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            raise SourceExists(f"tenant {tenant!r} already has a data source {name!r}") from None
        return self.get(tenant, name)

    def update(
        self,
        tenant: str,
        name: str,
        settings: Mapping[str, Any] | None = None,
        secrets: Mapping[str, str | None] | None = None,
    ) -> DataSource:
        """New settings and/or credentials.

        Credentials not named in ``secrets`` are kept; one given as ``""`` or None
        is removed. A password written in a new SQL URL replaces the stored one.
        """
        current = self.get(tenant, name)
        given = dict(secrets or {})
        removed = {k for k, v in given.items() if not v}
        clean, new_secrets = validate(
            current.kind,
            settings if settings is not None else current.settings,
            {k: v for k, v in given.items() if v},
        )
        kept = {k: v for k, v in self._secrets(tenant, name).items() if k not in removed}
        merged = {**kept, **new_secrets}
        with self.engine.begin() as conn:
            conn.execute(
                update(_T)
                .where(_T.c.tenant == tenant, _T.c.name == name)
                .values(
                    settings=clean,
                    secrets=self._seal(merged),
                    secret_names=sorted(merged),
                    updated_at=self.now(),
                )
            )
        return self.get(tenant, name)

    def get(self, tenant: str, name: str) -> DataSource:
        with self.engine.connect() as conn:
            row = conn.execute(select(_T).where(_T.c.tenant == tenant, _T.c.name == name)).first()
        if row is None:
            raise SourceNotFound(f"tenant {tenant!r} has no data source {name!r}")
        return _out(row)

    def list(self, tenant: str) -> list[DataSource]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(_T).where(_T.c.tenant == tenant).order_by(_T.c.name))
            return [_out(r) for r in rows]

    def delete(self, tenant: str, name: str) -> None:
        with self.engine.begin() as conn:
            gone = conn.execute(delete(_T).where(_T.c.tenant == tenant, _T.c.name == name))
        if not gone.rowcount:
            raise SourceNotFound(f"tenant {tenant!r} has no data source {name!r}")

    def remove_tenant(self, tenant: str) -> int:
        """Delete every source of ``tenant`` (the tenant is being deleted), with its
        credentials; their number. A tenant created later under the same name starts
        with none."""
        with self.engine.begin() as conn:
            gone = conn.execute(delete(_T).where(_T.c.tenant == tenant))
        return int(gone.rowcount or 0)

    def _secrets(self, tenant: str, name: str) -> dict[str, str]:
        with self.engine.connect() as conn:
            token = conn.execute(
                select(_T.c.secrets).where(_T.c.tenant == tenant, _T.c.name == name)
            ).scalar()
        if not token:
            return {}
        if self.keys is None:
            raise InvalidSource(["secrets: no datasets key is configured to read credentials"])
        return dict(self.keys.decrypt(token))

    def connector(
        self,
        tenant: str,
        name: str,
        limits: Limits | None = None,
        spark: Callable[[], Any] | None = None,
    ) -> Connector:
        """The source's connector, with its credentials decrypted for it alone."""
        source = self.get(tenant, name)
        return build(source.kind, source.settings, self._secrets(tenant, name), limits, spark=spark)

    def reencrypt(self) -> int:
        """Encrypt every stored credential blob with the first key (key rotation); the count."""
        if self.keys is None:
            return 0
        done = 0
        with self.engine.begin() as conn:
            rows = conn.execute(select(_T.c.id, _T.c.secrets).where(_T.c.secrets.is_not(None)))
            for row_id, token in rows.all():
                conn.execute(
                    update(_T).where(_T.c.id == row_id).values(secrets=self.keys.rotate(token))
                )
                done += 1
        return done
