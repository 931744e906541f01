-- Before each batch a run asks which versions the target holds for the batch's keys (etl.sink,
-- `held_versions`). InnoDB keeps a table's rows in its primary key, and a row that carries `ext`
-- fills a good part of a page: looking up a thousand keys, absent ones included, reads a thousand
-- leaf pages, most of them not in the buffer pool once the table outgrows it. This index holds the
-- key and its version and nothing else, so the look-up is answered from a few small pages
-- (bench/RESULTS.md, 2026-12-07, 22:00-23:15: 3.1 s of the server's CPU for 100,000 keys -> 0.5 s).
-- Re-applying after a failure half-way skips what exists (duplicate key), see etl/schema.py.
ALTER TABLE oms_trade ADD INDEX ix_oms_trade_key_version (tid, modified, jdp_modified, content_hash);
ALTER TABLE oms_refund ADD INDEX ix_oms_refund_key_version (refund_id, refund_version, modified, jdp_modified, content_hash);
