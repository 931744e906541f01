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
