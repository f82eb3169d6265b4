"""Engine and migrations of the platform database.

SQLite (the default, one file under the data dir) and PostgreSQL are both
supported; URLs written ``postgresql://`` use the psycopg 3 driver.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "tenanthub_alembic_version"


def normalize_db_url(url: str) -> str:
    """Pick the psycopg 3 driver for plain ``postgresql://`` URLs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def default_db_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'tenanthub.sqlite'}"


def make_engine(url: str) -> Engine:
    """An engine usable from the hub's worker threads."""
    url = normalize_db_url(url)
    if url.startswith("sqlite"):
        # no pool_pre_ping: a connection to a local file does not go stale, and the
        # extra SELECT 1 per checkout doubled the statements of a spawn's lookup
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def known_revisions() -> list[str]:
    """Every schema revision this code has a migration for, oldest first."""
    script = ScriptDirectory.from_config(_alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer TenantHub than this one: nothing may start on it."""

    def __init__(self, revision: str, head: str) -> None:
        from hub import __version__

        super().__init__(
            f"the platform database is at schema revision {revision!r}, which TenantHub "
            f"{__version__} does not know (its newest revision is {head!r}): a newer TenantHub "
            "upgraded this database. Run that version (or newer), or restore a backup made "
            "before that upgrade; this version refuses to start so it cannot damage the data."
        )
        self.revision = revision
        self.head = head


def check_not_newer(engine: Engine) -> str | None:
    """The database's revision (None: empty); SchemaTooNew when this code does not know it."""
    revision = current_revision(engine)
    if revision is not None and revision not in known_revisions():
        raise SchemaTooNew(revision, head_revision())
    return revision


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the platform tables to ``revision`` (idempotent).

    Refused with SchemaTooNew, nothing changed, on a database a newer version migrated.
    """
    check_not_newer(engine)
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
