-- Shards (see sql/mysql/0004_shards.sql). SQLite cannot change a primary key: the watermark table
-- is copied into one keyed by (job, shard), in the migration's one transaction.
CREATE TABLE etl_watermark_sharded (
  job          VARCHAR(64)  NOT NULL,
  shard        VARCHAR(16)  NOT NULL DEFAULT '',
  jdp_modified DATETIME     NOT NULL,
  tid          BIGINT       NOT NULL,
  updated_at   DATETIME     NOT NULL,
  key_text     VARCHAR(128) NULL,
  PRIMARY KEY (job, shard)
);
INSERT INTO etl_watermark_sharded (job, shard, jdp_modified, tid, updated_at, key_text)
  SELECT job, '', jdp_modified, tid, updated_at, key_text FROM etl_watermark;
DROP TABLE etl_watermark;
ALTER TABLE etl_watermark_sharded RENAME TO etl_watermark;

ALTER TABLE etl_run ADD COLUMN shard VARCHAR(16) NOT NULL DEFAULT '';
CREATE INDEX IF NOT EXISTS ix_etl_run_job_shard ON etl_run (job, shard, run_id);
