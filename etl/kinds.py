"""The kinds a job can carry, as the engine writes them: etl.translate's kinds, joined with what the
writing side does in a batch's transaction after a kind's rows are written."""

from __future__ import annotations

from dataclasses import replace

from etl.holds import TABLES as HOLD_TABLES
from etl.holds import refresh_refund_holds
from etl.translate import KINDS as TRANSLATED
from etl.translate import Kind

# A Taobao line's refund comes from the trade push and from the refund push: the newer says.
_REFUND_HOLDS = {"after_write": refresh_refund_holds, "uses": HOLD_TABLES}
_AFTER_WRITE = {"tb_trade": _REFUND_HOLDS, "tb_refund": _REFUND_HOLDS}

KINDS: dict[str, Kind] = {name: replace(kind, **_AFTER_WRITE.get(name, {})) for name, kind in TRANSLATED.items()}
