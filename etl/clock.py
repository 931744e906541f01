"""The job's clock: what it stamps itself (UTC, stored naive), and the whole second it keeps a push's time at."""

from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> datetime:
    """Timestamps the job writes itself are UTC, stored naive."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def to_second(moment: datetime) -> datetime:
    """A source's modified time as the target's DATETIME columns keep it: the job's clock is the
    whole second of Jushita's tables. A landing table's fraction is floored here, by the job, as
    MariaDB would; MySQL would round it up, past rows of that second not yet read."""
    return moment.replace(microsecond=0) if moment.microsecond else moment
