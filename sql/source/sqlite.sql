-- jdp_tb_trade for an SQLite source (the demo): same columns and indexes as Jushita's.
CREATE TABLE IF NOT EXISTS jdp_tb_trade (
  tid INTEGER NOT NULL PRIMARY KEY, status VARCHAR(64), type VARCHAR(64), seller_nick VARCHAR(32),
  buyer_nick VARCHAR(32), created DATETIME, modified DATETIME, jdp_hashcode VARCHAR(128),
  jdp_response MEDIUMTEXT, jdp_created DATETIME, jdp_modified DATETIME
);
CREATE INDEX IF NOT EXISTS ind_jdp_tb_trade_seller_nick_jdp_modified ON jdp_tb_trade (seller_nick, jdp_modified);
CREATE INDEX IF NOT EXISTS ind_jdp_tb_trade_jdp_modified ON jdp_tb_trade (jdp_modified);
CREATE INDEX IF NOT EXISTS ind_jdp_tb_trade_seller_nick_modified ON jdp_tb_trade (seller_nick, modified);
CREATE INDEX IF NOT EXISTS ind_jdp_tb_trade_modified ON jdp_tb_trade (modified);

CREATE TABLE IF NOT EXISTS jdp_tb_refund (
  refund_id INTEGER NOT NULL PRIMARY KEY, seller_nick VARCHAR(32), buyer_nick VARCHAR(32), status VARCHAR(64),
  created DATETIME, tid BIGINT, oid BIGINT, modified DATETIME, jdp_hashcode VARCHAR(128),
  jdp_response MEDIUMTEXT, jdp_created DATETIME, jdp_modified DATETIME
);
CREATE INDEX IF NOT EXISTS ind_jdp_tb_refund_seller_nick_jdp_modified ON jdp_tb_refund (seller_nick, jdp_modified);
CREATE INDEX IF NOT EXISTS ind_jdp_tb_refund_jdp_modified ON jdp_tb_refund (jdp_modified);
CREATE INDEX IF NOT EXISTS ind_jdp_tb_refund_seller_nick_modified ON jdp_tb_refund (seller_nick, modified);
CREATE INDEX IF NOT EXISTS ind_jdp_tb_refund_modified ON jdp_tb_refund (modified);

CREATE TABLE IF NOT EXISTS alibaba_order_landing (
  order_id VARCHAR(32) NOT NULL PRIMARY KEY, seller_nick VARCHAR(64), landed_at DATETIME, body MEDIUMTEXT
);
CREATE INDEX IF NOT EXISTS ix_alibaba_order_landing_landed_at ON alibaba_order_landing (landed_at);
