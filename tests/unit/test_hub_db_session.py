"""hub.app.db_session on a real SQLAlchemy session: a read-only transaction is ended (its
connection goes back to the pool), one with pending writes is left to its handler."""

from __future__ import annotations

from sqlalchemy import Column, Integer, String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Session

from hub.app.db_session import release_idle_transaction


class Base(DeclarativeBase):
    pass


class Row(Base):
    __tablename__ = "rows"
    id = Column(Integer, primary_key=True)
    name = Column(String)


def session() -> Session:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    made = Session(engine, expire_on_commit=False)
    made.add(Row(id=1, name="a"))
    made.commit()
    return made


def test_a_read_only_transaction_is_ended_and_its_objects_stay_usable() -> None:
    db = session()
    row = db.scalars(select(Row)).one()
    assert db.in_transaction()
    assert release_idle_transaction(db) is True
    assert not db.in_transaction()
    assert row.name == "a"  # expire_on_commit=False, as JupyterHub's session


def test_pending_writes_are_never_committed_by_the_release() -> None:
    db = session()
    row = db.scalars(select(Row)).one()
    row.name = "changed"
    assert release_idle_transaction(db) is False
    db.add(Row(id=2, name="new"))
    assert release_idle_transaction(db) is False
    db.rollback()
    assert db.scalars(select(Row.name).order_by(Row.id)).all() == ["a"]


def test_no_transaction_nothing_to_do() -> None:
    db = session()
    assert not db.in_transaction()
    assert release_idle_transaction(db) is False
