-- The push tables exactly as Jushita creates them (but utf8mb4, so test pushes may carry emoji).
-- Not part of the target schema: `etl demo`, the tests and the benchmark use it to build a source.
CREATE TABLE IF NOT EXISTS `jdp_tb_trade` (
  `tid` bigint(20) NOT NULL, `status` varchar(64), `type` varchar(64), `seller_nick` varchar(32),
  `buyer_nick` varchar(32), `created` datetime, `modified` datetime, `jdp_hashcode` varchar(128),
  `jdp_response` mediumtext, `jdp_created` datetime, `jdp_modified` datetime,
  PRIMARY KEY (`tid`),
  KEY `ind_jdp_tb_trade_seller_nick_jdp_modified` (`seller_nick`,`jdp_modified`),
  KEY `ind_jdp_tb_trade_jdp_modified` (`jdp_modified`),
  KEY `ind_jdp_tb_trade_seller_nick_modified` (`seller_nick`,`modified`),
  KEY `ind_jdp_tb_trade_modified` (`modified`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- jdp_tb_refund as Jushita creates it: refunds, one row per refund_id.
CREATE TABLE IF NOT EXISTS `jdp_tb_refund` (
  `refund_id` bigint(20) NOT NULL, `seller_nick` varchar(32), `buyer_nick` varchar(32), `status` varchar(64),
  `created` datetime, `tid` bigint(20), `oid` bigint(20), `modified` datetime, `jdp_hashcode` varchar(128),
  `jdp_response` mediumtext, `jdp_created` datetime, `jdp_modified` datetime,
  PRIMARY KEY (`refund_id`),
  KEY `ind_jdp_tb_refund_seller_nick_jdp_modified` (`seller_nick`,`jdp_modified`),
  KEY `ind_jdp_tb_refund_jdp_modified` (`jdp_modified`),
  KEY `ind_jdp_tb_refund_seller_nick_modified` (`seller_nick`,`modified`),
  KEY `ind_jdp_tb_refund_modified` (`modified`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- A landing table of a seller's own for 1688 orders (there is no push for them): the order id
-- kept as text, as careful landers do, and the columns named as the lander likes
-- (a job names them with key_column, modified_column and json_column).
CREATE TABLE IF NOT EXISTS `alibaba_order_landing` (
  `order_id` varchar(32) NOT NULL, `seller_nick` varchar(64), `landed_at` datetime, `body` mediumtext,
  PRIMARY KEY (`order_id`),
  KEY `ix_alibaba_order_landing_landed_at` (`landed_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
