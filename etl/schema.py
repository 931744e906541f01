"""`etl init`: apply the DDL in sql/ to a target, once per migration, in order; then the user's own.

sql/<dialect>/NNNN_name.sql are the migrations; etl_schema records which were
applied, so `init` both creates a new target and upgrades an old one. Each file is
safe to re-apply (IF NOT EXISTS, and `apply_sql` skipping a column or key that exists),
because MySQL cannot roll DDL back; SQLite and PostgreSQL apply a migration in one transaction.

The user's DDL (the columns of a job's `extra_columns`, indexes of their own) lives in
sql/local/*.sql next to jobs.yaml: applied after ours, once per file in name order, and
recorded in etl_local_sql with a checksum, so that an edited file is reported rather than
silently ignored or applied twice (as Flyway does: add a new file instead).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import sqlalchemy as sa
import sqlparse
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlparse import tokens

from etl.clock import utcnow
from etl.config import JobConfig
from etl.context import open_job
from etl.database.engines import masked
from etl.database.faults import describe_failure, error_code
from etl.database.literals import AS_IS
from etl.errors import ConfigError, DatabaseUnavailable, NotInitialized

LOCAL_FOLDER = Path("sql", "local")
_MIGRATION = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# The mysql client's directive, on a line of its own: `DELIMITER //` ... `DELIMITER ;`. It is the
# client's, not SQL: neither the server nor sqlparse knows it.
_DELIMITER = re.compile(r"^[ \t]*DELIMITER[ \t]+(\S+)[ \t]*$", re.IGNORECASE | re.MULTILINE)
# MySQL: duplicate column name, duplicate key name, a key to drop that is gone (MySQL has no ADD COLUMN
# IF NOT EXISTS, nor DROP INDEX IF EXISTS).
_ALREADY_APPLIED = {1060, 1061, 1091}
_DIALECT_FOLDERS = {"mysql": "mysql", "mariadb": "mysql", "sqlite": "sqlite", "postgresql": "postgresql"}
_SCHEMA_TABLE = """CREATE TABLE IF NOT EXISTS etl_schema (
  version    INT          NOT NULL PRIMARY KEY,
  name       VARCHAR(255) NOT NULL,
  applied_at {datetime}     NOT NULL
)"""
# PostgreSQL has no DATETIME; TIMESTAMP(0) keeps whole seconds as DATETIME does.
_DATETIME = {"postgresql": "TIMESTAMP(0)"}


def split_statements(text: str) -> list[str]:
    """The statements of an SQL file, without their final `;` and the ones that are only comments.

    sqlparse reads quotes, comments and BEGIN ... END bodies, so a trigger's or a procedure's
    inner `;` do not end it. A file written for the mysql client may also set another delimiter:
    after `DELIMITER //` a statement ends with `//` at the end of a line (as such files are
    written), until `DELIMITER ;`.
    """
    parts = _DELIMITER.split(text)  # the text between directives, each directive's delimiter
    statements = []
    for delimiter, part in zip([";", *parts[1::2]], parts[::2]):
        if delimiter == ";":
            statements += sqlparse.split(part, strip_semicolon=True)
        else:
            statements += re.split(rf"{re.escape(delimiter)}[ \t]*$", part, flags=re.MULTILINE)
    return [statement.strip() for statement in statements if not _only_comments(statement)]


def _only_comments(statement: str) -> bool:
    # MySQL runs what is inside /*! ... */ (a dump's SET NAMES): that is a statement.
    return all(
        kind in tokens.Whitespace or (kind in tokens.Comment and not value.startswith("/*!"))
        for kind, value in sqlparse.lexer.tokenize(statement)
    )


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
            connection.exec_driver_sql(statement, execution_options=AS_IS)
        except DBAPIError as error:
            if error_code(error) not in _ALREADY_APPLIED:
                raise


def init_target(engine: Engine, local: Path | None = None) -> list[str]:
    """Apply the migrations this target lacks, then the files of the `local` folder it lacks;
    returns their names (none when up to date)."""
    applied_now = []
    with engine.begin() as connection:
        connection.exec_driver_sql(_SCHEMA_TABLE.format(datetime=_DATETIME.get(engine.dialect.name, "DATETIME")))
    schema = sa.Table("etl_schema", sa.MetaData(), autoload_with=engine)
    with engine.begin() as connection:
        done = _applied_versions(connection)
    for migration in migrations(engine.dialect.name):
        if migration.version in done:
            continue
        with engine.begin() as connection:
            apply_sql(connection, migration.text)
            connection.execute(
                sa.insert(schema).values(version=migration.version, name=migration.name, applied_at=utcnow())
            )
        applied_now.append(migration.name)
    if local is not None and local.is_dir():
        applied_now.extend(_apply_local(engine, local))
    return applied_now


def init_targets(jobs: Iterable[JobConfig], local: Path | None = None) -> Iterator[tuple[str, list[str]]]:
    """`init_target` on every target the jobs name, once each: (the target's URL, password masked, and
    what was applied to it), one target at a time."""
    done = set()
    for job in jobs:
        if job.target in done:
            continue
        done.add(job.target)
        with open_job(job, create=True) as opened, opened.on_target():
            yield masked(job.target_url), init_target(opened.target_engine, local)


def _apply_local(engine: Engine, folder: Path) -> list[str]:
    table = sa.Table("etl_local_sql", sa.MetaData(), autoload_with=engine)
    with engine.begin() as connection:
        done = {name: digest for name, digest in connection.execute(sa.select(table.c.name, table.c.sha256))}
    applied_now = []
    for path in sorted(folder.glob("*.sql")):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"{path} cannot be read: {error}") from None
        digest = hashlib.sha256(text.encode()).hexdigest()
        if path.name in done:
            if done[path.name] != digest:
                raise ConfigError(
                    f"{path} changed after it was applied to this target; it is not applied again: "
                    "put the new DDL in a new file (files apply once each, in name order)"
                )
            continue
        try:
            with engine.begin() as connection:
                apply_sql(connection, text)
                connection.execute(sa.insert(table).values(name=path.name, sha256=digest, applied_at=utcnow()))
        except DBAPIError as error:
            if isinstance(describe_failure(error, "target", engine.url), DatabaseUnavailable):
                raise
            # The user's DDL is wrong (a typo, a column of another dialect): say which file.
            raise ConfigError(f"{path}: the target refused it: {error.orig}") from None
        applied_now.append(f"{LOCAL_FOLDER / path.name}")
    return applied_now


def _applied_versions(connection: sa.Connection) -> set[int]:
    return set(connection.execute(sa.text("SELECT version FROM etl_schema")).scalars())


def check_up_to_date(connection: sa.Connection) -> None:
    """A job refuses to write a target whose schema is older than this version's (`etl init` upgrades it)."""
    if not sa.inspect(connection).has_table("etl_schema"):
        raise NotInitialized("the target has no etl_schema table: run `etl init` to upgrade it (it keeps every row)")
    done = _applied_versions(connection)
    missing = [migration.name for migration in migrations(connection.dialect.name) if migration.version not in done]
    if missing:
        raise NotInitialized(
            f"the target's schema lacks {', '.join(missing)}: run `etl init` to upgrade it (it keeps every row)"
        )
