"""The database side, one module a role: engines (made and disposed), faults (what a driver error
means), tables (reflection, set-based upserts, IN lists), literals (values as SQL and LOAD DATA text),
load_data (LOAD DATA LOCAL)."""
