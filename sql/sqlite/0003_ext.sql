-- Fields no column maps, and the user's own DDL (see sql/mysql/0003_ext.sql).
ALTER TABLE oms_trade ADD COLUMN ext TEXT NULL;

CREATE TABLE IF NOT EXISTS etl_local_sql (
  name       VARCHAR(255) NOT NULL PRIMARY KEY,
  sha256     CHAR(64)     NOT NULL,
  applied_at DATETIME     NOT NULL
);
