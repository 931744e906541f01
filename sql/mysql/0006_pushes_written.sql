-- etl_run counts the pushes a run wrote, trades or refunds alike: the column says so.
ALTER TABLE etl_run
  CHANGE COLUMN trades_written pushes_written BIGINT NOT NULL DEFAULT 0 COMMENT 'pushes the run wrote (trades, refunds, orders)';
