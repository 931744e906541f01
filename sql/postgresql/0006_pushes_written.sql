-- etl_run counts the pushes a run wrote, trades or refunds alike (see sql/mysql/0006_pushes_written.sql).
ALTER TABLE etl_run RENAME COLUMN trades_written TO pushes_written;
