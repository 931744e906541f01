"""`etl init`: apply the DDL in sql/ to a target, once per migration, in order.

sql/<dialect>/NNNN_name.sql are the migrations; etl_schema records which were
applied, so `init` both creates a new target and upgrades an old one. Each file is
safe to re-apply (IF NOT EXISTS, and `apply_sql` skipping a column or key that exists),
because MySQL cannot roll DDL back; SQLite applies a migration in one transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from etl.database import error_code
from etl.runs import utcnow

_MIGRATION = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Statements end with `;` at the end of a line; our DDL has no `;` inside a statement.
_STATEMENT_END = re.compile(r";\s*$", re.MULTILINE)
# MySQL: duplicate column name, duplicate key name (MySQL has no ADD COLUMN IF NOT EXISTS).
_ALREADY_APPLIED = {1060, 1061}
_DIALECT_FOLDERS = {"mysql": "mysql", "mariadb": "mysql", "sqlite": "sqlite"}
_SCHEMA_TABLE = """CREATE TABLE IF NOT EXISTS etl_schema (
  version    INT          NOT NULL PRIMARY KEY,
  name       VARCHAR(255) NOT NULL,
  applied_at DATETIME     NOT NULL
)"""


def split_statements(text: str) -> list[str]:
    """The statements of a DDL file, without the ones that are only comments."""
    parts = (part.strip() for part in _STATEMENT_END.split(text))
    return [part for part in parts if part and not all(line.lstrip().startswith("--") for line in part.splitlines())]


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    text: str


def sql_file(*parts: str) -> str:
    """The text of a file under sql/, wherever the package is installed."""
    return resources.files("etl.sql").joinpath(*parts).read_text(encoding="utf-8")


def migrations(dialect: str) -> list[Migration]:
    folder = resources.files("etl.sql").joinpath(_DIALECT_FOLDERS[dialect])
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda migration: migration.version)


def apply_sql(connection: sa.Connection, text: str) -> None:
    """Run the statements of a DDL file. On MySQL each commits as it goes, so a migration that
    failed half-way is applied again from the top: what it already added is skipped."""
    for statement in split_statements(text):
        try:
            connection.exec_driver_sql(statement)
        except DBAPIError as error:
            if error_code(error) not in _ALREADY_APPLIED:
                raise


def init_target(engine: Engine) -> list[str]:
    """Apply the migrations this target lacks; returns their file names (none when up to date)."""
    applied_now = []
    with engine.begin() as connection:
        connection.exec_driver_sql(_SCHEMA_TABLE)
    schema = sa.Table("etl_schema", sa.MetaData(), autoload_with=engine)
    with engine.begin() as connection:
        done = set(connection.execute(sa.select(schema.c.version)).scalars())
    for migration in migrations(engine.dialect.name):
        if migration.version in done:
            continue
        with engine.begin() as connection:
            apply_sql(connection, migration.text)
            connection.execute(
                sa.insert(schema).values(version=migration.version, name=migration.name, applied_at=utcnow())
            )
        applied_now.append(migration.name)
    return applied_now
