-- The push table exactly as Jushita creates it (but utf8mb4, so test pushes may carry emoji).
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
