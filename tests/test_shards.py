"""Shards: N processes, each `--shard I/N`, carry one job without talking to each other.

Each shard reads and writes only the keys whose remainder modulo N is I, with a watermark row and
a lock of its own; killed anywhere and run again, in any order, the shards end with the tables
one unsharded run gives. Run as separate OS processes, as pods would be.
"""

from __future__ import annotations

import json
import os
import random
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from support import assert_equals_clean_run, etl, paused_mid_window, rows_at, spawn

from etl.database.engines import open_source, target_engine
from etl.errors import ConfigError
from etl.lock import job_lock
from etl.pipeline.coordinator import auto_workers, available_cores
from etl.shard import WHOLE, Shard
from etl.source import reflect_source
from etl.window import Window
from etl.synth import PushFactory

T0 = datetime(2026, 11, 11, 10, 0, 0)
SETTINGS = {"batch_size": 50, "lookback_seconds": 0}


# --- pure -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, shard", [("0/1", WHOLE), ("3/8", Shard(3, 8)), (" 0/2 ", Shard(0, 2))])
def test_a_shard_is_parsed_from_i_over_n(text, shard):
    assert Shard.parse(text) == shard


@pytest.mark.parametrize("text", ["8/8", "-1/4", "1/0", "1", "a/b", "1/2/3", "0/2000"])
def test_a_shard_that_is_not_one_is_a_configuration_error(text):
    with pytest.raises(ConfigError, match="I/N"):
        Shard.parse(text)


@pytest.mark.parametrize("cores, rows, workers", [(2, 4_999, 1), (2, 5_000, 2), (1, 10**6, 1), (16, 10**6, 4)])
def test_auto_workers_use_the_cores_only_for_a_window_that_pays_for_them(cores, rows, workers):
    assert auto_workers(cores, rows) == workers


@pytest.mark.parametrize("cpu_max, limit", [("max 100000", None), ("200000 100000", 2), ("150000 100000", 1),
                                             ("50000 100000", 1), (None, None)])
def test_auto_workers_count_the_cores_a_cgroup_cpu_limit_leaves(tmp_path, cpu_max, limit):
    # A pod's CPU limit, as cgroup v2 shows it; whole cores only, at least one; no file or "max": no limit.
    path = tmp_path / "cpu.max"
    if cpu_max is not None:
        path.write_text(cpu_max + "\n")
    mine = len(os.sched_getaffinity(0))
    assert available_cores(path) == (mine if limit is None else min(mine, limit))


@pytest.mark.parametrize("count, workers", [(1, 1), (1, 3), (3, 1), (3, 2), (4, 4)])
def test_workers_split_their_shard_exactly(count, workers):
    keys = range(10_000, 10_600)
    for index in range(count):
        shard = Shard(index, count)
        parts = [shard.split(part, workers) for part in range(workers)]
        taken = [{key for key in keys if key % parts_count == remainder} for remainder, parts_count in parts]
        assert set().union(*taken) == {key for key in keys if key % count == index}
        assert sum(map(len, taken)) == len(set().union(*taken))  # no key in two workers


# --- N processes over one source --------------------------------------------------------------------


