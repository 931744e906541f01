"""Real databases for the tests: SQLite files, MySQL/MariaDB, and PostgreSQL as a target.

MySQL comes from ETL_TEST_MYSQL_URL (a server URL; each test gets its own fresh
databases on it), else from a testcontainers MySQL 8 container when Docker answers,
else its tests are skipped with the reason; with CI=true a skip is an error. PostgreSQL
comes from ETL_TEST_POSTGRESQL_URL alike (else a PostgreSQL 15 container); its tests read
their pushes from MySQL, as a PostgreSQL OMS reads Jushita's.

Every test that needs a server is marked `mysql` (and `postgresql`), so that
`-m "not mysql and not postgresql"` runs the others without one; a test that reaches a server
unmarked fails, naming itself.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from etl.config import JobConfig, database_url, parse_config
from etl.database.engines import source_engine, target_engine
from etl.database.tables import reflect, upsert
from etl.schema import apply_sql, init_target, sql_file

MYSQL_ENV = "ETL_TEST_MYSQL_URL"
POSTGRESQL_ENV = "ETL_TEST_POSTGRESQL_URL"


def _docker(container: Callable[[], object], drivername: str) -> Iterator[str] | None:
    """A server in a container, as a URL without a database; None when no Docker engine answers."""
    try:
        import docker

        docker.from_env().ping()
    except Exception:  # no Docker engine here: the caller reports why the server's tests cannot run
        return None

    def serve() -> Iterator[str]:
        with container() as started:
            url = sa.make_url(started.get_connection_url())
            yield url.set(drivername=drivername, database=None).render_as_string(hide_password=False)

    return serve()


def _mysql_container() -> object:
    from testcontainers.mysql import MySqlContainer

    return MySqlContainer("mysql:8.0", username="root", password="test")


def _postgresql_container() -> object:
    from testcontainers.postgres import PostgresContainer

    return PostgresContainer("postgres:15", username="postgres", password="test", dbname="postgres")


# A test asks for a server through one of these fixtures, or through a param naming the backend.
SERVER_FIXTURES = {"mysql": {"mysql_server", "mysql_dbs"}, "postgresql": {"postgresql_server", "postgresql_dbs"}}


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if isinstance(item, pytest.Function):
            on_postgresql = _needs_server(item, "postgresql")
            # A PostgreSQL target reads its pushes from MySQL.
            if on_postgresql or _needs_server(item, "mysql"):
                item.add_marker(pytest.mark.mysql)
            if on_postgresql:
                item.add_marker(pytest.mark.postgresql)


def _needs_server(item: pytest.Function, backend: str) -> bool:
    """A test of a server fixture, or of a fixture of several backends (dbs) on its `backend` param:
    that one asks for the server only when it runs."""
    params = item.callspec.params if hasattr(item, "callspec") else {}
    on_backend = any(value == backend for value in params.values() if isinstance(value, str))
    return on_backend or bool(SERVER_FIXTURES[backend] & set(item.fixturenames))


def _server(request: pytest.FixtureRequest, marker: str, service: str) -> str:
    """A server's URL, for a test marked `marker` only: else `-m "not MARKER"` would need a server."""
    if request.node.get_closest_marker(marker) is None:
        pytest.fail(f"{request.node.nodeid} uses the {marker} server but is not marked {marker} (see conftest.py)")
    return request.getfixturevalue(service)


def _service(variable: str, example: str, served: Callable[[], Iterator[str] | None]) -> Iterator[str]:
    url = os.environ.get(variable)
    if url:
        # With the job's drivers: postgresql:// means psycopg2 to SQLAlchemy, the job's psycopg 3.
        yield database_url(url).render_as_string(hide_password=False)
        return
    container = served()
    if container is None:
        reason = f"no server: set {variable} (e.g. {example}) or start Docker"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    yield from container


@pytest.fixture
def mysql_server(request: pytest.FixtureRequest) -> str:
    return _server(request, "mysql", "mysql_service")


