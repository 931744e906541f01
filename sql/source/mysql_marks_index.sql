-- Optional, on the push table (the seller's own RDS; the job itself only reads it): an index that holds
-- a row's marks (jdp_modified, key, jdp_hashcode), so that a run re-reading its lookback learns what
-- changed from the index alone. Without it, the server reads each row of the lookback, document and
-- all, to find its jdp_hashcode (see README, "Reading only what must be written").
ALTER TABLE jdp_tb_trade ADD KEY ind_jdp_tb_trade_marks (jdp_modified, tid, jdp_hashcode);
