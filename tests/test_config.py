"""jobs.yaml validation: defaults, ${VAR} expansion, and errors that name the job and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl.config import Config, JobConfig, load_config, parse_config
from etl.errors import ConfigError

PASSWORD = "s3cret"
SOURCE = f"mysql://etl:{PASSWORD}@rds.example:3306/jdp"
TARGET = f"mysql+pymysql://oms:{PASSWORD}@oms.example:3306/oms"
NO_ENV: dict[str, str] = {}


def job_settings(**changes: object) -> dict:
    return {"source": SOURCE, "target": TARGET, **changes}


def parse_job(environ: dict[str, str] | None = None, **settings: object) -> JobConfig:
    return parse_config({"jobs": {"nightly": settings}}, "jobs.yaml", NO_ENV if environ is None else environ).jobs[0]


def config_error(document: object, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(document, "jobs.yaml", NO_ENV if environ is None else environ)
    message = str(caught.value)
    assert PASSWORD not in message
    return message


# --- valid jobs -------------------------------------------------------------------------------------


def test_a_minimal_job_gets_the_defaults():
    job = parse_job(**job_settings())
    assert job.name == "nightly"
    assert (job.batch_size, job.lookback_seconds) == (1000, 300)
    assert (job.kind, job.table, job.sellers, job.enabled, job.start_from) == ("tb_trade", "jdp_tb_trade", None,
                                                                               True, None)


@pytest.mark.parametrize(
    "kind, source",
    [
        ("tb_trade", ("jdp_tb_trade", "tid", "jdp_modified", "jdp_response")),
        ("tb_refund", ("jdp_tb_refund", "refund_id", "jdp_modified", "jdp_response")),
        ("alibaba_order", ("landing", "order_id", "jdp_modified", "jdp_response")),
    ],
)
def test_each_kind_has_its_source_defaults(kind, source):
    settings = job_settings(kind=kind, **({"table": "landing"} if kind == "alibaba_order" else {}))
    job = parse_job(**settings)
    assert (job.table, *job.source_columns) == source


def test_a_job_names_its_own_source_columns():
    job = parse_job(**job_settings(table="my_trades", key_column="trade_id", modified_column="landed_at",
                                   json_column="body"))
    assert (job.table, *job.source_columns) == ("my_trades", "trade_id", "landed_at", "body")


def test_jobs_keep_file_order():
    jobs = {name: job_settings() for name in ("zeta", "alpha", "mid")}
    assert [job.name for job in parse_config({"jobs": jobs}, "jobs.yaml", NO_ENV).jobs] == ["zeta", "alpha", "mid"]


def test_the_defaults_block_is_merged_and_job_keys_override_it():
    document = {
        "defaults": {"source": SOURCE, "target": TARGET, "batch_size": 500, "lookback_seconds": 60},
        "jobs": {"a": {}, "b": {"batch_size": 100}},
    }
    a, b = parse_config(document, "jobs.yaml", NO_ENV).jobs
    assert (a.batch_size, a.lookback_seconds) == (500, 60)
    assert (b.batch_size, b.lookback_seconds) == (100, 60)
    assert a.source == b.source


@pytest.mark.parametrize(
    "url, expected",
    [
        ("mysql://etl:s3cret@rds.example:3306/jdp", "mysql+pymysql"),
        ("mariadb://etl:s3cret@rds.example/jdp", "mariadb+pymysql"),
        ("mysql+pymysql://etl:s3cret@rds.example/jdp", "mysql+pymysql"),
        ("sqlite:///jdp.db", "sqlite"),
    ],
    ids=["mysql", "mariadb", "mysql+pymysql", "sqlite"],
)
def test_a_bare_mysql_url_is_normalized_to_pymysql(url, expected):
    job = parse_job(**job_settings(source=url))
    assert job.source_url.drivername == expected
    assert job.source_url.password == (None if expected == "sqlite" else PASSWORD)


@pytest.mark.parametrize(
    "url", ["postgresql://oms:s3cret@pg.example/oms", "postgres://oms:s3cret@pg.example/oms",
            "postgresql+psycopg://oms:s3cret@pg.example/oms"],
    ids=["postgresql", "postgres", "postgresql+psycopg"],
)
def test_a_postgresql_target_is_written_with_psycopg_3(url):
    job = parse_job(**job_settings(target=url))
    assert job.target_url.drivername == "postgresql+psycopg"
    assert job.target_url.password == PASSWORD


def test_another_postgresql_driver_is_refused_naming_psycopg():
    message = config_error({"jobs": {"nightly": job_settings(target="postgresql+psycopg2://oms:s3cret@pg/oms")}})
    assert "psycopg 3" in message and "'target'" in message


@pytest.mark.parametrize(
    "value, environ, expected",
    [
        ("${SRC}", {"SRC": SOURCE}, "mysql+pymysql://etl:s3cret@rds.example:3306/jdp"),
        ("${SRC:-sqlite:///fallback.db}", {}, "sqlite:///fallback.db"),
        ("${SRC:-sqlite:///fallback.db}", {"SRC": "sqlite:///set.db"}, "sqlite:///set.db"),
        ("mysql://etl:${PW}@${HOST:-rds.example}/jdp", {"PW": "s3cret"}, "mysql+pymysql://etl:s3cret@rds.example/jdp"),
    ],
    ids=["plain", "default-used", "default-ignored-when-set", "several-in-one-string"],
)
def test_variables_are_expanded_from_the_environ_mapping(value, environ, expected):
    assert parse_job(environ, **job_settings(source=value)).source == expected


def test_an_expanded_number_is_validated_as_a_number():
    assert parse_job({"BATCH": "750"}, **job_settings(batch_size="${BATCH}")).batch_size == 750


def test_variables_in_lists_are_expanded():
    job = parse_job({"SHOP": "麦包包"}, **job_settings(sellers=["${SHOP}", "另一家"]))
    assert job.sellers == ("麦包包", "另一家")


def test_an_empty_variable_takes_the_default_as_in_the_shell():
    assert parse_job({"BATCH": ""}, **job_settings(batch_size="${BATCH:-500}")).batch_size == 500


# --- errors name the job and the key ----------------------------------------------------------------


@pytest.mark.parametrize(
    "settings, key, fragment",
    [
        (job_settings(bacth_size=10), "bacth_size", "is not a known key"),
        ({"target": TARGET}, "source", "is required"),
        ({"source": SOURCE}, "target", "is required"),
        (job_settings(batch_size="abc"), "batch_size", "'abc'"),
        (job_settings(batch_size=True), "batch_size", "boolean"),
        (job_settings(batch_size=0), "batch_size", "greater than or equal to 1"),
        (job_settings(lookback_seconds=-1), "lookback_seconds", "greater than or equal to 0"),
        (job_settings(lookback_seconds=False), "lookback_seconds", "boolean"),
        (job_settings(source="postgresql://etl:s3cret@pg.example/jdp"), "source", "supported source databases are"),
        (job_settings(target="not a url s3cret"), "target", "is not a database URL"),
        (job_settings(source=42), "source", "valid string"),
        (job_settings(table="x; drop"), "table", "plain table name"),
        (job_settings(table="jdp-tb-trade"), "table", "plain table name"),
        (job_settings(sellers=[]), "sellers", "at least one"),
        (job_settings(sellers=["  "]), "sellers", "at least one"),
        (job_settings(kind="jd_order"), "kind", "not a known kind"),
        (job_settings(name="other"), "name", "is not a known key"),
        (job_settings(workers=0), "workers", "greater than or equal to 1"),
        (job_settings(workers=True), "workers", "boolean"),
        (job_settings(load_data="sometimes"), "load_data", "valid boolean"),
        (job_settings(kind="alibaba_order"), "table", "is required"),
        (job_settings(key_column="tid`; drop"), "key_column", "plain column name"),
        (job_settings(json_column=""), "json_column", "plain column name"),
        (job_settings(hash_column="md5 hash"), "hash_column", "plain column name"),
        (job_settings(kind=["tb_trade"]), "kind", "valid string"),
    ],
    ids=[
        "unknown-key",
        "missing-source",
        "missing-target",
        "batch-size-text",
        "batch-size-bool",
        "batch-size-zero",
        "lookback-negative",
        "lookback-bool",
        "postgresql-scheme",
        "not-a-url",
        "source-not-text",
        "table-injection",
        "table-dashes",
        "sellers-empty",
        "sellers-blank",
        "unknown-kind",
        "name-key",
        "workers-zero",
        "workers-bool",
        "load-data-text",
        "alibaba-without-table",
        "key-column-injection",
        "json-column-empty",
        "hash-column-space",
        "kind-not-text",
    ],
)
def test_a_bad_job_setting_names_the_job_and_the_key(settings, key, fragment):
    message = config_error({"jobs": {"nightly": settings}})
    assert "job 'nightly'" in message
    assert f"'{key}'" in message
    assert fragment in message


@pytest.mark.parametrize("key", ["max_reject_share", "retry_wait_seconds"], ids=["max-reject-share", "retry-wait"])
def test_a_boolean_for_a_fractional_setting_is_a_bad_type(key):
    message = config_error({"jobs": {"nightly": job_settings(**{key: True})}})
    assert f"job 'nightly': key '{key}'" in message


def test_an_unset_variable_names_the_job_key_and_variable():
    message = config_error({"jobs": {"nightly": job_settings(target="${OMS_URL}")}})
    assert message == "jobs.yaml: job 'nightly': key 'target' uses ${OMS_URL}, which is not set"


def test_an_unset_variable_in_a_list_names_the_element():
    message = config_error({"jobs": {"nightly": job_settings(sellers=["ok", "${SHOP}"])}})
    assert "key 'sellers[1]' uses ${SHOP}" in message


def test_an_error_in_a_default_is_reported_for_the_job():
    message = config_error({"defaults": {"batch_size": "many"}, "jobs": {"nightly": job_settings()}})
    assert "job 'nightly': key 'batch_size'" in message


def test_several_errors_of_one_job_are_all_reported():
    message = config_error({"jobs": {"nightly": job_settings(batch_size=0, lookback_seconds=-1)}})
    assert "'batch_size'" in message and "'lookback_seconds'" in message


def test_an_error_in_one_job_makes_the_whole_file_invalid():
    document = {"jobs": {"good": job_settings(), "bad": job_settings(batch_size="abc"), "also_good": job_settings()}}
    message = config_error(document)
    assert "job 'bad'" in message and "'batch_size'" in message


@pytest.mark.parametrize(
    "name", ["bad name", "-leading-dash", "x" * 65, "a/b", "名字"], ids=["space", "leading-dash", "too-long", "slash",
                                                                          "non-ascii"]
)
def test_a_bad_job_name_is_an_error_naming_it(name):
    message = config_error({"jobs": {name: job_settings()}})
    assert f"job name {name!r}" in message


def test_a_job_that_is_not_a_mapping_is_an_error():
    assert "job 'nightly' must be a mapping" in config_error({"jobs": {"nightly": None}})


@pytest.mark.parametrize(
    "document, fragment",
    [
        ({"jobs": {"a": job_settings()}, "job": {}}, "unknown top-level key 'job'"),
        ({"defaults": {"batch_size": 10}}, "`jobs` must map at least one job"),
        ({"jobs": {}}, "`jobs` must map at least one job"),
        ({"jobs": [job_settings()]}, "`jobs` must map at least one job"),
        ({"jobs": {"a": job_settings()}, "defaults": ["x"]}, "`defaults` must be a mapping"),
        (None, "expected a mapping with a `jobs:` key"),
        (["jobs"], "expected a mapping with a `jobs:` key"),
    ],
    ids=["unknown-top-level-key", "jobs-missing", "jobs-empty", "jobs-a-list", "defaults-a-list", "empty-file",
         "top-level-list"],
)
def test_a_bad_file_layout_is_an_error(document, fragment):
    message = config_error(document)
    assert message.startswith("jobs.yaml: ")
    assert fragment in message


# --- the password stays out of reprs and messages ---------------------------------------------------


def test_the_password_is_not_in_the_repr_of_a_job_or_config():
    config = parse_config({"jobs": {"nightly": job_settings()}}, "jobs.yaml", NO_ENV)
    assert PASSWORD in config.jobs[0].source  # it is there to connect with ...
    assert PASSWORD not in repr(config.jobs[0])  # ... but not in what gets logged
    assert PASSWORD not in str(config.jobs[0])
    assert PASSWORD not in repr(config)


@pytest.mark.parametrize(
    "settings",
    [
        job_settings(source="postgresql://etl:s3cret@pg.example/jdp"),
        job_settings(source="mysql://etl:s3cret@rds.example:notaport/jdp"),
        job_settings(target="s3cret"),
        {"sorce": SOURCE, "target": TARGET},
        job_settings(batch_size="abc"),
        job_settings(source=f"mysql://etl:{PASSWORD}@${{HOST}}/jdp"),
    ],
    ids=["unsupported-scheme", "bad-port", "garbage-url", "misspelt-source", "other-key", "unset-variable"],
)
def test_the_password_is_not_in_any_config_error(settings):
    config_error({"jobs": {"nightly": settings}})  # asserts the password is absent


# --- select -----------------------------------------------------------------------------------------


@pytest.fixture
def config() -> Config:
    document = {
        "defaults": {"source": SOURCE, "target": TARGET},
        "jobs": {"a": {}, "off": {"enabled": False}, "b": {}, "c": {}},
    }
    return parse_config(document, "jobs.yaml", NO_ENV)


def test_select_without_names_gives_only_enabled_jobs(config):
    assert [job.name for job in config.select()] == ["a", "b", "c"]


@pytest.mark.parametrize(
    "names, expected",
    [(["c", "a"], ["c", "a"]), (["off"], ["off"]), (["b", "b", "a"], ["b", "a"])],
    ids=["given-order", "disabled-by-name", "duplicates-once"],
)
def test_select_by_name_keeps_the_given_order(config, names, expected):
    assert [job.name for job in config.select(names)] == expected


def test_select_of_an_unknown_job_is_a_config_error_with_exit_code_2(config):
    with pytest.raises(ConfigError) as caught:
        config.select(["a", "nope"])
    assert caught.value.exit_code == 2
    assert "'nope'" in str(caught.value) and "jobs.yaml" in str(caught.value)


def test_job_by_name(config):
    assert config.job("b").name == "b"


# --- load_config ------------------------------------------------------------------------------------


def test_load_config_reads_a_yaml_file(tmp_path: Path):
    path = tmp_path / "jobs.yaml"
    path.write_text(
        "defaults:\n"
        "  lookback_seconds: 60\n"
        "jobs:\n"
        "  nightly:\n"
        f"    source: sqlite:///{tmp_path / 'jdp.db'}\n"
        f"    target: sqlite:///{tmp_path / 'oms.db'}\n"
        "    sellers: [麦包包]\n"
        "    batch_size: 100\n",
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.path == str(path)
    [job] = config.jobs
    assert (job.name, job.batch_size, job.lookback_seconds, job.sellers) == ("nightly", 100, 60, ("麦包包",))


def test_load_config_of_a_missing_file_names_the_path(tmp_path: Path):
    missing = tmp_path / "nowhere" / "jobs.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(missing)
    assert str(missing) in str(caught.value)
    assert caught.value.exit_code == 2


def test_load_config_of_invalid_yaml_is_a_config_error(tmp_path: Path):
    path = tmp_path / "jobs.yaml"
    path.write_text("jobs:\n  nightly: {source: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_config(path)


def test_load_config_of_an_empty_file_is_a_config_error(tmp_path: Path):
    path = tmp_path / "jobs.yaml"
    path.write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match="`jobs:`"):
        load_config(path)


def test_load_config_reports_yaml_booleans_as_bad_numbers(tmp_path: Path):
    path = tmp_path / "jobs.yaml"
    path.write_text(f"jobs:\n  nightly:\n    source: {SOURCE}\n    target: {TARGET}\n    batch_size: yes\n",
                    encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "job 'nightly': key 'batch_size' must be a number, not a boolean" in str(caught.value)
    assert PASSWORD not in str(caught.value)


def test_config_imports_nothing_of_the_writing_side():
    # Config parses and validates only: it stands below the source, the sink and the pipeline.
    import subprocess
    import sys

    code = ("import sys, etl.config; print(' '.join(sorted(name for name in sys.modules "
            "if name.startswith(('etl.', 'pymysql', 'psycopg')))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert "etl.config" in loaded
    assert not [name for name in loaded if name.startswith(("etl.database", "etl.sink", "etl.pipeline", "etl.source",
                                                            "etl.extra", "etl.kinds", "etl.holds", "pymysql", "psycopg"))]
