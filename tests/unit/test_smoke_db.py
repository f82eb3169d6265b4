from hub.tenancy import db


def test_migrations_reach_head_on_both_databases(db_url: str) -> None:
    engine = db.make_engine(db_url)
    assert db.current_revision(engine) is None
    db.upgrade(engine)
    db.upgrade(engine)  # idempotent
    assert db.current_revision(engine) == db.head_revision()
