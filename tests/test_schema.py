"""`etl init` upgrades a target made by an older version, keeping its rows, on SQLite and MySQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest
import sqlalchemy as sa

from etl.database import target_engine
from etl.errors import NotInitialized
from etl.schema import apply_sql, check_up_to_date, init_target, migrations

T0 = datetime(2026, 11, 11, 10, 0, 0)


@pytest.fixture(params=["sqlite", "mysql"])
def empty_target(request, tmp_path) -> Iterator[sa.Engine]:
    """An engine on an empty target database."""
    if request.param == "sqlite":
        engine = target_engine(sa.make_url(f"sqlite:///{tmp_path / 'old.db'}"), create=True)
        yield engine
        engine.dispose()
        return
    server = sa.make_url(request.getfixturevalue("mysql_server"))
    name = f"etl_t_{uuid.uuid4().hex[:10]}_old"
    admin = sa.create_engine(server.set(database=None))
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    engine = target_engine(server.set(database=name))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        admin.dispose()


def _first_version_only(engine: sa.Engine) -> None:
    """The target as the first release left it: migration 0001 applied and recorded, with rows."""
    first = migrations(engine.dialect.name)[0]
    with engine.begin() as connection:
        apply_sql(connection, first.text)
        connection.exec_driver_sql(
            "CREATE TABLE etl_schema (version INT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, "
            "applied_at DATETIME NOT NULL)"
        )
        connection.execute(sa.text("INSERT INTO etl_schema VALUES (1, :name, :now)"), {"name": first.name, "now": T0})
        connection.execute(sa.text(
            "INSERT INTO oms_trade (tid, oms_status, jdp_modified) VALUES (4012345678901234567, 'TO_SHIP', :t)"
        ), {"t": T0})
        connection.execute(sa.text(
            "INSERT INTO etl_reject (job, tid, error, first_seen, last_seen) VALUES ('tb', 7, 'bad', :t, :t)"
        ), {"t": T0})
        connection.execute(sa.text(
            "INSERT INTO etl_watermark (job, jdp_modified, tid, updated_at) VALUES ('tb', :t, 7, :t)"
        ), {"t": T0})


def test_init_upgrades_an_old_target_and_keeps_its_rows(empty_target):
    _first_version_only(empty_target)
    applied = init_target(empty_target)
    assert applied == [migration.name for migration in migrations(empty_target.dialect.name)[1:]]
    with empty_target.connect() as connection:
        assert connection.exec_driver_sql("SELECT tid, platform FROM oms_trade").all() == [
            (4012345678901234567, "taobao")]
        assert connection.exec_driver_sql("SELECT tid, key_text FROM etl_reject").all() == [(7, "")]
        assert connection.exec_driver_sql("SELECT tid, key_text FROM etl_watermark").all() == [(7, None)]
        assert connection.exec_driver_sql("SELECT COUNT(*) FROM oms_refund").scalar() == 0
    assert init_target(empty_target) == []


def test_a_job_refuses_a_target_older_than_its_schema_until_init(empty_target):
    _first_version_only(empty_target)
    with empty_target.connect() as connection, pytest.raises(NotInitialized, match="lacks 0002_kinds.sql, 0003_ext.sql"):
        check_up_to_date(connection)
    init_target(empty_target)
    with empty_target.connect() as connection:
        check_up_to_date(connection)


# SQLite applies a migration in one transaction: it has no half-way.
@pytest.mark.parametrize("empty_target", ["mysql"], indirect=True)
def test_a_migration_cut_off_half_way_applies_again_from_the_top(empty_target):
    """MySQL commits each DDL statement: a second `init` after a failure meets what the first added."""
    init_target(empty_target)
    second = migrations(empty_target.dialect.name)[1]
    with empty_target.begin() as connection:
        apply_sql(connection, second.text)
