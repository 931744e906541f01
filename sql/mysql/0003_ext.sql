-- Fields no column maps, and the user's own DDL.
-- Re-applying after a failure half-way skips what exists (duplicate column), see etl/schema.py.

-- Every trade field the translator did not map, as the push had it (a job's keep_ext: false
-- writes NULL). MariaDB's JSON is LONGTEXT checked by JSON_VALID; MySQL's is binary JSON.
ALTER TABLE oms_trade
  ADD COLUMN ext JSON NULL COMMENT 'trade fields no column maps, as pushed; NULL when the job does not keep them';

-- The files of sql/local/ (next to jobs.yaml) `etl init` applied, once each, in name order.
CREATE TABLE IF NOT EXISTS etl_local_sql (
  name       VARCHAR(255) NOT NULL COMMENT 'file name in sql/local/',
  sha256     CHAR(64)     NOT NULL COMMENT 'of the text applied: a file changed afterwards is an error',
  applied_at DATETIME     NOT NULL COMMENT 'UTC',
  PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