def _push(dbs, count: int, seed: int, start: datetime = T0) -> list[dict]:
    rows = rows_at(PushFactory(seed=seed), count, start)
    rows[count // 3] = {**rows[count // 3], "jdp_response": "{broken"}
    dbs.push(rows)
    return rows


def _run_shard(config, shard: str, *more: str) -> None:
    code, _, err = etl("--config", str(config), "run", "tb", "--shard", shard, *more)
    assert code == 0, err


@pytest.mark.parametrize("seed", [0, 1])
def test_shards_as_processes_one_killed_and_rerun_equal_one_unsharded_run(dbs, tmp_path, seed):
    rows = _push(dbs, 2400, seed=40 + seed)
    config = dbs.config_file(tmp_path, {"tb": SETTINGS})
    order = [0, 1, 2]
    random.Random(seed).shuffle(order)
    processes = {index: spawn(config, "run", "tb", "--shard", f"{index}/3") for index in order}
    victim = processes[order[0]]
    # Killed once its shard holds `at` trades (seed 0: at its first commit), stopped there first: certainly
    # mid-window.
    share = sum(row["tid"] % 3 == order[0] and row["jdp_response"] != "{broken" for row in rows)
    at = random.Random(seed).randrange(50, share // 2) if seed else 1
    with paused_mid_window(victim, dbs.target_url, at, share, sql="SELECT COUNT(*) FROM oms_trade WHERE tid % 3 = :shard",
                           shard=order[0]):
        victim.kill()
    victim.wait()
    for index, process in processes.items():
        if process is not victim:
            _, err = process.communicate(timeout=300)
            assert process.returncode == 0, err
    _run_shard(config, f"{order[0]}/3")
    assert_equals_clean_run(dbs, tmp_path / "clean", {"tb": SETTINGS})
    assert sorted(row[0] for row in dbs.query("SELECT shard FROM etl_watermark")) == ["0/3", "1/3", "2/3"]


def test_a_shard_never_writes_a_key_of_another(dbs, tmp_path):
    _push(dbs, 600, seed=50)
    config = dbs.config_file(tmp_path, {"tb": SETTINGS})
    _run_shard(config, "1/3")
    written = [row[0] for row in dbs.query("SELECT tid FROM oms_trade")]
    lines = [row[0] for row in dbs.query("SELECT tid FROM oms_order")]
    rejected = [row[0] for row in dbs.query("SELECT tid FROM etl_reject")]
    assert written and all(tid % 3 == 1 for tid in written + lines + rejected)
    assert dbs.query("SELECT job, shard FROM etl_watermark") == [("tb", "1/3")]
    assert dbs.query("SELECT shard, outcome FROM etl_run") == [("1/3", "ok")]


def test_workers_within_a_shard_write_only_its_keys(mysql_dbs, tmp_path):
    _push(mysql_dbs, 900, seed=51)
    settings = {**SETTINGS, "workers": 2}
    config = mysql_dbs.config_file(tmp_path, {"tb": settings})
    for shard in ("0/2", "1/2"):
        _run_shard(config, shard)
        tids = [row[0] for row in mysql_dbs.query("SELECT tid FROM oms_trade")]
        assert {tid % 2 for tid in tids} == ({0} if shard == "0/2" else {0, 1})
    assert_equals_clean_run(mysql_dbs, tmp_path / "clean", {"tb": SETTINGS})


def test_two_runs_of_one_shard_exclude_each_other_and_other_shards_do_not(dbs, tmp_path):
    _push(dbs, 300, seed=52)
    config = dbs.config_file(tmp_path, {"tb": SETTINGS})
    engine = target_engine(sa.make_url(dbs.target_url))
    try:
        with job_lock(engine, "tb", Shard(0, 2)):  # as a run of shard 0/2 elsewhere holds it
            code, _, err = etl("--config", str(config), "run", "tb", "--shard", "0/2")
            assert code == 75 and "busy" in err
            assert etl("--config", str(config), "run", "tb", "--shard", "1/2")[0] == 0
            assert etl("--config", str(config), "run", "tb")[0] == 0  # the whole job's lock is another
    finally:
        engine.dispose()


def test_a_changed_shard_count_starts_from_the_earliest_watermark_and_converges(dbs, tmp_path):
    _push(dbs, 900, seed=53)
    config = dbs.config_file(tmp_path, {"tb": SETTINGS})
    for shard in ("0/2", "1/2"):
        _run_shard(config, shard)
    _push(dbs, 600, seed=54, start=T0 + timedelta(minutes=5))
    # Three shards now: until all three have committed, the two-shard rows stay (they bound the start).
    _run_shard(config, "2/3")
    assert len(dbs.query("SELECT shard FROM etl_watermark")) == 3
    _run_shard(config, "0/3")
    _run_shard(config, "1/3")
    _run_shard(config, "2/3")  # its next run finds its layout complete and forgets the old one
    assert sorted(row[0] for row in dbs.query("SELECT shard FROM etl_watermark")) == ["0/3", "1/3", "2/3"]
    # And whole again: one process, starting from the earliest shard's watermark.
    _push(dbs, 300, seed=55, start=T0 + timedelta(minutes=10))
    code, _, err = etl("--config", str(config), "run", "tb")
    assert code == 0, err
    assert_equals_clean_run(dbs, tmp_path / "clean", {"tb": SETTINGS})


def test_retranslate_and_verify_take_a_shard(dbs, tmp_path):
    rows = _push(dbs, 300, seed=56)
    config = dbs.config_file(tmp_path, {"tb": SETTINGS})
    for shard in ("0/2", "1/2"):
        _run_shard(config, shard)
    window = ("--since", "2026-11-11", "--until", "2026-11-12")
    code, out, err = etl("--config", str(config), "retranslate", "tb", *window, "--shard", "1/2")
    assert code == 0, err
    assert "tb shard 1/2: retranslate" in out
    read = int(out.split("read ")[1].split(",")[0])
    assert read == sum(1 for row in rows if row["tid"] % 2 == 1)
    broken = rows[100]["tid"] % 2
    for shard, differs in ((f"{broken}/2", 1), (f"{1 - broken}/2", 0), ("0/1", 1)):
        code, out, err = etl("--config", str(config), "verify", "tb", *window, "--shard", shard)
        assert code == differs, out + err  # the broken push is a difference: it is rejected
    code, out, _ = etl("--config", str(config), "--log-format", "json", "run", "tb", "--shard", "1/2")
    assert json.loads(out)["shard"] == "1/2"


def test_status_and_metrics_see_a_sharded_job_as_one_and_per_shard(dbs, tmp_path):
    _push(dbs, 300, seed=57)
    config = dbs.config_file(tmp_path, {"tb": SETTINGS})
    _run_shard(config, "0/2")
    code, out, _ = etl("--config", str(config), "status", "--json")
    assert code == 0
    (job,) = json.loads(out)
    assert [shard["shard"] for shard in job["shards"]] == ["0/2", "1/2"]
    assert job["shards"][0]["lag_seconds"] == 0 and job["shards"][1]["watermark"] is None
    # The job as one: the worst shard (1/2 never ran) lags without bound.
    assert job["lag_seconds"] is None and job["watermark"] is None
    code, _, err = etl("--config", str(config), "status", "--max-lag", "60")
    assert code == 1 and "shard 1/2" in err
    metrics = tmp_path / "etl.prom"
    _run_shard(config, "1/2", "--metrics-file", str(metrics))
    text = metrics.read_text()
    assert 'etl_lag_seconds{job="tb"} 0.0' in text
    assert 'etl_shard_lag_seconds{job="tb",shard="0/2"} 0.0' in text
    assert 'etl_shard_lag_seconds{job="tb",shard="1/2"} 0.0' in text
    code, out, _ = etl("--config", str(config), "status")
    assert code == 0 and "shard 0/2" in out and "shard 1/2" in out


def test_sizing_a_window_for_auto_workers_counts_no_further_than_asked(dbs):
    _push(dbs, 50, seed=58)
    with open_source(sa.make_url(dbs.source_url)) as engine:
        table = reflect_source(engine, "jdp_tb_trade", ("tid", "jdp_modified", "jdp_response"))
        window = Window(None, T0 + timedelta(hours=1), end_inclusive=True)
        assert (table.count(window), table.count(window, at_most=20), table.count(window, at_most=80)) == (50, 20, 50)
