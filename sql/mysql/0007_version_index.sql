-- A run re-reading its lookback asks which of a page of pushes the target holds at the same version
-- (jdp_modified and content_hash) over their span of seconds: with content_hash in the jdp_modified
-- index that range is read from the index alone, not from rows that carry `ext`. The index it replaces
-- served only the jdp_modified ranges this one serves too (export, verify).
-- Re-applying after a failure half-way skips what exists (duplicate key, dropped key), see etl/schema.py.
ALTER TABLE oms_trade ADD INDEX ix_oms_trade_jdp_version (jdp_modified, content_hash);
ALTER TABLE oms_trade DROP INDEX ix_oms_trade_jdp_modified;

ALTER TABLE oms_refund ADD INDEX ix_oms_refund_jdp_version (jdp_modified, content_hash);
ALTER TABLE oms_refund DROP INDEX ix_oms_refund_jdp_modified;
