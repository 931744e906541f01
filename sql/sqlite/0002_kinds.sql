-- More kinds of source (refunds, 1688 orders) and text keys (see sql/mysql/0002_kinds.sql).
ALTER TABLE oms_trade ADD COLUMN platform VARCHAR(16) NOT NULL DEFAULT 'taobao';
ALTER TABLE oms_order ADD COLUMN platform VARCHAR(16) NOT NULL DEFAULT 'taobao';

CREATE TABLE IF NOT EXISTS oms_refund (
  refund_id       BIGINT        NOT NULL PRIMARY KEY,
  tid             BIGINT        NOT NULL,
  oid             BIGINT        NOT NULL,
  seller_nick     VARCHAR(64)   NULL,
  buyer_nick      VARCHAR(128)  NULL,
  status          VARCHAR(64)   NULL,
  order_status    VARCHAR(64)   NULL,
  good_status     VARCHAR(64)   NULL,
  has_good_return TINYINT       NULL,
  refund_phase    VARCHAR(16)   NULL,
  refund_version  BIGINT        NULL,
  refund_fee      DECIMAL(15,2) NULL,
  total_fee       DECIMAL(15,2) NULL,
  payment         DECIMAL(15,2) NULL,
  num             INT           NULL,
  reason          VARCHAR(255)  NULL,
  "desc"          TEXT          NULL,
  company_name    VARCHAR(128)  NULL,
  sid             VARCHAR(128)  NULL,
  created         DATETIME      NULL,
  modified        DATETIME      NULL,
  jdp_modified    DATETIME      NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_oms_refund_oid ON oms_refund (oid);
CREATE INDEX IF NOT EXISTS ix_oms_refund_tid ON oms_refund (tid);
CREATE INDEX IF NOT EXISTS ix_oms_refund_jdp_modified ON oms_refund (jdp_modified);

ALTER TABLE etl_watermark ADD COLUMN key_text VARCHAR(128) NULL;
ALTER TABLE etl_reject ADD COLUMN key_text VARCHAR(128) NOT NULL DEFAULT '';
DROP INDEX IF EXISTS ux_etl_reject_open;
CREATE UNIQUE INDEX ux_etl_reject_open ON etl_reject (job, tid, key_text) WHERE resolved_at IS NULL;
