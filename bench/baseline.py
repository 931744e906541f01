"""The job users write first, for comparison: pandas read_sql + json.loads + to_sql.

    python bench/baseline.py SOURCE_URL TARGET_URL

Reads the whole window into a DataFrame, parses every push with the standard library,
flattens trades, lines and promotions into DataFrames and appends them with to_sql.
It has none of the job's semantics (no watermark, no newer-wins, no child replacement,
no rejects): it is the floor a careful job is measured against, not an alternative.
"""

from __future__ import annotations

import json
import sys

import pandas as pd
import sqlalchemy as sa

TRADE_FIELDS = ("tid", "seller_nick", "buyer_nick", "status", "type", "created", "modified", "pay_time",
                "payment", "total_fee", "post_fee", "discount_fee", "receiver_name", "receiver_mobile",
                "receiver_state", "receiver_city", "receiver_district", "receiver_address", "buyer_message")
ORDER_FIELDS = ("oid", "num_iid", "sku_id", "outer_iid", "outer_sku_id", "title", "price", "num", "total_fee",
                "payment", "status", "refund_status")
PROMOTION_FIELDS = ("id", "promotion_id", "promotion_name", "discount_fee")


def main(source: str, target: str) -> None:
    frame = pd.read_sql("SELECT tid, jdp_modified, jdp_response FROM jdp_tb_trade", sa.create_engine(source))
    trades, orders, promotions = [], [], []
    for response, modified in zip(frame["jdp_response"], frame["jdp_modified"]):
        trade = json.loads(response)["trade_fullinfo_get_response"]["trade"]
        trades.append({**{name: trade.get(name) for name in TRADE_FIELDS}, "jdp_modified": modified})
        for order in trade["orders"]["order"]:
            orders.append({"tid": trade["tid"], **{name: order.get(name) for name in ORDER_FIELDS}})
        for detail in trade.get("promotion_details", {}).get("promotion_detail", []):
            promotions.append({"tid": trade["tid"], **{name: detail.get(name) for name in PROMOTION_FIELDS}})
    engine = sa.create_engine(target)
    for name, rows in (("oms_trade", trades), ("oms_order", orders), ("oms_promotion", promotions)):
        pd.DataFrame(rows).to_sql(name, engine, if_exists="append", index=False, chunksize=2000)
    print(f"wrote {len(trades)} trades, {len(orders)} lines, {len(promotions)} promotions")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
