-- The content hash of the push each parent row came from (see sql/mysql/0005_content_hash.sql).
ALTER TABLE oms_trade ADD COLUMN IF NOT EXISTS content_hash VARCHAR(128);
ALTER TABLE oms_refund ADD COLUMN IF NOT EXISTS content_hash VARCHAR(128);
