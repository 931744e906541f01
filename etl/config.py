"""jobs.yaml -> frozen, validated job settings. Nothing past this module sees a raw dict.

The whole file is validated before any database is touched: an unknown key, a
missing `source`/`target`, a bad type or an unset `${VAR}` makes the whole file
invalid, and the message names the job and the key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from etl.bookkeeping import CONTENT, MODIFIED
from etl.errors import ConfigError
from etl.translate import KINDS
from etl.translate.paths import ExtraColumn, compile_path

DEFAULT_PATH = "jobs.yaml"
CONFIG_ENV = "ETL_CONFIG"

# ${VAR} or ${VAR:-default}, as in the shell.
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_JOB_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
# Table names end up in SQL text; only plain identifiers are accepted.
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# A bare mysql:// means mysqlclient to SQLAlchemy, a bare postgresql:// psycopg2; we ship PyMySQL and psycopg 3.
_DEFAULT_DRIVERS = {"mysql": "mysql+pymysql", "mariadb": "mariadb+pymysql", "postgresql": "postgresql+psycopg"}
# What each side may be: the pushes live in Jushita's MySQL (or a landing table, or the demo's SQLite);
# the OMS may also be PostgreSQL.
_SUPPORTED = {"source": ("mysql", "mariadb", "sqlite"), "target": ("mysql", "mariadb", "sqlite", "postgresql")}
_SUPPORTED_NAMES = {"source": "MySQL/MariaDB and SQLite", "target": "MySQL/MariaDB, PostgreSQL and SQLite"}


def database_url(value: str, role: str = "target") -> URL:
    """`value` as the URL the job connects with, for a `role` ("source" or "target") database: its driver
    the one we ship where it names none (PyMySQL, psycopg 3); ValueError, saying why, if it cannot serve."""
    try:
        # postgres:// is what Heroku-style environments hand out; SQLAlchemy knows only postgresql://.
        url = make_url(re.sub(r"^postgres(?=[:+])", "postgresql", value))
    except ArgumentError:
        raise ValueError("is not a database URL (dialect+driver://user:password@host:port/database)") from None
    backend = url.get_backend_name()
    if backend not in _SUPPORTED[role]:
        raise ValueError(f"uses {backend!r}; supported {role} databases are {_SUPPORTED_NAMES[role]}")
    if url.drivername in _DEFAULT_DRIVERS:
        url = url.set(drivername=_DEFAULT_DRIVERS[url.drivername])
    elif backend == "postgresql" and url.get_driver_name() != "psycopg":
        raise ValueError(f"uses the driver {url.get_driver_name()!r}; PostgreSQL targets are written with psycopg 3 "
                         "(postgresql:// or postgresql+psycopg://)")
    return url


class JobConfig(BaseModel):
    """One job: where pushes come from, where the OMS tables are, and how to read."""

    # arbitrary types: a compiled JMESPath expression (ExtraColumn) is no pydantic type.
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    name: str
    # repr=False: a URL may carry a password, and a repr ends up in logs.
    source: str = Field(repr=False)
    target: str = Field(repr=False)
    kind: str = "tb_trade"
    # The source table and its columns; left out, they are the kind's (see etl.kinds.KINDS).
    table: str
    key_column: str
    modified_column: str
    json_column: str
    # The column holding each row's content hash; None: Jushita's jdp_hashcode where the table has it,
    # else the job hashes each document it reads (see etl.translate.push.Push).
    hash_column: str | None = None
    sellers: tuple[str, ...] | None = None
    # 1,000: with two workers, batches of 2,000 are slower and take more memory; with one process the
    # size makes no difference (bench/RESULTS.md).
    batch_size: int = Field(1000, ge=1, le=50_000)
    lookback_seconds: int = Field(300, ge=0, le=30 * 86_400)
    batch_bytes: int = Field(64 * 2**20, ge=2**20, le=2**30)
    start_from: datetime | None = None
    enabled: bool = True
    retries: int = Field(5, ge=0, le=100)
    retry_wait_seconds: float = Field(1.0, ge=0, le=300)
    max_rejects: int | None = Field(None, ge=0)
    max_reject_share: float | None = Field(None, gt=0, le=1)
    load_data: bool = True
    # Processes per run; "auto": the machine's cores (at most 4), for a window large enough to pay for them.
    workers: int | Literal["auto"] = "auto"
    # Target columns of the user's own (sql/local/), each fed from a JSON path: {table: {column: path}} in
    # jobs.yaml, each path compiled here.
    extra_columns: tuple[ExtraColumn, ...] = ()
    # oms_trade.ext keeps every trade field the translator did not map (~3 KB a trade); false writes NULL.
    keep_ext: bool = True

    @field_validator("source", "target")
    @classmethod
    def _check_url(cls, value: str, info: ValidationInfo) -> str:
        return database_url(value, info.field_name).render_as_string(hide_password=False)

    @field_validator(
        "batch_size", "lookback_seconds", "batch_bytes", "retries", "max_rejects",
        "retry_wait_seconds", "max_reject_share", mode="before",
    )
    @classmethod
    def _no_bool(cls, value: Any) -> Any:
        # YAML `yes` is a bool, and pydantic would read it as 1.
        if isinstance(value, bool):
            raise ValueError("must be a number, not a boolean")
        return value

    @field_validator("workers", mode="before")
    @classmethod
    def _check_workers(cls, value: Any) -> Any:
        # One sentence for both forms, rather than pydantic's one per member of the union.
        if value == "auto" or type(value) is int and 1 <= value <= 32:
            return value
        cls._no_bool(value)
        raise ValueError(f"should be greater than or equal to 1 and at most 32, or auto (got {value!r})")

    @field_validator("kind")
    @classmethod
    def _check_kind(cls, value: str) -> str:
        if value not in KINDS:
            raise ValueError(f"is not a known kind (known: {', '.join(sorted(KINDS))})")
        return value

    @field_validator("table", "key_column", "modified_column", "json_column", "hash_column")
    @classmethod
    def _check_identifier(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not _IDENTIFIER.match(value):
            what = "table" if info.field_name == "table" else "column"
            raise ValueError(f"is not a plain {what} name (letters, digits and _)")
        return value

    @model_validator(mode="before")
    @classmethod
    def _source_defaults(cls, data: Any) -> Any:
        # The kind's standard push table and columns fill in what the job leaves out; a kind
        # without a standard table (alibaba_order) leaves `table` required.
        name = data.get("kind", "tb_trade") if isinstance(data, Mapping) else None
        kind = KINDS.get(name) if isinstance(name, str) else None
        if kind is None:
            return data  # not a mapping, or an unknown kind: the field validators say why
        standard = {"table": kind.source.table, "key_column": kind.source.key,
                    "modified_column": kind.source.modified, "json_column": kind.source.json}
        return {**{key: value for key, value in standard.items() if value is not None}, **data}

    @field_validator("extra_columns", mode="before")
    @classmethod
    def _compile_extra_columns(cls, value: Any, info: ValidationInfo) -> Any:
        kind = KINDS.get(info.data.get("kind", ""))
        if kind is None:
            return ()  # the kind's own error says why
        if not isinstance(value, Mapping):
            raise ValueError("must map tables to {column: path}")
        compiled = []
        for table, columns in value.items():
            if not isinstance(columns, Mapping) or not columns:
                raise ValueError(f"{table} must map at least one column to its path")
            for column, path in columns.items():
                if not isinstance(column, str) or not _IDENTIFIER.match(column):
                    raise ValueError(f"{table}: {column!r} is not a plain column name (letters, digits and _)")
                if not isinstance(path, str):
                    raise ValueError(f"{table}.{column}: the path must be text, not {path!r}")
                try:
                    expression = compile_path(kind, table, path)
                except ValueError as error:
                    raise ValueError(f"{table}.{column}: {error}") from None
                written = (*kind.columns.get(table, ()), *((MODIFIED, CONTENT) if table == kind.parent else ()))
                if column in written:
                    raise ValueError(f"{table}.{column} is a column the {kind.name} job writes itself; "
                                     "give the extra column another name")
                compiled.append(ExtraColumn(table, column, path, expression))
        return tuple(compiled)

    @field_validator("sellers")
    @classmethod
    def _check_sellers(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and (not value or any(not nick.strip() for nick in value)):
            raise ValueError("must list at least one non-empty seller_nick (or be left out for all sellers)")
        return value

    @property
    def source_columns(self) -> tuple[str, str, str]:
        """The source table's key, modified-time and JSON columns."""
        return (self.key_column, self.modified_column, self.json_column)

    @property
    def source_url(self) -> URL:
        return make_url(self.source)

    @property
    def target_url(self) -> URL:
        return make_url(self.target)


