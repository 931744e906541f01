-- Shards: a job may run as N processes (`etl run JOB --shard I/N`), each carrying the keys whose
-- remainder modulo N is I, with a watermark row and a run log of its own. '' is the whole job
-- (every row an unsharded job wrote). Re-applying after a failure half-way skips what exists.
ALTER TABLE etl_watermark
  ADD COLUMN shard VARCHAR(16) NOT NULL DEFAULT '' COMMENT 'I/N, or empty for the whole job' AFTER job,
  DROP PRIMARY KEY,
  ADD PRIMARY KEY (job, shard);

ALTER TABLE etl_run
  ADD COLUMN shard VARCHAR(16) NOT NULL DEFAULT '' COMMENT 'I/N, or empty for the whole job' AFTER job;

ALTER TABLE etl_run
  ADD KEY ix_etl_run_job_shard (job, shard, run_id);
