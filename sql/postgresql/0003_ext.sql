-- Fields no column maps, and the user's own DDL (see sql/mysql/0003_ext.sql).
-- `json`, not `jsonb`: json keeps the text as the push had it, byte for byte what a MySQL/MariaDB
-- target holds, and is written faster (validated, not converted); jsonb would reorder keys and drop
-- duplicates. `ext->>'o2o_shop_id'` reads either (bench/RESULTS.md has the measurement).
ALTER TABLE oms_trade ADD COLUMN IF NOT EXISTS ext JSON;

CREATE TABLE IF NOT EXISTS etl_local_sql (
  name       VARCHAR(255) NOT NULL PRIMARY KEY,
  sha256     CHAR(64)     NOT NULL,
  applied_at TIMESTAMP(0) NOT NULL
);
