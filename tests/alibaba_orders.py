"""1688 orders shaped after shared/seeds/003, as rows of a lander's `alibaba_order_landing`: for the tests
(the demo carries Taobao's trades and refunds only, etl/synth.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

import orjson

from etl.synth import PushFactory, Trade


def _through_a_double(value: int) -> int:
    """An id as 1688's gateway prints its numbers: 2106089115686783163 -> 2106089115686783000."""
    return int(Decimal(repr(float(value))))


def _stamp_1688(moment: datetime) -> str:
    """1688's compact time: 20240402142658000+0800."""
    return moment.strftime("%Y%m%d%H%M%S") + "000+0800"


class AlibabaOrderFactory:
    """1688 orders shaped after shared/seeds/003, as rows of a lander's `alibaba_order_landing`."""

    def __init__(self, seed: int = 0, sellers: Sequence[str] = ("kingdo", "义乌小商品源头厂")) -> None:
        self.trades = PushFactory(seed, sellers)
        self.rng = self.trades.rng

    def order(self, created: datetime) -> Trade:
        return self.trades.trade(created)

    def document(self, order: Trade, status: str, modified: datetime, lines: Sequence[dict] | None = None) -> dict:
        lines = order.lines if lines is None else lines
        items, total = [], Decimal(0)
        for line in lines:
            amount = line["price"] * line["num"] - line["discount"]
            total += amount
            items.append({
                "productID": line["num_iid"], "type": "common", "price": f"{line['price']}",
                # As the gateway prints them: the numeric ids through a double, wrong in the last digits.
                "tbId": _through_a_double(line["oid"]), "subItemID": _through_a_double(line["oid"]), "subItemIDString": str(line["oid"]),
                "skuInfos": [{"name": "颜色", "value": "卡其色"}, {"name": "尺码", "value": "L"}],
                "itemDiscountFee": f"{line['discount']}", "unit": "件", "name": line["title"], "status": status,
                "gmtModified": _stamp_1688(modified), "actualPaidFee": int(amount * 100), "itemAmount": f"{amount}",
                "quantity": line["num"], "gmtCreate": _stamp_1688(order.created),
                "productCargoNumber": line["outer_iid"], "cargoNumber": line["outer_sku_id"], "skuID": int(line["sku_id"]),
            })
        shipped = status in ("waitbuyerreceive", "confirm_goods", "success")
        logistics = {
            "address": order.receiver["receiver_address"], "area": order.receiver["receiver_district"],
            "city": order.receiver["receiver_city"], "contactPerson": "林*", "mobile": "189****2201",
            "province": order.receiver["receiver_state"], "zip": "000000", "town": "凤凰街道",
        }
        if shipped:
            logistics["logisticsItems"] = [{
                "deliveredTime": _stamp_1688(modified - timedelta(hours=1)), "logisticsBillNo": f"3610{order.tid % 10**10}",
                "logisticsCompanyName": "万家物流", "status": "alreadysend",
                "subItemIds": ",".join(str(line["oid"]) for line in lines), "type": "0",
            }]
        base = {
            "businessType": "cn", "createTime": _stamp_1688(order.created), "id": _through_a_double(order.tid),
            "modifyTime": _stamp_1688(modified), "shippingFee": "0", "status": status, "totalAmount": f"{total}",
            "discount": "0", "tradeType": "50060", "idOfStr": str(order.tid), "buyerLoginId": order.buyer_nick,
            "sellerLoginId": order.seller_nick, "sumProductPayment": f"{sum(l['price'] * l['num'] for l in lines)}",
            "flowTemplateCode": "assureTrade", "tradeTypeCode": "assureTrade", "buyerOpenUid": f"BBB{order.tid % 10**9}",
            "payTime": _stamp_1688(order.created + timedelta(minutes=2)),
        }
        return {"code": 0, "message": "ok", "data": [{"nativeLogistics": logistics, "productItems": items,
                                                      "baseInfo": base}], "trace_id": ""}

    def row(self, order: Trade, status: str, modified: datetime, landed_at: datetime,
            lines: Sequence[dict] | None = None) -> dict:
        """An alibaba_order_landing row holding that order."""
        body = orjson.dumps(self.document(order, status, modified, lines)).decode()
        return {"order_id": str(order.tid), "seller_nick": order.seller_nick, "landed_at": landed_at, "body": body}
