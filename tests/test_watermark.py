"""The watermark: keyset ordering of positions, where a run resumes, advancing, and what a target keeps."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from etl.database.engines import target_engine
from etl.database.tables import reflect
from etl.watermark import load_watermark, save_watermark
from etl.window import Position, advance, resume_point

T0 = datetime(2024, 11, 11, 0, 0, 0)
T1 = T0 + timedelta(seconds=1)
BIG = 4012345678901234567  # a 19-digit tid
SMALL = 1


# --- ordering ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lower, higher",
    [
        (Position(T0, None), Position(T0, SMALL)),
        (Position(T0, None), Position(T0, BIG)),
        (Position(T0, SMALL), Position(T0, BIG)),
        (Position(T0, BIG), Position(T1, SMALL)),
        (Position(T0, BIG), Position(T1, None)),
        (Position(T0, None), Position(T1, None)),
        (Position(T0 + timedelta(microseconds=999_999), BIG), Position(T1, None)),
    ],
    ids=[
        "no-key-before-smallest-key-same-second",
        "no-key-before-big-key-same-second",
        "smaller-key-first-same-second",
        "later-second-beats-bigger-key",
        "later-second-without-key-beats-bigger-key",
        "later-second-both-without-key",
        "microsecond-before-next-second",
    ],
)
def test_position_order(lower, higher):
    assert lower < higher and lower <= higher
    assert higher > lower and higher >= lower
    assert not (higher < lower) and not (lower > higher)
    assert not (higher <= lower) and not (lower >= higher)


@pytest.mark.parametrize("key", [None, SMALL, BIG], ids=["no-key", "small-key", "big-key"])
def test_a_position_equals_itself_in_order(key):
    position = Position(T0, key)
    assert position <= Position(T0, key) and position >= Position(T0, key)
    assert not (position < Position(T0, key)) and not (position > Position(T0, key))
    assert position == Position(T0, key)


def test_positions_sort_in_keyset_order():
    shuffled = [Position(T1, SMALL), Position(T0, BIG), Position(T1, None), Position(T0, None), Position(T0, SMALL)]
    assert sorted(shuffled) == [
        Position(T0, None),
        Position(T0, SMALL),
        Position(T0, BIG),
        Position(T1, None),
        Position(T1, SMALL),
    ]


def test_key_defaults_to_none():
    assert Position(T0).key is None


# --- resume_point -----------------------------------------------------------------------------------


@pytest.mark.parametrize("lookback", [0, 300], ids=["lookback-0", "lookback-300"])
def test_no_watermark_and_no_start_from_reads_from_the_beginning(lookback):
    assert resume_point(None, lookback, None) is None


@pytest.mark.parametrize("lookback", [0, 300], ids=["lookback-0", "lookback-300"])
def test_no_watermark_starts_at_start_from_without_lookback(lookback):
    assert resume_point(None, lookback, T0) == Position(T0, None)


@pytest.mark.parametrize("key", [SMALL, BIG], ids=["small-key", "big-key"])
def test_lookback_0_reads_the_watermarks_second_again(key):
    # A row of that second the run passed may be pushed again within it (the same jdp_modified).
    assert resume_point(Position(T1, key), 0, None) == Position(T1, None)


@pytest.mark.parametrize(
    "lookback, expected",
    [
        (1, Position(T1 - timedelta(seconds=1), None)),
        (300, Position(T1 - timedelta(seconds=300), None)),
        (86_400, Position(T1 - timedelta(days=1), None)),
    ],
    ids=["1s", "300s", "one-day"],
)
def test_lookback_resumes_that_many_seconds_earlier_before_every_key(lookback, expected):
    assert resume_point(Position(T1, BIG), lookback, None) == expected


def test_a_watermark_overrides_start_from():
    later_start = T1 + timedelta(days=30)
    assert resume_point(Position(T1, BIG), 300, later_start) == Position(T1 - timedelta(seconds=300), None)
    assert resume_point(Position(T1, BIG), 0, later_start) == Position(T1, None)


def test_the_lookback_point_is_before_every_row_of_its_second():
    point = resume_point(Position(T1, BIG), 300, None)
    assert point < Position(T1 - timedelta(seconds=300), SMALL)


# --- advance ----------------------------------------------------------------------------------------


def test_advance_from_nothing_takes_what_was_reached():
    assert advance(None, Position(T0, SMALL)) == Position(T0, SMALL)


@pytest.mark.parametrize(
    "current, reached",
    [
        (Position(T0, SMALL), Position(T0, BIG)),
        (Position(T0, BIG), Position(T1, SMALL)),
    ],
    ids=["bigger-key-same-second", "later-second"],
)
def test_advance_moves_forward(current, reached):
    assert advance(current, reached) == reached


@pytest.mark.parametrize(
    "current, reached",
    [
        (Position(T1, SMALL), Position(T0, BIG)),
        (Position(T1, BIG), Position(T1, SMALL)),
        (Position(T1, BIG), Position(T1 - timedelta(seconds=300), BIG)),
        (Position(T1, BIG), Position(T1, BIG)),
    ],
    ids=["earlier-second", "smaller-key-same-second", "lookback-reread", "same-position"],
)
def test_advance_never_moves_backwards(current, reached):
    assert advance(current, reached) == current


def test_advance_over_a_lookback_reread_keeps_the_high_water_mark():
    watermark = Position(T1, BIG)
    start = resume_point(watermark, 300, None)
    reread = [Position(start.modified, SMALL), Position(T1 - timedelta(seconds=10), BIG), Position(T1, SMALL)]
    for reached in reread:
        watermark = advance(watermark, reached)
    assert watermark == Position(T1, BIG)


@pytest.mark.parametrize("key", [1_000, "1000"], ids=["int-key", "text-key"])
def test_a_saved_watermark_is_floored_to_its_second(dbs, key):
    # A landing table's modified column may carry fractions; MySQL would round 10:00:00.7 up to
    # 10:00:01 and a run resuming there would pass the rest of that second unread.
    engine = target_engine(sa.make_url(dbs.target_url))
    table = reflect(engine, ["etl_watermark"])["etl_watermark"]
    with engine.begin() as connection:
        if dbs.backend == "mysql":
            # MariaDB truncates unless told to round as MySQL does.
            connection.exec_driver_sql("SET SESSION sql_mode = CONCAT(@@sql_mode, ',TIME_ROUND_FRACTIONAL')")
        save_watermark(connection, table, "tb", Position(datetime(2026, 11, 11, 10, 0, 0, 700_000), key),
                       datetime(2026, 11, 11, 2, 0, 0))
        loaded = load_watermark(connection, table, "tb", text_key=isinstance(key, str))
    engine.dispose()
    assert loaded == Position(datetime(2026, 11, 11, 10, 0, 0), key)
