"""The retry policy: a `Transient` fault waits, then runs the operation again, a bounded number of times.

A `ValueRefused` and every other failure go up at once: a refused value is the writer's to find
(see etl/pipeline/step.py), and the others would fail again.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.engine import URL

from etl import stopping
from etl.database.engines import masked
from etl.database.faults import typed_faults
from etl.errors import Transient

log = logging.getLogger("etl")
T = TypeVar("T")

_MAX_BACKOFF_SECONDS = 60.0


@dataclass(frozen=True)
class RetryPolicy:
    job: str
    retries: int
    wait_seconds: float

    def wait(self, attempt: int) -> float:
        """Seconds before attempt `attempt` + 1: exponential and bounded, with jitter, so that two
        jobs that deadlocked do not collide again."""
        return min(self.wait_seconds * 2**attempt, _MAX_BACKOFF_SECONDS) * random.uniform(0.5, 1.0)


def retrying(policy: RetryPolicy, role: str, url: URL, what: str, operation: Callable[[], T]) -> T:
    """Run `operation` on the `role` database at `url`; on a `Transient` fault wait and run it again,
    up to `policy.retries` times. `what` names the operation in the log and in the final failure."""
    for attempt in range(policy.retries + 1):
        try:
            with typed_faults(role, url):
                return operation()
        except Transient as fault:
            if attempt == policy.retries:
                raise fault.gave_up(what, attempt + 1) from None
            wait = policy.wait(attempt)
            log.warning("job %s: %s database %s failed while %s (%s); retry %d of %d in %.1fs",
                        policy.job, role, masked(url), what, fault.detail, attempt + 1, policy.retries, wait)
            stopping.sleep(wait)
    raise AssertionError("unreachable")