class Config(BaseModel):
    """Every job of one jobs.yaml, in file order."""

    model_config = ConfigDict(frozen=True)

    path: str
    jobs: tuple[JobConfig, ...]

    def select(self, names: Sequence[str] = ()) -> list[JobConfig]:
        """The named jobs (all enabled ones when none are named); an unknown name is an error."""
        by_name = {job.name: job for job in self.jobs}
        unknown = [name for name in names if name not in by_name]
        if unknown:
            raise ConfigError(
                f"unknown job {', '.join(map(repr, unknown))} in {self.path} "
                f"(jobs: {', '.join(by_name) or 'none'})"
            )
        if names:
            return [by_name[name] for name in dict.fromkeys(names)]
        return [job for job in self.jobs if job.enabled]

    def job(self, name: str) -> JobConfig:
        return self.select([name])[0]


class _UnsetVariable(Exception):
    def __init__(self, key: str, variable: str) -> None:
        super().__init__(key, variable)
        self.key, self.variable = key, variable


def _expand(value: Any, environ: Mapping[str, str], key: str = "") -> Any:
    """Expand ${VAR} in every string of the tree; an unset variable reports the key it was used in."""
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            # As in the shell: ${VAR:-default} takes the default when VAR is unset or empty.
            if environ.get(name) or (name in environ and default is None):
                return environ[name]
            if default is not None:
                return default
            raise _UnsetVariable(key, name)

        return _VARIABLE.sub(substitute, value)
    if isinstance(value, Mapping):
        return {name: _expand(item, environ, f"{key}.{name}" if key else str(name)) for name, item in value.items()}
    if isinstance(value, list):
        return [_expand(item, environ, f"{key}[{index}]") for index, item in enumerate(value)]
    return value


