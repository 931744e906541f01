-- content_hash joins the jdp_modified index (see sql/mysql/0007_version_index.sql).
CREATE INDEX IF NOT EXISTS ix_oms_trade_jdp_version ON oms_trade (jdp_modified, content_hash);
DROP INDEX IF EXISTS ix_oms_trade_jdp_modified;
CREATE INDEX IF NOT EXISTS ix_oms_refund_jdp_version ON oms_refund (jdp_modified, content_hash);
DROP INDEX IF EXISTS ix_oms_refund_jdp_modified;
