"""Real databases for the tests: SQLite files, and MySQL/MariaDB.

MySQL comes from ETL_TEST_MYSQL_URL (a server URL; each test gets its own fresh
databases on it), else from a testcontainers MySQL 8 container when Docker answers,
else its tests are skipped with the reason; with CI=true a skip is an error.

Every test that needs the server is marked `mysql`, so that `-m "not mysql"` runs the others
without one; a test that reaches the server unmarked fails, naming itself.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from etl.config import JobConfig, parse_config
from etl.database.engines import source_engine, target_engine
from etl.database.tables import reflect, upsert
from etl.schema import apply_sql, init_target, sql_file

MYSQL_ENV = "ETL_TEST_MYSQL_URL"


def _docker_mysql() -> Iterator[str] | None:
    try:
        import docker

        docker.from_env().ping()
    except Exception:  # no Docker engine here: the caller reports why MySQL tests cannot run
        return None
    from testcontainers.mysql import MySqlContainer

    def serve() -> Iterator[str]:
        with MySqlContainer("mysql:8.0", username="root", password="test") as container:
            url = sa.make_url(container.get_connection_url())
            yield url.set(drivername="mysql+pymysql", database=None).render_as_string(hide_password=False)

    return serve()


SERVER_FIXTURES = {"mysql_server", "mysql_dbs"}


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if isinstance(item, pytest.Function) and _needs_server(item):
            item.add_marker(pytest.mark.mysql)


def _needs_server(item: pytest.Function) -> bool:
    """A test of a server fixture, or of a fixture of both backends (dbs) on its "mysql" param:
    that one asks for the server only when it runs."""
    params = item.callspec.params if hasattr(item, "callspec") else {}
    on_mysql = any(value == "mysql" for value in params.values() if isinstance(value, str))
    return on_mysql or bool(SERVER_FIXTURES & set(item.fixturenames))


@pytest.fixture
def mysql_server(request: pytest.FixtureRequest, mysql_service: str) -> str:
    """The server's URL, for a test marked `mysql` only: else `-m "not mysql"` would need a server."""
    if request.node.get_closest_marker("mysql") is None:
        pytest.fail(f"{request.node.nodeid} uses the MySQL server but is not marked mysql (see conftest.py)")
    return mysql_service


@pytest.fixture(scope="session")
def mysql_service() -> Iterator[str]:
    url = os.environ.get(MYSQL_ENV)
    if url:
        yield url
        return
    served = _docker_mysql()
    if served is None:
        reason = f"no MySQL: set {MYSQL_ENV} (e.g. mysql+pymysql://root@127.0.0.1:3306/) or start Docker"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    yield from served


@dataclass
class Databases:
    """A fresh source (with jdp_tb_trade) and a fresh, initialized target."""

    backend: str
    source_url: str
    target_url: str
    make_target: Callable[[], str]

    def other(self) -> Databases:
        """The same source with another fresh target (to compare two runs)."""
        return Databases(self.backend, self.source_url, self.make_target(), self.make_target)

    def job(self, name: str = "tb", **settings: object) -> JobConfig:
        document = {"jobs": {name: {"source": self.source_url, "target": self.target_url, **settings}}}
        return parse_config(document, "test").job(name)

    def config_file(self, folder: Path, jobs: dict[str, dict]) -> Path:
        import yaml

        document = {
            "jobs": {name: {"source": self.source_url, "target": self.target_url, **settings}
                     for name, settings in jobs.items()}
        }
        path = folder / "jobs.yaml"
        path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
        return path

    def push(self, rows: Sequence[dict], table: str = "jdp_tb_trade") -> None:
        """Insert or replace source rows, as Jushita updates its push tables in place."""
        engine = source_engine(sa.make_url(self.source_url))
        table = reflect(engine, [table], role="source")[table]
        with engine.begin() as connection:
            upsert(connection, table, list(rows))
        engine.dispose()

    def select(self, table: str, columns: str, order: str | None = None) -> list[tuple]:
        """Typed rows (datetimes, Decimals) read through the reflected table, as the job reads them."""
        engine = target_engine(sa.make_url(self.target_url))
        reflected = reflect(engine, [table])[table]
        query = sa.select(*(reflected.c[name.strip()] for name in columns.split(",")))
        if order:
            query = query.order_by(*(reflected.c[name.strip()] for name in order.split(",")))
        with engine.connect() as connection:
            result = [tuple(row) for row in connection.execute(query)]
        engine.dispose()
        return result

    def query(self, sql: str, **params: object) -> list[tuple]:
        engine = target_engine(sa.make_url(self.target_url))
        with engine.connect() as connection:
            result = [tuple(row) for row in connection.execute(sa.text(sql), params)]
        engine.dispose()
        return result

    def execute(self, *statements: str, **params: object) -> None:
        """Change the target by hand, as an operator (or a lost row) would, in one transaction."""
        engine = sa.create_engine(self.target_url)
        with engine.begin() as connection:
            for statement in statements:
                connection.execute(sa.text(statement), params)
        engine.dispose()

    def dump(self, table: str, order: str) -> list[tuple]:
        engine = target_engine(sa.make_url(self.target_url))
        columns = ",".join(reflect(engine, [table])[table].c.keys())
        engine.dispose()
        return self.select(table, columns, order)


def _make_source(url: str, dialect: str) -> str:
    engine = source_engine(sa.make_url(url))
    with engine.begin() as connection:
        apply_sql(connection, sql_file("source", f"{dialect}.sql"))
    engine.dispose()
    return url


def _make_target(url: str) -> str:
    engine = target_engine(sa.make_url(url), create=True)
    init_target(engine)
    engine.dispose()
    return url


def _databases(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Databases]:
    if backend == "sqlite":
        (tmp_path / "jdp.db").touch()
        targets = iter(range(1, 100))
        yield Databases(
            "sqlite",
            _make_source(f"sqlite:///{tmp_path / 'jdp.db'}", "sqlite"),
            _make_target(f"sqlite:///{tmp_path / 'oms.db'}"),
            lambda: _make_target(f"sqlite:///{tmp_path / f'oms{next(targets)}.db'}"),
        )
        return
    server = sa.make_url(request.getfixturevalue("mysql_server"))
    admin = sa.create_engine(server.set(database=None))
    prefix = f"etl_t_{uuid.uuid4().hex[:10]}"
    created: list[str] = []

    def database(role: str) -> str:
        name = f"{prefix}_{role}{len(created)}"
        with admin.begin() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
        created.append(name)
        return server.set(database=name).render_as_string(hide_password=False)

    try:
        yield Databases(
            "mysql",
            _make_source(database("src"), "mysql"),
            _make_target(database("oms")),
            lambda: _make_target(database("oms")),
        )
    finally:
        with admin.begin() as connection:
            for name in created:
                connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        admin.dispose()


@pytest.fixture(params=["sqlite", "mysql"])
def dbs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Databases]:
    """Each test using it runs on SQLite and on MySQL/MariaDB."""
    yield from _databases(request.param, request, tmp_path)


@pytest.fixture
def mysql_dbs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Databases]:
    """For what only a server has: killed connections, users and grants."""
    yield from _databases("mysql", request, tmp_path)