@pytest.fixture
def postgresql_server(request: pytest.FixtureRequest) -> str:
    return _server(request, "postgresql", "postgresql_service")


@pytest.fixture(scope="session")
def mysql_service() -> Iterator[str]:
    yield from _service(MYSQL_ENV, "mysql+pymysql://root@127.0.0.1:3306/",
                        lambda: _docker(_mysql_container, "mysql+pymysql"))


@pytest.fixture(scope="session")
def postgresql_service() -> Iterator[str]:
    yield from _service(POSTGRESQL_ENV, "postgresql://postgres@127.0.0.1:5432/postgres",
                        lambda: _docker(_postgresql_container, "postgresql+psycopg"))


@dataclass
class Databases:
    """A fresh source (with jdp_tb_trade) and a fresh, initialized target."""

    backend: str
    source_url: str
    target_url: str
    make_target: Callable[[], str]

    @property
    def source_backend(self) -> str:
        """Where the pushes are: SQLite beside an SQLite target, else MySQL (a PostgreSQL target's too)."""
        return "sqlite" if self.backend == "sqlite" else "mysql"

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
    prefix = f"etl_t_{uuid.uuid4().hex[:10]}"
    with ExitStack() as stack:
        mysql = stack.enter_context(_server_databases(request.getfixturevalue("mysql_server"), prefix))
        target = mysql
        if backend == "postgresql":
            target = stack.enter_context(_server_databases(request.getfixturevalue("postgresql_server"), prefix))
        yield Databases(backend, _make_source(mysql("src"), "mysql"), _make_target(target("oms")),
                        lambda: _make_target(target("oms")))


# Each server's CREATE DATABASE and DROP DATABASE; PostgreSQL's FORCE ends what a test left connected.
_CREATE = {"postgresql": "CREATE DATABASE {}", "mysql": "CREATE DATABASE {} CHARACTER SET utf8mb4"}
_DROP = {"postgresql": "DROP DATABASE IF EXISTS {} WITH (FORCE)", "mysql": "DROP DATABASE IF EXISTS {}"}


@contextmanager
def _server_databases(url: str, prefix: str) -> Iterator[Callable[[str], str]]:
    """A maker of fresh databases on the server at `url` (named `prefix`_ROLE_N), all dropped at the end."""
    server = sa.make_url(url)
    backend = server.get_backend_name()
    admin = sa.create_engine(server.set(database=None if backend == "mysql" else server.database),
                             isolation_level="AUTOCOMMIT")
    created: list[str] = []

    def database(role: str) -> str:
        name = f"{prefix}_{role}{len(created)}"
        with admin.connect() as connection:
            connection.exec_driver_sql(_CREATE[backend].format(name))
        created.append(name)
        return server.set(database=name).render_as_string(hide_password=False)

    try:
        yield database
    finally:
        with admin.connect() as connection:
            for name in created:
                connection.exec_driver_sql(_DROP[backend].format(name))
        admin.dispose()


@pytest.fixture(params=["sqlite", "mysql", "postgresql"])
def dbs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Databases]:
    """Each test using it runs on SQLite, on MySQL/MariaDB, and into PostgreSQL (from MySQL)."""
    yield from _databases(request.param, request, tmp_path)


@pytest.fixture
def mysql_dbs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Databases]:
    """For what only MySQL has: LOAD DATA, its client's files, a migration cut off half-way."""
    yield from _databases("mysql", request, tmp_path)


@pytest.fixture
def postgresql_dbs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Databases]:
    """A source on MySQL and a target on PostgreSQL (beside `mysql_dbs`, to compare the two targets)."""
    yield from _databases("postgresql", request, tmp_path)


@pytest.fixture(params=["mysql", "postgresql"])
def server_dbs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Databases]:
    """For what only a server has, on both kinds of target: killed connections, workers, users and grants."""
    yield from _databases(request.param, request, tmp_path)
