"""Alembic environment for the platform tables.

The version table is ``tenanthub_alembic_version`` so TenantHub's migrations
and JupyterHub's (``alembic_version``) can live in one database.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from hub.tenancy.models import Base

VERSION_TABLE = "tenanthub_alembic_version"
config = context.config
connection = config.attributes.get("connection")

if connection is None:
    engine = engine_from_config(
        config.get_section(config.config_ini_section) or {},
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with engine.connect() as conn:
        context.configure(
            connection=conn,
            target_metadata=Base.metadata,
            version_table=VERSION_TABLE,
            render_as_batch=True,
        )
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()
