"""What the job keeps in the target for itself: its three tables, and the columns it adds to every parent row."""

WATERMARK = "etl_watermark"
RUN = "etl_run"
REJECT = "etl_reject"
BOOKKEEPING = (WATERMARK, RUN, REJECT)

# The column of the target's rows (and of the watermark and the rejects) that holds the push's modified time.
MODIFIED = "jdp_modified"
# The column of the target's parent rows that holds the content hash of the push they came from: with
# jdp_modified, the version of the push the row was written from (see etl.translate.push.Push).
CONTENT = "content_hash"
