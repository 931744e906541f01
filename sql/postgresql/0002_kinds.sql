-- More kinds of source (refunds, 1688 orders) and text keys (see sql/mysql/0002_kinds.sql).
-- PostgreSQL applies a migration in one transaction.
ALTER TABLE oms_trade ADD COLUMN IF NOT EXISTS platform VARCHAR(16) NOT NULL DEFAULT 'taobao';
ALTER TABLE oms_order ADD COLUMN IF NOT EXISTS platform VARCHAR(16) NOT NULL DEFAULT 'taobao';

CREATE TABLE IF NOT EXISTS oms_refund (
  refund_id       BIGINT        NOT NULL PRIMARY KEY,
  tid             BIGINT        NOT NULL,
  oid             BIGINT        NOT NULL,
  seller_nick     VARCHAR(64),
  buyer_nick      VARCHAR(128),
  status          VARCHAR(64),
  order_status    VARCHAR(64),
  good_status     VARCHAR(64),
  has_good_return SMALLINT,
  refund_phase    VARCHAR(16),
  refund_version  BIGINT,
  refund_fee      NUMERIC(15,2),
  total_fee       NUMERIC(15,2),
  payment         NUMERIC(15,2),
  num             INT,
  reason          VARCHAR(255),
  "desc"          TEXT,
  company_name    VARCHAR(128),
  sid             VARCHAR(128),
  created         TIMESTAMP(0),
  modified        TIMESTAMP(0),
  jdp_modified    TIMESTAMP(0)  NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_oms_refund_oid ON oms_refund (oid);
CREATE INDEX IF NOT EXISTS ix_oms_refund_tid ON oms_refund (tid);
CREATE INDEX IF NOT EXISTS ix_oms_refund_jdp_modified ON oms_refund (jdp_modified);

ALTER TABLE etl_watermark ADD COLUMN IF NOT EXISTS key_text VARCHAR(128);
ALTER TABLE etl_reject ADD COLUMN IF NOT EXISTS key_text VARCHAR(128) NOT NULL DEFAULT '';
DROP INDEX IF EXISTS ux_etl_reject_open;
CREATE UNIQUE INDEX ux_etl_reject_open ON etl_reject (job, tid, key_text) WHERE resolved_at IS NULL;
