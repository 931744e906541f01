"""The `etl` command: parse arguments, call one library function, print, map errors to exit codes.

Exit codes: 0 ok; 2 usage or configuration (a target without tables included);
65 reject budget exceeded; 69 a database unavailable; 75 the job is busy;
130 / 143 interrupted by SIGINT / SIGTERM; 1 anything else.
No traceback and no password ever reaches the terminal.
"""

from __future__ import annotations

import functools
import logging
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import orjson

from etl import __version__, logs
from etl.config import Config, JobConfig, load_config
from etl.errors import ConfigError, EtlError, Interrupted, JobBusy, MetricsNotPushed
from etl.export import FORMATS, export_job
from etl.pipeline import RunResult, retranslate_job, retry_rejects, run_job
from etl.runs import RunCounts
from etl.schema import LOCAL_FOLDER, init_targets
from etl.shard import WHOLE, Shard
from etl.status import JobStatus, ShardStatus, job_status, open_rejects
from etl.stopping import request_stop

log = logging.getLogger("etl")

_DATETIME_FORMATS = ["%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
# When several jobs fail, the exit code is the most severe: a database down outranks
# a broken job, which outranks a busy one (that one only needs to wait).
_SEVERITY = (69, 65, 2, 1, 130, 75)


def _worst(codes: Sequence[int]) -> int:
    failed = [code for code in codes if code]
    if not failed:
        return 0
    return min(failed, key=lambda code: _SEVERITY.index(code) if code in _SEVERITY else len(_SEVERITY))


def _json_mode() -> bool:
    context = click.get_current_context(silent=True)
    return bool(context and context.obj and context.obj.get("log_format") == "json")


def _fail(message: str, code: int) -> None:
    if _json_mode():
        click.echo(logs.event(event="error", outcome="failed", exit_code=code, message=message), err=True)
    else:
        click.echo(f"etl: {message}", err=True)
    sys.exit(code)


def _warn(message: str) -> None:
    """A warning that prints also with -q: the exit code does not carry it, so stderr is all that tells."""
    if _json_mode():
        click.echo(logs.event(event="log", level="warning", message=message), err=True)
    else:
        click.echo(f"etl: WARNING {message}", err=True)


def _guarded(command: Callable[..., Any]) -> Callable[..., Any]:
    """Every library error becomes one line on stderr and its exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except click.ClickException:
            raise  # a usage error: click prints it with the command's usage, and exits 2
        except EtlError as error:
            _fail(str(error), error.exit_code)
        except KeyboardInterrupt as stop:
            _fail("interrupted", getattr(stop, "exit_code", 130))
        except Exception as error:  # the last line of defence: a bug must still not print a traceback
            log.debug("internal error", exc_info=True)
            _fail(f"internal error ({type(error).__name__}: {error}); rerun with -vv for details", 1)

    return wrapper


def _terminate(_signal: int, _frame: Any) -> None:
    request_stop(143)


def _config(context: click.Context) -> Config:
    return load_config(context.obj["config"])


def _run_event(result: RunResult) -> str:
    window, watermark, counts = result.window, result.watermark, result.counts
    sharded = {} if result.shard.whole else {"shard": result.shard.label}
    return logs.event(
        event=result.mode, job=result.job, **sharded, run_id=result.run_id, outcome="ok",
        window=None if window is None else {
            "from": None if window.start is None else window.start.modified,
            "from_key": None if window.start is None else window.start.key,
            "to": window.end, "to_inclusive": window.end_inclusive,
        },
        rows_read=counts.rows_read, documents_read=counts.documents_read, pushes_written=counts.pushes_written,
        rejects=counts.rejects,
        warnings=counts.warnings, seconds=round(result.seconds, 3),
        watermark=None if watermark is None else {"jdp_modified": watermark.modified, "key": watermark.key},
    )


def _report(context: click.Context, result: RunResult) -> None:
    """The one summary line of a run (none with -q): text, or a JSON event."""
    if context.obj["quiet"]:
        return
    click.echo(_run_event(result) if context.obj["log_format"] == "json" else _describe_run(result))


def _report_failure(context: click.Context, job: JobConfig, error: EtlError) -> None:
    # -q keeps a busy job quiet: cron mails what prints, and the next tick runs it.
    if context.obj["quiet"] and error.exit_code == JobBusy.exit_code:
        return
    if context.obj["log_format"] == "json":
        outcome = "busy" if error.exit_code == JobBusy.exit_code else "failed"
        click.echo(logs.event(event="run", job=job.name, outcome=outcome, exit_code=error.exit_code, message=str(error)),
                   err=True)
    else:
        click.echo(f"etl: job {job.name!r}: {error}", err=True)


class _Bar:
    """A progress bar per job on a terminal: rows done of the window, rate, ETA and rejects."""

    def __init__(self) -> None:
        self.bar: Any = None  # a tqdm, once started

    def start(self, job: str, total: int) -> None:
        # Imported here, as the metrics' and the demo's modules are where they serve: a cron tick
        # (no terminal, no metrics file) does not pay for loading them.
        from tqdm import tqdm

        self.close()
        self.bar = tqdm(total=total, desc=job, unit=" rows", unit_scale=True, file=sys.stderr, leave=False,
                        dynamic_ncols=True)

    def advance(self, counts: RunCounts) -> None:
        if self.bar is not None:
            self.bar.set_postfix(rejects=counts.rejects, refresh=False)
            self.bar.update(counts.rows_read - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            # Updates within tqdm's 0.1 s minimum interval are not drawn: show the end once.
            self.bar.refresh()
            self.bar.close()
            self.bar = None


@contextmanager
def _progress(context: click.Context) -> Iterator[_Bar | None]:
    """A bar for a person at a terminal; none for cron, scripts, -q or JSON logs."""
    if context.obj["quiet"] or context.obj["log_format"] == "json" or not sys.stderr.isatty():
        yield None
        return
    bar = _Bar()
    try:
        yield bar
    finally:
        bar.close()


def _describe_run(result: RunResult) -> str:
    counts = result.counts
    parts = [
        f"{result.job}{'' if result.shard.whole else f' shard {result.shard.label}'}: {result.mode} #{result.run_id} ok",
        f"read {counts.rows_read}",
        f"wrote {counts.pushes_written}",
        f"rejected {counts.rejects}",
    ]
    if counts.warnings:
        parts.append(f"warnings {counts.warnings} (-v shows them)")
    if result.plan.moves_watermark and result.window is None:
        parts.append("source is empty")
    if result.plan.moves_watermark and result.watermark is not None:
        parts.append(f"watermark {result.watermark.modified} / {result.watermark.key}")
    return ", ".join(parts)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    envvar="ETL_CONFIG",
    default="jobs.yaml",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="jobs.yaml to read (env ETL_CONFIG).",
)
@click.option("-v", "--verbose", count=True, help="More detail: -v per-push warnings, -vv debug.")
@click.option("-q", "--quiet", is_flag=True, help="Only errors (and no progress bar).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: one JSON object per event (run summaries, errors, warnings) for log shippers.")
@click.version_option(__version__)  # the one version the package metadata reads too (setup.cfg)
@click.pass_context
def main(context: click.Context, config_path: str, verbose: int, quiet: bool, log_format: str) -> None:
    """Translate Jushita push tables (jdp_tb_trade) into normalized OMS tables."""
    signal.signal(signal.SIGTERM, _terminate)
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logs.configure(logs.LogSettings(level, json=log_format == "json"))
    # SQLAlchemy's pool logs, with a traceback, every dead connection it fails to reset; the job
    # already reports (and retries) those faults in one line, so its logs show only with -vv.
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING if verbose >= 2 else logging.CRITICAL)
    context.ensure_object(dict)
    context.obj.update(config=config_path, quiet=quiet, log_format=log_format)


@main.command()
@click.pass_context
@_guarded
def init(context: click.Context) -> None:
    """Create or upgrade the target tables of every job, then apply sql/local/*.sql beside the config (safe to repeat)."""
    config = _config(context)
    for target, applied in init_targets(config.jobs, Path(config.path).parent / LOCAL_FOLDER):
        click.echo(f"{target}: " + (f"applied {', '.join(applied)}" if applied else "up to date"))


_WORKERS = click.option(
    "--workers", type=click.IntRange(1, 32), default=None,
    help="Processes per job, each writing its share of the keys (default: the job's `workers`, else auto: "
         "the machine's cores, at most 4, for a window of 5,000 rows or more).",
)


class _ShardType(click.ParamType):
    name = "I/N"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Shard:
        if isinstance(value, Shard):
            return value
        try:
            return Shard.parse(value)
        except ConfigError:
            self.fail(f"--shard takes I/N (e.g. 3/8: the keys whose remainder modulo 8 is 3), not {value!r}", param, ctx)


_SHARD = click.option(
    "--shard", type=_ShardType(), default=WHOLE,
    help="Only the keys whose remainder modulo N is I (e.g. 3/8). A shard's run has a watermark and a lock of "
         "its own: N processes, on N machines, carry one job without talking to each other.",
)


def _with_workers(job: JobConfig, workers: int | None) -> JobConfig:
    return job if workers is None else job.model_copy(update={"workers": workers})


def _period(command: Callable[..., Any]) -> Callable[..., Any]:
    """--since/--until: a window of modified times, [SINCE, UNTIL) (`_check_period` refuses an empty one)."""
    since = click.option("--since", required=True, type=click.DateTime(_DATETIME_FORMATS),
                         help="First modified time (inclusive).")
    until = click.option("--until", required=True, type=click.DateTime(_DATETIME_FORMATS),
                         help="End modified time (exclusive).")
    return since(until(command))


def _check_period(since: datetime, until: datetime) -> None:
    if not since < until:
        raise click.BadParameter(f"{until} is not after --since {since}", param_hint="'--until'")


_METRICS = click.option(
    "--metrics-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Write per-job metrics here in Prometheus text format, atomically (node_exporter's textfile collector).",
)


_PUSHGATEWAY = click.option(
    "--pushgateway", metavar="URL", envvar="ETL_PUSHGATEWAY", default=None,
    help="Push the same metrics to this Prometheus Pushgateway when the run ends, a group per job and shard "
         "(env ETL_PUSHGATEWAY). A push that fails is a warning, never a failed run.",
)


def _publish(context: click.Context, jobs: Sequence[JobConfig], shard: Shard, metrics_file: Path | None,
             pushgateway: str | None) -> None:
    """The jobs' metrics, failed ones included, to the file and the gateway asked for."""
    if metrics_file is None and pushgateway is None:
        return
    from etl.metrics import push_metrics, write_metrics

    statuses = _statuses(context, jobs)[0]
    # The push first: a file that cannot be written fails the command, a push never does.
    if pushgateway:
        try:
            push_metrics(pushgateway, [job.name for job in jobs], statuses, shard)
        except MetricsNotPushed as error:
            _warn(str(error))
    if metrics_file is not None:
        write_metrics(metrics_file, statuses)


def _statuses(context: click.Context, jobs: Sequence[JobConfig]) -> tuple[list[JobStatus], list[int]]:
    """The status of each job that can be read; a job whose databases fail is told on stderr."""
    statuses, codes = [], []
    for job in jobs:
        try:
            statuses.append(job_status(job))
        except EtlError as error:
            _report_failure(context, job, error)
            codes.append(error.exit_code)
    return statuses, codes


@main.command()
@click.argument("jobs", nargs=-1)
@_WORKERS
@_SHARD
@_METRICS
@_PUSHGATEWAY
@click.pass_context
@_guarded
def run(context: click.Context, jobs: tuple[str, ...], workers: int | None, shard: Shard,
        metrics_file: Path | None, pushgateway: str | None) -> None:
    """Incremental run of the named jobs (all enabled jobs when none are named), until caught up.

    A busy or failing job does not stop the others; the exit code is the worst of them.
    With --metrics-file or --pushgateway, the jobs' metrics are written or pushed after the last of
    them, failed ones included.
    """
    selected = [_with_workers(job, workers) for job in _config(context).select(jobs)]
    codes = []
    for job in selected:
        try:
            with _progress(context) as bar:
                result = run_job(job, bar, shard)
        except Interrupted:
            raise  # a signal stops every job, not only the one it landed in
        except EtlError as error:
            _report_failure(context, job, error)
            codes.append(error.exit_code)
            continue
        codes.append(0)
        _report(context, result)
    _publish(context, selected, shard, metrics_file, pushgateway)
    sys.exit(_worst(codes))


@main.command()
@click.argument("job")
@_period
@_WORKERS
@_SHARD
@_PUSHGATEWAY
@click.pass_context
@_guarded
def retranslate(context: click.Context, job: str, since: datetime, until: datetime, workers: int | None,
                shard: Shard, pushgateway: str | None) -> None:
    """Re-translate JOB's pushes with jdp_modified in [SINCE, UNTIL); the watermark stays put.

    Newer still wins: a push older than what the OMS holds changes nothing, one of the
    same version is rewritten (that is what a re-translation after a fix is for).
    """
    _check_period(since, until)
    chosen = _with_workers(_config(context).job(job), workers)
    try:
        with _progress(context) as bar:
            result = retranslate_job(chosen, since, until, bar, shard)
    except Interrupted:
        raise  # as `run`: a signal ends the command before its metrics
    except EtlError:
        _publish(context, [chosen], shard, None, pushgateway)  # a failed run pushes too, as `run`'s do
        raise
    _report(context, result)
    _publish(context, [chosen], shard, None, pushgateway)


def _status_cells(status: JobStatus | ShardStatus) -> tuple[str, str, str, str]:
    last = status.last_run
    return (
        "-" if status.watermark is None else f"{status.watermark.modified} / {status.watermark.key}",
        "-" if status.newest_source is None else str(status.newest_source),
        "-" if status.lag_seconds is None else str(status.lag_seconds),
        "-"
        if last is None
        else f"#{last.run_id} {last.mode} {last.outcome} at {last.started_at:%Y-%m-%d %H:%M:%S}Z "
        f"(read {last.rows_read}, wrote {last.pushes_written}, rejected {last.rejects})",
    )


def _status_lines(statuses: Sequence[JobStatus]) -> list[str]:
    header = ("job", "watermark", "newest source", "lag s", "last run", "open rejects")
    rows = [header]
    for status in statuses:
        rows.append((status.job, *_status_cells(status), str(status.open_rejects)))
        # A sharded job's line is the job as one (the worst shard); a line per shard follows it.
        rows.extend((f"  shard {shard.shard or 'whole'}", *_status_cells(shard), "") for shard in status.shards)
    widths = [max(len(row[index]) for row in rows) for index in range(len(header))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


@main.command()
@click.argument("jobs", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="One JSON document for scripts.")
@click.option("--max-lag", type=click.IntRange(0), default=None, metavar="SECONDS",
              help="Exit 1 when a job lags more than this (or never ran): a ready-made monitoring probe.")
@_METRICS
@click.pass_context
@_guarded
def status(context: click.Context, jobs: tuple[str, ...], as_json: bool, max_lag: int | None,
           metrics_file: Path | None) -> None:
    """Per job: watermark, newest source jdp_modified, lag, last run and open rejects."""
    statuses, codes = _statuses(context, _config(context).select(jobs))
    if as_json:
        click.echo(orjson.dumps([item.as_dict() for item in statuses], option=orjson.OPT_INDENT_2).decode())
    else:
        for line in _status_lines(statuses):
            click.echo(line)
    if metrics_file is not None:
        from etl.metrics import write_metrics

        write_metrics(metrics_file, statuses)
    if max_lag is not None:
        for item in statuses:
            if item.lags_more_than(max_lag):
                lagging = "has no watermark yet" if item.lag_seconds is None else f"lags {item.lag_seconds} s"
                behind = [shard.shard for shard in item.shards if shard.lag_seconds == item.lag_seconds]
                if behind:
                    lagging += f" (shard {', '.join(label or 'whole' for label in behind)})"
                click.echo(f"etl: job {item.job!r} {lagging} (more than --max-lag {max_lag})", err=True)
                codes.append(1)
    sys.exit(_worst(codes))


@main.command()
@click.argument("job")
@_period
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the table here as CSV (money as exact text).")
@_SHARD
@click.pass_context
@_guarded
def verify(context: click.Context, job: str, since: datetime, until: datetime, csv_path: Path | None,
           shard: Shard) -> None:
    """Is the OMS complete? JOB's pushes in [SINCE, UNTIL) against the target, per seller and day.

    Counts pushes and target rows, lists keys missing, stale (the target holds an older version)
    or rejected, and compares the sum of payment exactly. Exits 1 on any difference.
    """
    # Imported here: pandas (and the pyarrow it loads) is ~80 MB per process, which `run` and
    # each of its workers would otherwise carry for nothing.
    from etl.verify import verify_job

    _check_period(since, until)
    report = verify_job(_config(context).job(job), since, until, shard)
    table = report.table
    if csv_path is not None:
        report.to_csv(csv_path)
    if not context.obj["quiet"]:
        click.echo(report.to_text() if not table.empty else f"{job}: no pushes in the window")
        for name in ("missing", "stale", "rejected"):
            keys = getattr(report, name)
            if keys:
                more = " ..." if int(table[name].sum()) > len(keys) else ""
                click.echo(f"{name}: {' '.join(map(str, keys))}{more}")
    if report.differences:
        click.echo(f"etl: job {job!r}: {report.differences} difference(s) between source and target "
                   f"in [{since}, {until})", err=True)
        sys.exit(1)
    click.echo(f"{job}: the target holds every push of [{since}, {until}) and the same amounts", err=True)


@main.command()
@click.argument("job")
@_period
@click.option("--format", "form", type=click.Choice(FORMATS), default="csv", show_default=True,
              help="csv (ids as exact text) or parquet (ids int64, money decimal128; needs jdp-etl[parquet]).")
@click.option("--out", "folder", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the files, one per table (created; files of the same names are replaced).")
@click.pass_context
@_guarded
def export(context: click.Context, job: str, since: datetime, until: datetime, form: str, folder: Path) -> None:
    """Write JOB's translated rows of [SINCE, UNTIL) (by the target's jdp_modified) as files for analysts.

    A trade job writes oms_trade, oms_order and oms_promotion; a refund job oms_refund.
    """
    _check_period(since, until)
    files = export_job(_config(context).job(job), since, until, form, folder)
    if not context.obj["quiet"]:
        for name, path in files.items():
            click.echo(f"{name}: {path}")


@main.command()
@click.argument("jobs", nargs=-1)
@click.option("--retry", is_flag=True, help="Read the rejected pushes again from the source and translate them.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1), help="Rows to list per job.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document for scripts.")
@click.pass_context
@_guarded
def rejects(context: click.Context, jobs: tuple[str, ...], retry: bool, limit: int, as_json: bool) -> None:
    """List the open rejects (quarantined pushes) of the jobs, oldest first, with their reasons.

    With --retry, each job re-reads its rejected tids from the source and writes those that
    now translate (after a translator fix, or a fixed source row); the rest stay open.
    """
    selected = _config(context).select(jobs)
    if retry:
        for job in selected:
            result = retry_rejects(job)
            summary = f"{_describe_run(result)}, no longer in the source {result.counts.missing}"
            click.echo(summary, err=as_json)
    listed = {job.name: open_rejects(job, limit) for job in selected}
    if as_json:
        document = {name: {"open": total, "rejects": [row.as_dict() for row in rows]} for name, (total, rows) in listed.items()}
        click.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
        return
    for name, (total, rows) in listed.items():
        click.echo(f"{name}: {total} open reject{'s' if total != 1 else ''}")
        for row in rows:
            click.echo(f"  {row.key_text or row.tid}  {row.jdp_modified}  first seen {row.first_seen:%Y-%m-%d %H:%M:%S}Z  {row.error}")
        if total > len(rows):
            click.echo(f"  ... and {total - len(rows)} more (--limit)")


@main.command()
@click.option("--dir", "folder", default="demo", show_default=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--pushes", default=3000, show_default=True, type=click.IntRange(1, 1_000_000))
@_guarded
def demo(folder: Path, pushes: int) -> None:
    """Run the job end to end on SQLite files in DIR: no server needed."""
    from etl.demo import run_demo

    report = run_demo(folder, pushes)
    click.echo(f"Built {report.folder}/jdp.db: a jdp_tb_trade push table with {pushes + 2} pushes (2 of them broken)")
    click.echo(f"  and a jdp_tb_refund table with {report.refunds} refunds waiting for the seller.")
    click.echo(f"Wrote {report.config} (jobs demo and demo_refunds) and created the OMS tables in {report.folder}/oms.db.")
    trades, refunds, later_trades, later_refunds = report.runs
    click.echo(f"First runs:  {_describe_run(trades)}")
    click.echo(f"             {_describe_run(refunds)}")
    click.echo("The platform shipped a tenth of the trades and dropped a line from one; half the refunds succeeded:")
    click.echo(f"             {_describe_run(later_trades)}")
    click.echo(f"             {_describe_run(later_refunds)}")
    click.echo("OMS tables: " + ", ".join(f"{name} {count}" for name, count in report.table_counts.items()))
    click.echo(f"Lines on hold for a refund in progress (oms_order.oms_status REFUNDING): {report.lines_on_hold}")
    for line in _status_lines(list(report.statuses)):
        click.echo("  " + line)
    click.echo(f"Next: etl --config {report.config} status | rejects are in etl_reject, with their reasons.")
