-- A push's version is its jdp_modified and its content: the platform's clock has whole seconds, and
-- a trade pushed twice within one second keeps one jdp_modified. Each parent row keeps the content
-- hash of the push it came from (Jushita's jdp_hashcode, or the job's hash of the document where the
-- source has none); rows written before this migration have NULL, which equals no push.
-- Re-applying after a failure half-way skips what exists (duplicate column), see etl/schema.py.
ALTER TABLE oms_trade
  ADD COLUMN content_hash VARCHAR(128) NULL COMMENT 'content hash of the push this row came from (with jdp_modified: its version)';

ALTER TABLE oms_refund
  ADD COLUMN content_hash VARCHAR(128) NULL COMMENT 'content hash of the push this row came from (with jdp_modified: its version)';
