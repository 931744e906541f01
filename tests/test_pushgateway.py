"""`--pushgateway`: what a run pushes, as a real Pushgateway (Debian's prometheus-pushgateway) receives it.

Each test starts its own gateway on a free port. Without the binary the tests skip; with CI=true they
fail (.ci/run installs it).
"""

from __future__ import annotations

import json
import math
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from support import etl, program

from etl.metrics import PUSH_TIMEOUT
from etl.synth import PushFactory, synth_rows

T0 = datetime(2026, 11, 11, 10, 0, 0)
# SQLite is enough: what is pushed does not depend on the kind of database.
on_sqlite = pytest.mark.parametrize("dbs", ["sqlite"], indirect=True)
Series = dict[tuple[str, frozenset], float | str]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def pushgateway(tmp_path: Path) -> Iterator[str]:
    """A Pushgateway of its own for the test, on a free port: its URL."""
    binary = program("prometheus-pushgateway", "prometheus-pushgateway")
    url = f"http://127.0.0.1:{free_port()}"
    log = tmp_path / "pushgateway.log"
    with log.open("wb") as output:
        # Debian's build persists to /var/lib/prometheus by default: each test's gateway starts empty.
        process = subprocess.Popen([binary, f"--web.listen-address={url.removeprefix('http://')}", "--persistence.file="],
                                   stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not _ready(url):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def parse(text: str, prefix: str = "etl_", **added: str) -> Series:
    """The samples of names with `prefix` by name and labels (plus `added`); NaN as text, so that it equals itself."""
    return {
        (sample.name, frozenset({**sample.labels, **added}.items())): "NaN" if math.isnan(sample.value) else float(sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith(prefix)
    }


def pushed(url: str, prefix: str = "etl_") -> Series:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        return parse(response.read().decode(), prefix)


def groups(url: str) -> list[dict]:
    with urllib.request.urlopen(f"{url}/api/v1/metrics", timeout=5) as response:
        labels = [group["labels"] for group in json.load(response)["data"]]
    return sorted(labels, key=lambda group: (group["job"], group.get("instance", "")))


def in_group(series: Series, **labels: str) -> Series:
    """The series of the group with exactly these grouping labels (the gateway gives a whole job instance="")."""
    wanted = {"instance": "", **labels}
    return {key: value for key, value in series.items()
            if all(dict(key[1]).get(name) == value for name, value in wanted.items())}


@pytest.fixture
def config(dbs, tmp_path) -> str:
    """A trade job with a push it rejects, and a refund job whose source is empty."""
    factory = PushFactory(seed=7)
    broken = factory.row(factory.trade(T0), "WAIT_SELLER_SEND_GOODS", T0, T0)
    dbs.push([*synth_rows(20, seed=6, start=T0), {**broken, "jdp_response": broken["jdp_response"][:200]}])
    return str(dbs.config_file(tmp_path, {"taobao": {}, "refunds": {"kind": "tb_refund"}}))


@on_sqlite
def test_a_run_pushes_what_its_metrics_file_holds_a_group_per_job(config, pushgateway, tmp_path, monkeypatch):
    monkeypatch.setenv("ETL_PUSHGATEWAY", pushgateway)  # the option's default, as the pods set it
    path = tmp_path / "etl.prom"
    code, _, err = etl("--config", config, "run", "--metrics-file", str(path))
    assert code == 0 and err == ""
    assert groups(pushgateway) == [{"job": "refunds"}, {"job": "taobao"}]
    # The gateway adds instance="" to a group without one; scraped with honor_labels, it is no label.
    assert pushed(pushgateway) == parse(path.read_text(), instance="")
    assert pushed(pushgateway)[("etl_open_rejects", frozenset({"job": "taobao", "instance": ""}.items()))] == 1


@on_sqlite
def test_a_shard_pushes_the_whole_job_into_a_group_of_its_own(config, pushgateway, tmp_path):
    assert etl("--config", config, "run", "--pushgateway", pushgateway)[0] == 0
    whole = pushed(pushgateway)
    code, _, err = etl("--config", config, "-q", "run", "taobao", "--shard", "1/2", "--pushgateway", pushgateway)
    assert code == 0 and err == ""
    assert groups(pushgateway) == [{"job": "refunds"}, {"job": "taobao"}, {"instance": "1/2", "job": "taobao"}]
    now = pushed(pushgateway)
    assert in_group(now, job="taobao") == in_group(whole, job="taobao")  # not overwritten by the shard
    status = tmp_path / "status.prom"
    assert etl("--config", config, "status", "taobao", "--metrics-file", str(status))[0] == 0
    assert in_group(now, job="taobao", instance="1/2") == parse(status.read_text(), instance="1/2")
    # Every shard's own series, each with its `shard`: the group's label is `instance`, which they lack.
    shard_lag = {dict(labels)["shard"]: value for (name, labels), value in now.items()
                 if name == "etl_shard_lag_seconds" and dict(labels)["instance"] == "1/2"}
    assert shard_lag == {"": 0, "0/2": "NaN", "1/2": 0}
    # What the alerts leave a group out by: its last push, labelled as its series are.
    assert {dict(labels)["instance"] for _, labels in pushed(pushgateway, "push_time_seconds")} == {"", "1/2"}


@on_sqlite
def test_a_failed_run_pushes_too_and_keeps_its_exit_code(dbs, config, pushgateway, tmp_path):
    failing = str(dbs.config_file(tmp_path, {"taobao": {"max_rejects": 0}}))
    code, _, err = etl("--config", failing, "run", "--pushgateway", pushgateway)
    assert code == 65 and "budget" in err
    assert pushed(pushgateway)[("etl_last_run_success", frozenset({"job": "taobao", "instance": ""}.items()))] == 0


@on_sqlite
def test_a_retranslate_pushes_under_its_shard(config, pushgateway):
    code, _, err = etl("--config", config, "-q", "retranslate", "taobao", "--since", "2026-11-11", "--until",
                       "2026-11-12", "--shard", "0/2", "--pushgateway", pushgateway)
    assert code == 0 and err == ""
    assert groups(pushgateway) == [{"instance": "0/2", "job": "taobao"}]
    assert ("etl_lag_seconds", frozenset({"job": "taobao", "instance": "0/2"}.items())) in pushed(pushgateway)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A port that takes connections and never answers (a gateway that hangs)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


@on_sqlite
@pytest.mark.parametrize("failure, reason", [("refused", "Connection refused"), ("not found", "HTTP 404 Not Found"),
                                             ("no answer", "timed out")])
def test_a_push_that_fails_is_a_warning_and_never_a_failed_run(config, request, failure, reason):
    gateway = {
        "refused": lambda: f"http://127.0.0.1:{free_port()}",
        "not found": lambda: f"{request.getfixturevalue('pushgateway')}/no/such/path",
        "no answer": lambda: request.getfixturevalue("silent_server"),
    }[failure]()
    started = time.monotonic()
    code, _, err = etl("--config", config, "-q", "run", "--pushgateway", gateway)
    assert code == 0
    (line,) = err.splitlines()  # the first failure stops the pushes: one line for both jobs
    assert line.startswith(f"etl: WARNING could not push the metrics of job 'taobao' to {gateway}: "), line
    assert line.endswith(reason), line
    assert time.monotonic() - started < PUSH_TIMEOUT + 10


@on_sqlite
def test_the_warning_is_json_with_json_logs_and_hides_a_password(config):
    gateway = f"http://etl:secret@127.0.0.1:{free_port()}"
    code, _, err = etl("--config", config, "--log-format", "json", "run", "refunds", "--pushgateway", gateway)
    assert code == 0
    (line,) = [orjson.loads(line) for line in err.splitlines()]
    assert line["event"] == "log" and line["level"] == "warning", line
    assert "etl:***@127.0.0.1" in line["message"] and "secret" not in err
