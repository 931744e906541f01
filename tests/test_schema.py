"""`etl init` upgrades a target made by an older version, keeping its rows, on SQLite and MySQL;
it applies the SQL files, ours and the user's, statement by statement."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from support import etl

from etl.database.engines import open_target, target_engine
from etl.errors import NotInitialized
from etl.schema import apply_sql, check_up_to_date, init_target, migrations, split_statements

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
def test_a_migration_cut_off_half_way_applies_again_from_the_top(empty_target, mysql_dbs):
    """MySQL commits each DDL statement: a second `init` after a failure meets what the first added."""
    target = empty_target
    _first_version_only(target)
    first_version = _tables(target)
    statements = split_statements(migrations(target.dialect.name)[1].text)
    # As an `init` killed in the middle of the second migration leaves the target: each statement
    # it ran is committed, and the migration is not recorded.
    with target.begin() as connection:
        for statement in statements[: len(statements) // 2]:
            connection.exec_driver_sql(statement)
    with open_target(sa.make_url(mysql_dbs.target_url)) as clean:  # a target `init` made in one go
        assert first_version != _tables(target) != _tables(clean)
        assert init_target(target) == [migration.name for migration in migrations(target.dialect.name)[1:]]
        assert _tables(target) == _tables(clean)
    with target.connect() as connection:
        check_up_to_date(connection)
        assert connection.exec_driver_sql("SELECT tid, platform FROM oms_trade").all() == [
            (4012345678901234567, "taobao")]


def _tables(engine: sa.Engine) -> dict[str, str]:
    """MySQL's CREATE TABLE of every table, less the AUTO_INCREMENT counter (rows, not schema)."""
    with engine.connect() as connection:
        names = connection.exec_driver_sql("SHOW TABLES").scalars().all()
        return {
            name: re.sub(r" AUTO_INCREMENT=\d+", "", connection.exec_driver_sql(f"SHOW CREATE TABLE `{name}`").one()[1])
            for name in names
        }


# --- splitting an SQL file ----------------------------------------------------------------------

TRIGGER = """CREATE TRIGGER oms_trade_audit AFTER INSERT ON oms_trade FOR EACH ROW
BEGIN
  INSERT INTO trade_audit VALUES (NEW.tid, 'inserted; first', 1);
  INSERT INTO trade_audit VALUES (NEW.tid, 'inserted; then', 2);
END"""
PROCEDURE = """CREATE PROCEDURE trade_audit_steps(IN trade BIGINT)
BEGIN
  DECLARE steps INT DEFAULT 0;
  SELECT COUNT(*) INTO steps FROM trade_audit WHERE tid = trade;
  IF steps > 0 THEN
    SELECT step, note FROM trade_audit WHERE tid = trade ORDER BY step;
  END IF;
END"""
INDEX = "CREATE INDEX ix_trade_audit_tid ON trade_audit (tid)"
# PostgreSQL's trigger runs a function, whose body is a dollar-quoted string.
FUNCTION = """CREATE FUNCTION oms_trade_audit() RETURNS trigger AS $$
BEGIN
  INSERT INTO trade_audit VALUES (NEW.tid, 'inserted; first', 1);
  INSERT INTO trade_audit VALUES (NEW.tid, 'inserted; then', 2);
  RETURN NEW;
END
$$ LANGUAGE plpgsql"""
PG_TRIGGER = "CREATE TRIGGER oms_trade_audit AFTER INSERT ON oms_trade FOR EACH ROW EXECUTE FUNCTION oms_trade_audit()"
TRIGGERS = {"postgresql": f"{FUNCTION};\n{PG_TRIGGER}"}


@pytest.mark.parametrize(
    "text, statements",
    [
        ("CREATE TABLE a (x INT);\nCREATE TABLE b (y INT);\n", ["CREATE TABLE a (x INT)", "CREATE TABLE b (y INT)"]),
        ("-- why;\nCREATE TABLE a (x INT);\n-- the end;\n", ["-- why;\nCREATE TABLE a (x INT)"]),
        ("ALTER TABLE a ADD c VARCHAR(9) DEFAULT 'x;\ny';\n", ["ALTER TABLE a ADD c VARCHAR(9) DEFAULT 'x;\ny'"]),
        (f"{TRIGGER};\n{INDEX};\n", [TRIGGER, INDEX]),
        (f"{PROCEDURE};\n", [PROCEDURE]),
        (f"DELIMITER //\n{TRIGGER} //\n{PROCEDURE}//\nDELIMITER ;\n{INDEX};\n", [TRIGGER, PROCEDURE, INDEX]),
        (f"delimiter $$\n{PROCEDURE} $$\n", [PROCEDURE]),
        ("/*!40101 SET NAMES utf8mb4 */;\n/* a note */;\n", ["/*!40101 SET NAMES utf8mb4 */"]),
        (f"{FUNCTION};\n{PG_TRIGGER};\n", [FUNCTION, PG_TRIGGER]),
    ],
    ids=["statements", "comment-lines-ending-in-semicolons", "semicolon-ending-a-line-of-a-string", "trigger",
         "procedure", "delimiter", "delimiter-lower-case", "executable-comment", "dollar-quoted-body"],
)
def test_split_statements(text, statements):
    assert split_statements(text) == statements


# --- the user's own DDL: sql/local/ -------------------------------------------------------------

AUDIT = "CREATE TABLE trade_audit (tid BIGINT NOT NULL, note VARCHAR(32) NOT NULL, step INT NOT NULL)"


def _init_with_local(dbs, folder: Path, text: str) -> tuple[int, str, str]:
    (folder / "sql" / "local").mkdir(parents=True)
    (folder / "sql" / "local" / "0001_audit.sql").write_text(text, encoding="utf-8")
    return etl("--config", str(dbs.config_file(folder, {"tb": {}})), "init")


def _insert_trade(dbs, tid: int) -> None:
    dbs.execute("INSERT INTO oms_trade (tid, oms_status, jdp_modified) VALUES (:tid, 'TO_SHIP', :t)", tid=tid, t=T0)


def test_init_applies_a_local_trigger_whose_body_has_semicolons(dbs, tmp_path):
    trigger = TRIGGERS.get(dbs.backend, TRIGGER)
    code, out, err = _init_with_local(dbs, tmp_path, f"-- the seller's own audit\n{AUDIT};\n\n{trigger};\n")
    assert (code, err) == (0, "") and "applied sql/local/0001_audit.sql" in out
    _insert_trade(dbs, 7)
    assert dbs.query("SELECT step, note FROM trade_audit WHERE tid = 7 ORDER BY step") == [
        (1, "inserted; first"), (2, "inserted; then")]


def test_init_applies_a_local_file_written_for_the_mysql_client(mysql_dbs, tmp_path):
    text = f"{AUDIT};\n\nDELIMITER //\n{TRIGGER} //\n\n{PROCEDURE} //\nDELIMITER ;\n\n{INDEX};\n"
    code, out, err = _init_with_local(mysql_dbs, tmp_path, text)
    assert (code, err) == (0, "") and "applied sql/local/0001_audit.sql" in out
    _insert_trade(mysql_dbs, 7)
    assert mysql_dbs.query("CALL trade_audit_steps(7)") == [(1, "inserted; first"), (2, "inserted; then")]
    assert ("ix_trade_audit_tid",) in mysql_dbs.query("SELECT index_name FROM information_schema.statistics "
                                                       "WHERE table_schema = DATABASE() AND table_name = 'trade_audit'")
