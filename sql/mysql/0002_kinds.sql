-- More kinds of source (refunds, 1688 orders) and text keys.
-- MySQL has no ADD COLUMN IF NOT EXISTS, and DDL commits as it goes: re-applying this file
-- after a failure half-way skips what exists (duplicate column or key), see etl/schema.py.

ALTER TABLE oms_trade
  ADD COLUMN platform VARCHAR(16) NOT NULL DEFAULT 'taobao' COMMENT 'taobao (Taobao/Tmall) or 1688' AFTER tid;

ALTER TABLE oms_order
  ADD COLUMN platform VARCHAR(16) NOT NULL DEFAULT 'taobao' COMMENT 'as its trade' AFTER seq;

-- One row per refund (taobao.refund.get via jdp_tb_refund). A refund in WAIT_SELLER_AGREE,
-- WAIT_BUYER_RETURN_GOODS or WAIT_SELLER_CONFIRM_GOODS holds its line (oid) from shipping.
CREATE TABLE IF NOT EXISTS oms_refund (
  refund_id       BIGINT        NOT NULL,
  tid             BIGINT        NOT NULL,
  oid             BIGINT        NOT NULL COMMENT 'the line (oms_order.oid) refunded',
  seller_nick     VARCHAR(64)   NULL,
  buyer_nick      VARCHAR(128)  NULL,
  status          VARCHAR(64)   NULL COMMENT 'WAIT_SELLER_AGREE WAIT_BUYER_RETURN_GOODS WAIT_SELLER_CONFIRM_GOODS SELLER_REFUSE_BUYER CLOSED SUCCESS',
  order_status    VARCHAR(64)   NULL COMMENT 'the line''s trade status when the refund was made',
  good_status     VARCHAR(64)   NULL COMMENT 'BUYER_NOT_RECEIVED BUYER_RECEIVED BUYER_RETURNED_GOODS',
  has_good_return TINYINT       NULL COMMENT '1: the buyer returns goods',
  refund_phase    VARCHAR(16)   NULL COMMENT 'onsale (before receipt) / aftersale',
  refund_version  BIGINT        NULL COMMENT 'milliseconds; newer wins on it, then on modified',
  refund_fee      DECIMAL(15,2) NULL,
  total_fee       DECIMAL(15,2) NULL,
  payment         DECIMAL(15,2) NULL,
  num             INT           NULL,
  reason          VARCHAR(255)  NULL,
  `desc`          TEXT          NULL,
  company_name    VARCHAR(128)  NULL COMMENT 'return shipment carrier',
  sid             VARCHAR(128)  NULL COMMENT 'return shipment waybill',
  created         DATETIME      NULL,
  modified        DATETIME      NULL,
  jdp_modified    DATETIME      NOT NULL COMMENT 'jdp_modified of the push this row came from',
  PRIMARY KEY (refund_id),
  KEY ix_oms_refund_oid (oid),
  KEY ix_oms_refund_tid (tid),
  KEY ix_oms_refund_jdp_modified (jdp_modified)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- A source whose key column is text (1688 order ids kept as strings) keeps its keys here;
-- tid is then 0 in the watermark and the target's id (or 0) in a reject.
ALTER TABLE etl_watermark
  ADD COLUMN key_text VARCHAR(128) NULL COMMENT 'the key, when the source key column is text' AFTER tid;

ALTER TABLE etl_reject
  ADD COLUMN key_text VARCHAR(128) NOT NULL DEFAULT '' COMMENT 'the source key, when it is text' AFTER tid;

ALTER TABLE etl_reject
  DROP INDEX ux_etl_reject_open,
  ADD UNIQUE KEY ux_etl_reject_open (job, tid, key_text, is_open);
