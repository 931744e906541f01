"""The retry policy and the typed faults it tells apart: no server needed, driver errors are made by hand."""

from __future__ import annotations

import pymysql
import pytest
import sqlalchemy as sa

from etl.database.faults import typed_faults
from etl.errors import DatabaseUnavailable, EtlError, Transient, ValueRefused
from etl.pipeline.retry import RetryPolicy, retrying
from test_database import URL, mysql_error

LOST = (pymysql.err.OperationalError, 2013, "Lost connection to MySQL server during query")
TOO_LONG = (pymysql.err.DataError, 1406, "Data too long for column 'title'")
CHECK = (pymysql.err.OperationalError, 4025, "CONSTRAINT `ext` failed")
DENIED = (pymysql.err.OperationalError, 1045, "Access denied")


@pytest.mark.parametrize(
    "fault, expected",
    [(LOST, Transient), (TOO_LONG, ValueRefused), (CHECK, ValueRefused), (DENIED, DatabaseUnavailable)],
    ids=["lost-connection", "too-long", "check-constraint", "access-denied"],
)
def test_a_driver_error_is_raised_as_what_it_means(fault, expected):
    with pytest.raises(EtlError) as caught, typed_faults("target", URL):
        raise mysql_error(*fault)
    assert type(caught.value) is expected
    assert "s3cret" not in str(caught.value) and "target database" in str(caught.value)


def test_a_refused_value_keeps_the_servers_words():
    with pytest.raises(ValueRefused) as caught, typed_faults("target", URL):
        raise mysql_error(*TOO_LONG)
    assert caught.value.detail == "(1406, \"Data too long for column 'title'\")"


class _Failing:
    """An operation that fails with `error` `times` times, then answers 42."""

    def __init__(self, error: sa.exc.DBAPIError, times: int) -> None:
        self.error, self.left, self.calls = error, times, 0

    def __call__(self) -> int:
        self.calls += 1
        if self.left:
            self.left -= 1
            raise self.error
        return 42


def test_a_transient_fault_is_retried_until_the_operation_succeeds():
    operation = _Failing(mysql_error(*LOST), times=2)
    assert retrying(RetryPolicy("tb", retries=2, wait_seconds=0), "target", URL, "writing", operation) == 42
    assert operation.calls == 3


def test_spent_retries_raise_the_failure_a_user_reads():
    operation = _Failing(mysql_error(pymysql.err.OperationalError, 2003, "Can't connect"), times=3)
    with pytest.raises(DatabaseUnavailable) as caught:
        retrying(RetryPolicy("tb", retries=2, wait_seconds=0), "target", URL, "writing a batch", operation)
    assert "(while writing a batch; gave up after 3 attempts)" in str(caught.value) and operation.calls == 3


@pytest.mark.parametrize("fault", [TOO_LONG, DENIED], ids=["refused-value", "not-transient"])
def test_anything_else_is_not_retried(fault):
    operation = _Failing(mysql_error(*fault), times=1)
    with pytest.raises(EtlError):
        retrying(RetryPolicy("tb", retries=3, wait_seconds=0), "target", URL, "writing", operation)
    assert operation.calls == 1


def test_the_wait_grows_and_is_bounded():
    policy = RetryPolicy("tb", retries=10, wait_seconds=1.0)
    assert 0.5 <= policy.wait(0) <= 1.0 and 4.0 <= policy.wait(3) <= 8.0 and 30.0 <= policy.wait(9) <= 60.0
