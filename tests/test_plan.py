"""What a run, a re-translate and a retry of rejects differ in: their plans, without a database."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from etl.config import parse_config
from etl.errors import ConfigError
from etl.pipeline.plan import RETRY_PLAN, CatchUp, retranslate_plan, run_plan
from etl.window import Period, Position, Window

T0 = datetime(2026, 11, 11, 10, 0, 0)
T1 = datetime(2026, 11, 11, 12, 0, 0)


def _job(**settings: object):
    return parse_config({"jobs": {"tb": {"source": "sqlite://", "target": "sqlite://", **settings}}}, "test").job("tb")


def _never() -> datetime:
    raise AssertionError("the source's newest push was asked for")


@pytest.mark.parametrize(
    "plan, facts",
    [
        (run_plan(_job()), ("run", True, False, True, True, False)),
        (retranslate_plan(Period(T0, T1)), ("retranslate", False, True, False, False, False)),
        (RETRY_PLAN, ("retry", False, True, False, False, True)),
    ],
    ids=["run", "retranslate", "retry"],
)
def test_each_plan_says_how_it_reads_and_writes(plan, facts):
    assert (plan.mode, plan.skip_written, plan.replace_equal, plan.moves_watermark, plan.rejects_null_modified,
            plan.reads_rejects) == facts


def test_a_run_reads_from_a_lookback_before_the_watermark_to_the_newest_push():
    plan = run_plan(_job(lookback_seconds=600))
    window = plan.window(Position(T1, 42), lambda: datetime(2026, 11, 11, 13, 0, 0))
    assert window == Window(Position(datetime(2026, 11, 11, 11, 50, 0)), datetime(2026, 11, 11, 13, 0, 0), True,
                            written_to=Position(T1, 42))
    # The lookback's rows are likely held (their marks are read first); those past the watermark are new.
    assert window.likely_held(window.start) and window.likely_held(Position(T1, 41))
    assert not window.likely_held(Position(T1, 42)) and not window.likely_held(Position(T1 + timedelta(seconds=1)))


def test_a_first_run_starts_at_start_from_and_an_empty_source_has_no_window():
    assert CatchUp(0, T0).window(None, lambda: T1) == Window(Position(T0), T1, True)
    assert CatchUp(0, None).window(None, lambda: T1) == Window(None, T1, True)
    assert run_plan(_job()).window(Position(T0, 1), lambda: None) is None


def test_a_retranslate_reads_its_period_whatever_the_watermark_and_a_retry_reads_no_window():
    assert retranslate_plan(Period(T0, T1)).window(Position(T1, 9), _never) == Window(Position(T0), T1, False)
    assert RETRY_PLAN.window(Position(T1, 9), _never) is None


@pytest.mark.parametrize("since, until", [(T1, T0), (T0, T0)], ids=["reversed", "empty"])
def test_a_period_must_not_be_empty(since, until):
    with pytest.raises(ConfigError, match=r"start \(.*\) must be before its end"):
        Period(since, until)
