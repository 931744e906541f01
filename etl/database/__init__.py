"""The database side, one module a role: engines (made and disposed), faults (what a driver error
means), tables (reflection, set-based upserts, IN lists), literals (values as SQL and LOAD DATA text),
load_data (LOAD DATA LOCAL)."""

# etl/schema.py and tests/test_schema.py import these from the package.
from etl.database.engines import target_engine
from etl.database.faults import describe_failure, error_code
from etl.database.literals import AS_IS

__all__ = ["AS_IS", "describe_failure", "error_code", "target_engine"]