def _describe(error: ValidationError, job: str) -> str:
    lines = []
    for problem in error.errors():
        key = ".".join(str(part) for part in problem["loc"]) or "(job)"
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "is not a known key"
        elif problem["type"] == "missing":
            message = "is required"
        else:
            # A URL may hold a password; extra_columns' messages name the column and path already.
            shown = key not in ("source", "target") and not key.startswith("extra_columns")
            message = f"{message} (got {problem['input']!r})" if shown else message
        lines.append(f"job {job!r}: key {key!r} {message}")
    return "; ".join(lines)


def parse_config(document: Any, path: str, environ: Mapping[str, str] | None = None) -> Config:
    """Validate a parsed jobs.yaml document (see `load_config`)."""
    environ = os.environ if environ is None else environ
    if not isinstance(document, Mapping):
        raise ConfigError(f"{path}: expected a mapping with a `jobs:` key")
    unknown = sorted(set(document) - {"jobs", "defaults"})
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key {', '.join(map(repr, unknown))} (expected jobs, defaults)")
    defaults = document.get("defaults") or {}
    jobs = document.get("jobs")
    if not isinstance(defaults, Mapping):
        raise ConfigError(f"{path}: `defaults` must be a mapping of job keys")
    if not isinstance(jobs, Mapping) or not jobs:
        raise ConfigError(f"{path}: `jobs` must map at least one job name to its settings")
    parsed = []
    for name, settings in jobs.items():
        name = str(name)
        if not _JOB_NAME.match(name):
            raise ConfigError(f"{path}: job name {name!r} must be 1-64 letters, digits, '_', '-' or '.'")
        if not isinstance(settings, Mapping):
            raise ConfigError(f"{path}: job {name!r} must be a mapping of settings")
        merged = {**defaults, **settings}
        if "name" in merged:
            raise ConfigError(f"{path}: job {name!r}: key 'name' is not a known key (the job's name is its key)")
        try:
            merged = _expand(merged, environ)
        except _UnsetVariable as unset:
            raise ConfigError(
                f"{path}: job {name!r}: key {unset.key!r} uses ${{{unset.variable}}}, which is not set"
            ) from None
        try:
            parsed.append(JobConfig(name=name, **merged))
        except ValidationError as error:
            raise ConfigError(f"{path}: {_describe(error, name)}") from None
    return Config(path=path, jobs=tuple(parsed))


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate jobs.yaml: `path`, else $ETL_CONFIG, else ./jobs.yaml."""
    chosen = Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_PATH)
    try:
        text = chosen.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {chosen} not found (use --config PATH or set {CONFIG_ENV})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"config file {chosen} cannot be read: {error}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{chosen} is not valid YAML: {error}") from None
    return parse_config(document, str(chosen))
