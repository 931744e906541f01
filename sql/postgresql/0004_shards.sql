-- Shards (see sql/mysql/0004_shards.sql): the watermark is keyed by (job, shard).
ALTER TABLE etl_watermark ADD COLUMN IF NOT EXISTS shard VARCHAR(16) NOT NULL DEFAULT '';
ALTER TABLE etl_watermark DROP CONSTRAINT IF EXISTS etl_watermark_pkey;
ALTER TABLE etl_watermark ADD CONSTRAINT etl_watermark_pkey PRIMARY KEY (job, shard);

ALTER TABLE etl_run ADD COLUMN IF NOT EXISTS shard VARCHAR(16) NOT NULL DEFAULT '';
CREATE INDEX IF NOT EXISTS ix_etl_run_job_shard ON etl_run (job, shard, run_id);
