"""What the job keeps in the target for itself: its three tables, and the column it adds to every parent row."""

WATERMARK = "etl_watermark"
RUN = "etl_run"
REJECT = "etl_reject"
BOOKKEEPING = (WATERMARK, RUN, REJECT)

# The column of the target's rows (and of the watermark and the rejects) that holds the push's modified time.
MODIFIED = "jdp_modified"
