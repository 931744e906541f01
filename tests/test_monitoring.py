"""deploy/prometheus and deploy/grafana, checked by promtool and against a metrics file the job really wrote.

Without promtool (Debian: `apt-get install prometheus`) the promtool tests skip; with CI=true they fail.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from support import etl, program
from test_deploy import assert_valid_etl_arguments

from etl.synth import PushFactory, synth_rows

DEPLOY = Path(__file__).parent.parent / "deploy"
RULES = DEPLOY / "prometheus" / "etl-alerts.yml"
RULE_TESTS = DEPLOY / "prometheus" / "etl-alerts.test.yml"
DASHBOARD = DEPLOY / "grafana" / "etl-dashboard.json"
T0 = datetime(2026, 11, 11, 10, 0, 0)
# A metric name of the job's in a PromQL expression (a lowercase `etl_` word).
ETL_METRIC = re.compile(r"\betl_[a-z_]+")
# SQLite is enough: the metrics file does not depend on the kind of database.
on_sqlite = pytest.mark.parametrize("dbs", ["sqlite"], indirect=True)


@pytest.fixture
def promtool() -> str:
    return program("promtool", "prometheus")


def run_promtool(promtool: str, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run([promtool, *args], input=stdin, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture
def metrics_files(dbs, tmp_path) -> dict[str, str]:
    """What `etl status --metrics-file` writes before any run, and `etl run --metrics-file` after one:
    a trade job with a push it rejects, and a refund job whose source is empty; then `etl status
    --metrics-file` once the trade job ran as shard 1 of 2 too ("sharded": each shard's series)."""
    factory = PushFactory(seed=7)
    broken = factory.row(factory.trade(T0), "WAIT_SELLER_SEND_GOODS", T0, T0)
    dbs.push([*synth_rows(20, seed=6, start=T0), {**broken, "jdp_response": broken["jdp_response"][:200]}])
    config = str(dbs.config_file(tmp_path, {"taobao": {}, "refunds": {"kind": "tb_refund"}}))
    written = {}
    for command in ("status", "run"):
        path = tmp_path / f"{command}.prom"
        code, _, err = etl("--config", config, command, "--metrics-file", str(path))
        assert code == 0, err
        written[command] = path.read_text()
    assert etl("--config", config, "run", "taobao", "--shard", "1/2")[0] == 0
    path = tmp_path / "sharded.prom"
    assert etl("--config", config, "status", "--metrics-file", str(path))[0] == 0
    written["sharded"] = path.read_text()
    return written


def all_written(files: dict[str, str]) -> set[str]:
    return written_names(files["run"]) | written_names(files["sharded"])


def written_names(text: str) -> set[str]:
    """The metrics a file declares; after a run, each of them has a sample."""
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


@on_sqlite
def test_the_metrics_the_job_writes_pass_promtool_check_metrics(promtool, metrics_files):
    before, after = metrics_files["status"], metrics_files["run"]
    sampled = {line.split("{")[0] for line in after.splitlines() if line and not line.startswith("#")}
    assert sampled == written_names(after)
    assert 'etl_lag_seconds{job="taobao"} NaN' in before  # never ran: NaN, and no last-run series
    assert "etl_last_run_success{" not in before
    assert 'etl_open_rejects{job="taobao"} 1.0' in after and 'etl_last_run_success{job="refunds"} 1.0' in after
    sharded = metrics_files["sharded"]
    assert 'etl_shard_lag_seconds{job="taobao",shard="1/2"} 0.0' in sharded
    assert 'etl_shard_lag_seconds{job="taobao",shard="0/2"} NaN' in sharded  # never ran as a shard
    assert "etl_shard_" not in after  # declared only for a job that runs as shards
    for text in (before, after, sharded):
        run_promtool(promtool, "check", "metrics", stdin=text)


def test_the_alerting_rules_pass_promtool_check_and_their_unit_tests(promtool):
    assert "SUCCESS: 9 rules found" in run_promtool(promtool, "check", "rules", str(RULES))
    # promtool resolves rule_files against the test file's folder.
    assert "SUCCESS" in run_promtool(promtool, "test", "rules", str(RULE_TESTS))


def alerting_rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def test_every_alert_waits_has_a_severity_and_tells_what_to_run():
    for rule in alerting_rules():
        assert rule["for"] and rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        description = rule["annotations"]["description"].replace("{{ $labels.job }}", "taobao")
        commands = re.findall(r"`etl ([^`]*)`", description)
        assert commands, rule["alert"]
        for command in commands:
            assert_valid_etl_arguments(shlex.split(command))


@on_sqlite
def test_every_metric_the_rules_and_their_tests_use_is_one_the_job_writes(metrics_files):
    written = all_written(metrics_files)
    for rule in alerting_rules():
        names = set(ETL_METRIC.findall(rule["expr"]))
        assert names <= written, (rule["alert"], names - written)
    series = [item["series"] for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
              for item in test.get("input_series", [])]
    # Besides the job's: the file's mtime from node_exporter, a group's last push from the Pushgateway.
    assert {series.split("{")[0] for series in series} <= written | {"node_textfile_mtime_seconds", "push_time_seconds"}


@on_sqlite
def test_a_run_in_progress_is_written_without_a_duration(dbs, tmp_path):
    """What EtlRunFailed relies on to leave a long run alone: its success is 0, and it has no duration."""
    dbs.push(list(synth_rows(5, seed=8, start=T0)))
    config = str(dbs.config_file(tmp_path, {"taobao": {}}))
    assert etl("--config", config, "run")[0] == 0
    dbs.execute("INSERT INTO etl_run (job, mode, started_at, outcome) "
                "VALUES ('taobao', 'run', '2026-12-01 00:00:00', 'running')")
    metrics = tmp_path / "etl.prom"
    assert etl("--config", config, "status", "--metrics-file", str(metrics))[0] == 0
    text = metrics.read_text()
    assert 'etl_last_run_success{job="taobao"} 0.0' in text
    assert "etl_last_run_duration_seconds{" not in text


PANELS = {"Lag per job and shard", "Pushes written per run", "Rejects", "Run duration", "Last run success",
          "Time since last success"}


def dashboard_targets(dashboard: dict) -> list[tuple[str, dict]]:
    return [(panel["title"], target) for panel in dashboard["panels"] for target in panel["targets"]]


@on_sqlite
def test_the_dashboard_has_its_panels_and_variables_and_queries_only_what_the_job_writes(metrics_files):
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["schemaVersion"] >= 39 and dashboard["uid"]
    assert {panel["title"] for panel in dashboard["panels"]} == PANELS
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(PANELS)
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert variables["job"]["query"]["query"] == "label_values(etl_lag_seconds, job)"
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
    written = all_written(metrics_files)
    used = set()
    for title, target in dashboard_targets(dashboard):
        names = set(ETL_METRIC.findall(target["expr"]))
        assert names and names <= written, (title, target["expr"])
        assert 'job=~"$job"' in target["expr"], (title, target["expr"])
        used |= names
    assert used == written  # every metric the job writes has a panel
    lag = {target["refId"]: target for title, target in dashboard_targets(dashboard) if title == "Lag per job and shard"}
    assert lag["A"]["legendFormat"] == "{{job}}" and "etl_lag_seconds" in lag["A"]["expr"]
    assert lag["B"]["legendFormat"] == "{{job}} shard {{shard}}" and "etl_shard_lag_seconds" in lag["B"]["expr"]


def test_the_dashboard_queries_parse_as_promql(promtool, tmp_path):
    """No Grafana dashboard linter installs from PyPI or Debian: promtool parses each query as a
    recording rule, with the dashboard's variable filled in."""
    rules = [{"record": f"dashboard:panel{index}", "expr": target["expr"].replace("$job", "taobao|refunds")}
             for index, (_, target) in enumerate(dashboard_targets(json.loads(DASHBOARD.read_text())))]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    assert f"SUCCESS: {len(rules)} rules found" in run_promtool(promtool, "check", "rules", str(path))
