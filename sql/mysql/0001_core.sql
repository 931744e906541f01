-- jdp-etl target schema, MySQL 5.7+/8 and MariaDB 10.3+.
-- utf8mb4 everywhere (buyer messages carry emoji); money is DECIMAL, never float; ids are BIGINT.
-- Datetimes copied from a push stay naive Asia/Shanghai; those the job writes itself (*_at, *_seen) are UTC.

CREATE TABLE IF NOT EXISTS oms_trade (
  tid               BIGINT        NOT NULL,
  seller_nick       VARCHAR(64)   NULL,
  buyer_nick        VARCHAR(128)  NULL,
  buyer_open_uid    VARCHAR(128)  NULL,
  status            VARCHAR(64)   NULL COMMENT 'platform status as pushed',
  oms_status        VARCHAR(16)   NOT NULL COMMENT 'translated: UNPAID DEPOSIT_PAID TO_SHIP HOLD PART_SHIPPED SHIPPED FINISHED CLOSED UNKNOWN',
  type              VARCHAR(64)   NULL,
  step_trade_status VARCHAR(64)   NULL,
  step_paid_fee     DECIMAL(15,2) NULL,
  created           DATETIME      NULL,
  modified          DATETIME      NULL,
  pay_time          DATETIME      NULL,
  consign_time      DATETIME      NULL,
  end_time          DATETIME      NULL,
  payment           DECIMAL(15,2) NULL,
  total_fee         DECIMAL(15,2) NULL,
  post_fee          DECIMAL(15,2) NULL,
  discount_fee      DECIMAL(15,2) NULL,
  adjust_fee        DECIMAL(15,2) NULL,
  received_payment  DECIMAL(15,2) NULL,
  num               INT           NULL,
  receiver_name     VARCHAR(255)  NULL COMMENT 'often platform ciphertext: stored verbatim',
  receiver_mobile   VARCHAR(255)  NULL,
  receiver_phone    VARCHAR(255)  NULL,
  receiver_country  VARCHAR(64)   NULL,
  receiver_state    VARCHAR(64)   NULL,
  receiver_city     VARCHAR(64)   NULL COMMENT 'receiver_district when the push has no city (county-level cities)',
  receiver_district VARCHAR(64)   NULL,
  receiver_town     VARCHAR(64)   NULL,
  receiver_address  VARCHAR(1024) NULL,
  receiver_zip      VARCHAR(32)   NULL,
  oaid              VARCHAR(255)  NULL,
  buyer_message     TEXT          NULL,
  buyer_memo        TEXT          NULL,
  seller_memo       TEXT          NULL,
  seller_flag       INT           NULL,
  shipping_type     VARCHAR(32)   NULL,
  trade_from        VARCHAR(128)  NULL,
  jdp_modified      DATETIME      NOT NULL COMMENT 'jdp_modified of the push this row came from',
  PRIMARY KEY (tid),
  KEY ix_oms_trade_seller_modified (seller_nick, modified),
  KEY ix_oms_trade_oms_status (oms_status),
  KEY ix_oms_trade_jdp_modified (jdp_modified)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS oms_order (
  oid                 BIGINT        NOT NULL,
  tid                 BIGINT        NOT NULL,
  seq                 SMALLINT      NOT NULL COMMENT 'position of the line in the push',
  num_iid             BIGINT        NULL,
  sku_id              BIGINT        NULL,
  outer_iid           VARCHAR(128)  NULL,
  outer_sku_id        VARCHAR(128)  NULL,
  title               VARCHAR(255)  NULL,
  sku_properties_name VARCHAR(1024) NULL,
  price               DECIMAL(15,2) NULL,
  num                 INT           NULL,
  total_fee           DECIMAL(15,2) NULL,
  payment             DECIMAL(15,2) NULL,
  discount_fee        DECIMAL(15,2) NULL,
  adjust_fee          DECIMAL(15,2) NULL,
  divide_order_fee    DECIMAL(15,2) NULL,
  part_mjz_discount   DECIMAL(15,2) NULL,
  status              VARCHAR(64)   NULL,
  oms_status          VARCHAR(16)   NOT NULL COMMENT 'REFUNDING / REFUNDED from refund_status, else as the trade',
  refund_status       VARCHAR(64)   NULL,
  refund_id           BIGINT        NULL,
  logistics_company   VARCHAR(128)  NULL,
  invoice_no          VARCHAR(128)  NULL,
  consign_time        DATETIME      NULL,
  end_time            DATETIME      NULL,
  PRIMARY KEY (oid),
  KEY ix_oms_order_tid (tid),
  KEY ix_oms_order_outer_sku (outer_sku_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Several promotions can apply to one line, so (tid, id) is no key: a row is keyed
-- by its position in the push, which is deterministic for a given push.
CREATE TABLE IF NOT EXISTS oms_promotion (
  tid            BIGINT        NOT NULL,
  seq            SMALLINT      NOT NULL COMMENT 'position in promotion_details',
  id             BIGINT        NULL COMMENT 'promotion_detail.id: the tid or oid it applies to',
  promotion_id   VARCHAR(255)  NULL,
  promotion_name VARCHAR(255)  NULL,
  promotion_desc VARCHAR(1024) NULL,
  discount_fee   DECIMAL(15,2) NULL,
  gift_item_id   BIGINT        NULL,
  gift_item_name VARCHAR(255)  NULL,
  gift_item_num  INT           NULL,
  PRIMARY KEY (tid, seq),
  KEY ix_oms_promotion_id (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS etl_watermark (
  job          VARCHAR(64) NOT NULL,
  jdp_modified DATETIME    NOT NULL COMMENT 'with tid: the last (jdp_modified, tid) pair committed',
  tid          BIGINT      NOT NULL,
  updated_at   DATETIME    NOT NULL COMMENT 'UTC',
  PRIMARY KEY (job)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS etl_run (
  run_id          BIGINT       NOT NULL AUTO_INCREMENT,
  job             VARCHAR(64)  NOT NULL,
  mode            VARCHAR(16)  NOT NULL COMMENT 'run / retranslate',
  window_from     DATETIME     NULL COMMENT 'first jdp_modified read (after lookback), inclusive',
  window_from_tid BIGINT       NULL COMMENT 'keyset start: rows after (window_from, window_from_tid)',
  window_to       DATETIME     NULL COMMENT 'upper bound frozen at start: inclusive for run, exclusive for retranslate',
  rows_read       BIGINT       NOT NULL DEFAULT 0,
  trades_written  BIGINT       NOT NULL DEFAULT 0,
  rejects         BIGINT       NOT NULL DEFAULT 0,
  started_at      DATETIME     NOT NULL COMMENT 'UTC',
  finished_at     DATETIME     NULL COMMENT 'UTC',
  outcome         VARCHAR(16)  NOT NULL COMMENT 'running / ok / failed / interrupted / abandoned',
  message         TEXT         NULL,
  host            VARCHAR(255) NULL,
  pid             INT          NULL,
  PRIMARY KEY (run_id),
  KEY ix_etl_run_job (job, run_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- At most one open reject per (job, tid): is_open is 1 while open and NULL once
-- resolved, and a unique key ignores NULLs, so resolved history is kept.
CREATE TABLE IF NOT EXISTS etl_reject (
  reject_id    BIGINT      NOT NULL AUTO_INCREMENT,
  job          VARCHAR(64) NOT NULL,
  tid          BIGINT      NOT NULL,
  jdp_modified DATETIME    NULL COMMENT 'of the rejected push',
  error        TEXT        NOT NULL COMMENT 'why, in words',
  first_seen   DATETIME    NOT NULL COMMENT 'UTC',
  last_seen    DATETIME    NOT NULL COMMENT 'UTC',
  resolved_at  DATETIME    NULL COMMENT 'UTC; NULL while open',
  is_open      TINYINT     AS (CASE WHEN resolved_at IS NULL THEN 1 END) STORED,
  PRIMARY KEY (reject_id),
  UNIQUE KEY ux_etl_reject_open (job, tid, is_open),
  KEY ix_etl_reject_job (job, resolved_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
