"""One exception tree for everything a user can be told; the CLI maps it to exit codes.

Messages are complete sentences for the person on call: which job, which database
(by its URL without the password), what failed and, where we know, what to do.
"""

from __future__ import annotations


class EtlError(Exception):
    """Anything the job reports as one clear line; exit code 1 unless a subclass says otherwise."""

    exit_code = 1


class ConfigError(EtlError):
    """jobs.yaml or the command line is wrong: an unknown key, job or value."""

    exit_code = 2


class NotInitialized(EtlError):
    """The target lacks the tables: `etl init` creates them, `run` never does."""

    exit_code = 2


class RejectBudgetExceeded(EtlError):
    """Too many rejects in one run: the translator, not the data, is likely wrong."""

    exit_code = 65


class DatabaseUnavailable(EtlError):
    """A database cannot be reached (connection refused, access denied, unknown database)."""

    exit_code = 69


class ValueRefused(EtlError):
    """The target refused a value of a batch's rows (too long, out of range, a duplicate, a CHECK).

    Not a fault of the database, so never retried: the writer finds the push that holds the value
    and rejects it alone. `detail` is the server's own words.
    """

    def __init__(self, message: str, detail: str) -> None:
        super().__init__(message)
        self.detail = detail

    def __reduce__(self) -> tuple:
        # A worker's error reaches the coordinator pickled; by default unpickling calls __init__ with the
        # message alone.
        return type(self), (str(self), self.detail)


class Transient(EtlError):
    """A database fault that a fresh connection a moment later would likely not meet: the server went
    away or restarted, the connection was killed, a lock wait timed out, a deadlock. Retried.

    `failure` is what a user reads once the retries are spent; `detail` is the driver's own words.
    """

    def __init__(self, failure: EtlError, detail: str) -> None:
        super().__init__(str(failure))
        self.failure, self.detail = failure, detail
        self.exit_code = failure.exit_code

    def __reduce__(self) -> tuple:
        return type(self), (self.failure, self.detail)

    def gave_up(self, what: str, attempts: int) -> EtlError:
        """The failure a user reads after `attempts` attempts at `what`."""
        return type(self.failure)(f"{self.failure} (while {what}; gave up after {attempts} attempts)")


class MetricsNotPushed(EtlError):
    """The Pushgateway did not take the metrics (down, refused, too slow): a warning, never a failed run."""


class JobBusy(EtlError):
    """Another run of the same job holds its lock."""

    exit_code = 75


class Interrupted(EtlError):
    """The run was stopped by a signal; its current batch was rolled back, its run recorded."""

    def __init__(self, message: str, exit_code: int = 130) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised at a safe point of the job, so it unwinds exactly as Ctrl-C does."""

    def __init__(self, exit_code: int = 143) -> None:
        super().__init__()
        self.exit_code = exit_code
