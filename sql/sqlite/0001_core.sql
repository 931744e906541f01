-- jdp-etl target schema, SQLite 3.24+ (the embedded default). Same tables and columns
-- as sql/mysql/0001_core.sql; see there for the meaning of each column.
-- SQLite keeps DECIMAL as NUMERIC affinity: amounts are exact to the cent when read back
-- through the column's scale (as the job does), but SUM() in SQL is floating point.

CREATE TABLE IF NOT EXISTS oms_trade (
  tid               INTEGER       NOT NULL PRIMARY KEY,
  seller_nick       VARCHAR(64),
  buyer_nick        VARCHAR(128),
  buyer_open_uid    VARCHAR(128),
  status            VARCHAR(64),
  oms_status        VARCHAR(16)   NOT NULL,
  type              VARCHAR(64),
  step_trade_status VARCHAR(64),
  step_paid_fee     DECIMAL(15,2),
  created           DATETIME,
  modified          DATETIME,
  pay_time          DATETIME,
  consign_time      DATETIME,
  end_time          DATETIME,
  payment           DECIMAL(15,2),
  total_fee         DECIMAL(15,2),
  post_fee          DECIMAL(15,2),
  discount_fee      DECIMAL(15,2),
  adjust_fee        DECIMAL(15,2),
  received_payment  DECIMAL(15,2),
  num               INT,
  receiver_name     VARCHAR(255),
  receiver_mobile   VARCHAR(255),
  receiver_phone    VARCHAR(255),
  receiver_country  VARCHAR(64),
  receiver_state    VARCHAR(64),
  receiver_city     VARCHAR(64),
  receiver_district VARCHAR(64),
  receiver_town     VARCHAR(64),
  receiver_address  VARCHAR(1024),
  receiver_zip      VARCHAR(32),
  oaid              VARCHAR(255),
  buyer_message     TEXT,
  buyer_memo        TEXT,
  seller_memo       TEXT,
  seller_flag       INT,
  shipping_type     VARCHAR(32),
  trade_from        VARCHAR(128),
  jdp_modified      DATETIME      NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_oms_trade_seller_modified ON oms_trade (seller_nick, modified);
CREATE INDEX IF NOT EXISTS ix_oms_trade_oms_status ON oms_trade (oms_status);
CREATE INDEX IF NOT EXISTS ix_oms_trade_jdp_modified ON oms_trade (jdp_modified);

CREATE TABLE IF NOT EXISTS oms_order (
  oid                 INTEGER       NOT NULL PRIMARY KEY,
  tid                 BIGINT        NOT NULL,
  seq                 SMALLINT      NOT NULL,
  num_iid             BIGINT,
  sku_id              BIGINT,
  outer_iid           VARCHAR(128),
  outer_sku_id        VARCHAR(128),
  title               VARCHAR(255),
  sku_properties_name VARCHAR(1024),
  price               DECIMAL(15,2),
  num                 INT,
  total_fee           DECIMAL(15,2),
  payment             DECIMAL(15,2),
  discount_fee        DECIMAL(15,2),
  adjust_fee          DECIMAL(15,2),
  divide_order_fee    DECIMAL(15,2),
  part_mjz_discount   DECIMAL(15,2),
  status              VARCHAR(64),
  oms_status          VARCHAR(16)   NOT NULL,
  refund_status       VARCHAR(64),
  refund_id           BIGINT,
  logistics_company   VARCHAR(128),
  invoice_no          VARCHAR(128),
  consign_time        DATETIME,
  end_time            DATETIME
);
CREATE INDEX IF NOT EXISTS ix_oms_order_tid ON oms_order (tid);
CREATE INDEX IF NOT EXISTS ix_oms_order_outer_sku ON oms_order (outer_sku_id);

CREATE TABLE IF NOT EXISTS oms_promotion (
  tid            BIGINT        NOT NULL,
  seq            SMALLINT      NOT NULL,
  id             BIGINT,
  promotion_id   VARCHAR(255),
  promotion_name VARCHAR(255),
  promotion_desc VARCHAR(1024),
  discount_fee   DECIMAL(15,2),
  gift_item_id   BIGINT,
  gift_item_name VARCHAR(255),
  gift_item_num  INT,
  PRIMARY KEY (tid, seq)
);
CREATE INDEX IF NOT EXISTS ix_oms_promotion_id ON oms_promotion (id);

CREATE TABLE IF NOT EXISTS etl_watermark (
  job          VARCHAR(64) NOT NULL PRIMARY KEY,
  jdp_modified DATETIME    NOT NULL,
  tid          BIGINT      NOT NULL,
  updated_at   DATETIME    NOT NULL
);

CREATE TABLE IF NOT EXISTS etl_run (
  run_id          INTEGER      PRIMARY KEY AUTOINCREMENT,
  job             VARCHAR(64)  NOT NULL,
  mode            VARCHAR(16)  NOT NULL,
  window_from     DATETIME,
  window_from_tid BIGINT,
  window_to       DATETIME,
  rows_read       BIGINT       NOT NULL DEFAULT 0,
  trades_written  BIGINT       NOT NULL DEFAULT 0,
  rejects         BIGINT       NOT NULL DEFAULT 0,
  started_at      DATETIME     NOT NULL,
  finished_at     DATETIME,
  outcome         VARCHAR(16)  NOT NULL,
  message         TEXT,
  host            VARCHAR(255),
  pid             INT
);
CREATE INDEX IF NOT EXISTS ix_etl_run_job ON etl_run (job, run_id);

CREATE TABLE IF NOT EXISTS etl_reject (
  reject_id    INTEGER     PRIMARY KEY AUTOINCREMENT,
  job          VARCHAR(64) NOT NULL,
  tid          BIGINT      NOT NULL,
  jdp_modified DATETIME,
  error        TEXT        NOT NULL,
  first_seen   DATETIME    NOT NULL,
  last_seen    DATETIME    NOT NULL,
  resolved_at  DATETIME
);
-- At most one open reject per (job, tid); resolved history is kept.
CREATE UNIQUE INDEX IF NOT EXISTS ux_etl_reject_open ON etl_reject (job, tid) WHERE resolved_at IS NULL;
CREATE INDEX IF NOT EXISTS ix_etl_reject_job ON etl_reject (job, resolved_at);
