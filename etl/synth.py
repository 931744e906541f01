"""Realistic synthetic pushes of trades and refunds: `etl demo`'s platform (the tests and the benchmark
use them too).

Seeded and deterministic: 19-digit ids above 2**53 (oid == tid for single-line
trades), money as strings that add up, bursty jdp_modified seconds (a sale peak puts
hundreds of pushes in one second), ciphertext receivers, emoji in buyer messages,
1-5 lines and 0-3 promotions per trade.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import orjson

SELLERS = ("晨光文具旗舰店", "麦包包", "三只松鼠旗舰店")
_STATUSES = (
    ("WAIT_BUYER_PAY", 0.08),
    ("WAIT_SELLER_SEND_GOODS", 0.45),
    ("SELLER_CONSIGNED_PART", 0.03),
    ("WAIT_BUYER_CONFIRM_GOODS", 0.2),
    ("TRADE_FINISHED", 0.17),
    ("TRADE_CLOSED", 0.04),
    ("TRADE_CLOSED_BY_TAOBAO", 0.03),
)
_TITLES = ("晨光中性笔0.5mm黑色12支装", "麦包包真皮双肩包女", "三只松鼠每日坚果750g", "得力订书机", "云南普洱茶饼357g")
_MESSAGES = ("", "", "", "要送的礼物的,不要忘记的哦", "请尽快发货🙏", "颜色要深一点😀👍", "周末不在家,放快递柜📦")
_PROVINCES = (("浙江省", "杭州市", "西湖区"), ("河南省", "", "济源市"), ("广东省", "广州市", "天河区"), ("上海", "上海市", "浦东新区"))
_PROMOTIONS = (("mjs-123024_211143", "满就减钱", "双11促销,满就送"), ("tmallcoupon-1_2", "店铺优惠券", "满200减20"))


def _order_extras(rng: random.Random, oid: int, moment: str) -> dict:
    """Fields of a real order line that the OMS does not map (shared/seeds/000), for realistic size."""
    return {
        "pic_path": f"https://img.alicdn.com/bao/uploaded/i{rng.randrange(1, 5)}/{rng.randrange(10**9, 10**10)}/"
                    f"O1CN01{rng.randrange(10**15, 10**16)}_!!{rng.randrange(10**9, 10**10)}.jpg",
        "snapshot_url": f"t:{oid}_1", "cid": rng.randrange(50000000, 50099999), "seller_type": "B",
        "order_from": rng.choice(("WAP,WAP", "TAOBAO", "jhs")), "is_oversold": False, "is_service_order": False,
        "is_daixiao": False, "is_www": True, "is_sh_ship": False, "timeout_action_time": moment,
        "buyer_rate": False, "seller_rate": False, "sub_order_tax_fee": "0", "sub_order_tax_rate": "0",
        "sub_order_tax_promotion_fee": "0", "tax_free": False, "tax_coupon_discount": "0",
        "store_code": f"WH-{rng.randrange(1, 40):03d}", "estimate_con_time": "付款后48小时内",
        "sort_info": {"day_sort_val": rng.randrange(1000), "hour_sort_val": rng.randrange(100)},
        "shipping_type": "express", "inv_type": "", "nr_outer_iid": "", "bind_oids_all_status": "",
        "customization": "", "order_attr": "{\"isFreeDownPayment\":\"false\"}",
        "es_time": "2", "delivery_time": moment,
    }


def _trade_extras(rng: random.Random, tid: int, oids: Sequence[int], moment: str) -> dict:
    """Fields of a real trade that the OMS does not map (shared/seeds/000), for realistic size."""
    return {
        "alipay_no": str(rng.randrange(10**27, 10**28)), "acookie_id": f"{rng.getrandbits(128):032x}",
        "title": "旗舰店", "buyer_rate": False, "seller_rate": False, "seller_can_rate": False, "can_rate": False,
        "point_fee": 0, "real_point_fee": 0, "buyer_obtain_point_fee": 0, "commission_fee": "0.00",
        "available_confirm_fee": "0.00", "has_post_fee": True, "timeout_action_time": moment,
        "snapshot_url": f"t:{tid}_1", "is_lgtype": False, "is_brand_sale": False, "is_force_wlb": False,
        "buyer_flag": 0, "credit_card_fee": "0.00", "mark_desc": "", "has_yfx": rng.random() < 0.3,
        "yfx_fee": "0.50", "is_part_consign": False, "is_daixiao": False, "is_wt": False, "is_sh_ship": False,
        "est_con_time": "付款后48小时内", "trade_source": "ownshop", "zero_purchase": False, "pcc_af": 0,
        "order_tax_fee": "0", "paid_coupon_fee": "0.00", "shop_pick": "", "rx_audit_status": "0",
        "post_gate_declare": False, "cross_bonded_declare": False, "trade_attr": "{\"payCurrency\":\"CNY\"}",
        "top_hold": 0, "omni_attr": "{}", "omni_param": "{}", "forbid_consign": 0, "identity": "",
        "team_buy_hold": 0, "share_group_hold": 0, "ofp_hold": 0, "delay_create_delivery": 0, "toptype": 0,
        "service_type": "", "nr_offline": "", "sorted": 0, "nr_no_handle": "", "new_presell": False,
        "you_xiang": False, "ua": "", "pay_channel": "0", "asdp_biz_type": "", "is_openmall": False,
        "v_logistics_create": False, "q_r_pay": False, "real_name_auth_status": "0", "receipt_type": "ITEM",
        "trade_ext": {"before_enable_flag": 0, "before_close_flag": 0, "before_pay_flag": 0, "before_ship_flag": 0,
                      "before_confirm_flag": 0, "before_rate_flag": 0, "before_refund_flag": 0,
                      "before_modify_flag": 0, "third_party_status": 0, "extra_data": "", "ext_attributes": ""},
        "service_tags": {"logistics_tag": [{"order_id": str(oid), "logistic_service_tag_list": {
            "logistic_service_tag": [{"service_tag": "consignDate=48;", "service_type": "TB_CONSIGN_DATE"}]}}
            for oid in oids]},
        "logistics_infos": {"logistics_info": [{
            "trade_id": tid, "sub_trade_id": oid, "item_id": str(rng.randrange(10**11, 10**12)),
            "need_consign_num": 1, "num_iid": rng.randrange(10**11, 10**12), "consign_type": "cn", "type": "00",
            "send_country": "中国", "send_state": "浙江省", "send_city": "杭州市", "send_district": "余杭区",
        } for oid in oids]},
    }


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _cipher(rng: random.Random, style: int) -> str:
    body = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") for _ in range(24))
    return f"~{body}~1~~" if style % 2 else f"${body[:6]}${body}$1$$"


@dataclass(frozen=True)
class Trade:
    """One trade's content; `document()` renders the push of a given version of it."""

    tid: int
    seller_nick: str
    buyer_nick: str
    created: datetime
    lines: tuple[dict, ...]
    promotions: tuple[dict, ...]
    receiver: dict
    buyer_message: str
    step: bool


class PushFactory:
    """Makes trades and their pushes; the same seed gives the same pushes."""

    def __init__(self, seed: int = 0, sellers: Sequence[str] = SELLERS) -> None:
        self.rng = random.Random(seed)
        self.sellers = tuple(sellers)
        self._ids: set[int] = set()

    def _id(self) -> int:
        while True:
            value = self.rng.randrange(1_000_000_000_000_000_000, 4_000_000_000_000_000_000)
            if value not in self._ids:
                self._ids.add(value)
                return value

    def trade(self, created: datetime) -> Trade:
        rng = self.rng
        tid = self._id()
        count = rng.choices((1, 2, 3, 4, 5), (0.55, 0.25, 0.1, 0.06, 0.04))[0]
        lines = []
        for index in range(count):
            price = Decimal(rng.randrange(190, 59900)) / 100
            num = rng.choice((1, 1, 1, 2, 3))
            discount = (price * num * Decimal(rng.choice((0, 0, 5, 10))) / 100).quantize(Decimal("0.01"))
            lines.append(
                {
                    "oid": tid if count == 1 else self._id(),
                    "num_iid": rng.randrange(500_000_000_000, 800_000_000_000),
                    "sku_id": str(rng.randrange(4_000_000_000_000, 5_999_999_999_999)),
                    "outer_iid": f"SP{rng.randrange(10000, 99999)}",
                    "outer_sku_id": f"SKU-{rng.randrange(100000, 999999)}",
                    "title": rng.choice(_TITLES),
                    "sku_properties_name": rng.choice(("颜色:黑色;规格:12支", "颜色:桔色;尺码:M", "")),
                    "price": price,
                    "num": num,
                    "discount": discount,
                    "refund_status": "NO_REFUND",
                    "seq": index,
                }
            )
        promotions = []
        for _ in range(rng.choices((0, 1, 2, 3), (0.3, 0.45, 0.15, 0.1))[0]):
            code, name, desc = rng.choice(_PROMOTIONS)
            target = rng.choice([tid, *[line["oid"] for line in lines]])
            promotions.append({"id": target, "promotion_id": code, "promotion_name": name, "promotion_desc": desc,
                               "discount_fee": _money(Decimal(rng.randrange(100, 2000)) / 100)})
        state, city, district = rng.choice(_PROVINCES)
        receiver = {
            "receiver_name": _cipher(rng, 1),
            "receiver_mobile": _cipher(rng, 2),
            "receiver_phone": "",
            "receiver_state": state,
            "receiver_city": city,
            "receiver_district": district,
            "receiver_town": "",
            "receiver_address": _cipher(rng, 3),
            "receiver_zip": "000000",
            "oaid": "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(60)),
        }
        return Trade(tid, rng.choice(self.sellers), f"买家{rng.randrange(10**6)}**", created, tuple(lines),
                     tuple(promotions), receiver, rng.choice(_MESSAGES), rng.random() < 0.03)

    def status(self) -> str:
        names, weights = zip(*_STATUSES)
        return self.rng.choices(names, weights)[0]

    def document(self, trade: Trade, status: str, modified: datetime, lines: Sequence[dict] | None = None) -> dict:
        """The push of `trade` at `status`, as Jushita stores it in jdp_response."""
        lines = trade.lines if lines is None else lines
        stamp = modified.strftime("%Y-%m-%d %H:%M:%S")
        paid = status not in ("WAIT_BUYER_PAY", "TRADE_CLOSED_BY_TAOBAO")
        shipped = status in ("WAIT_BUYER_CONFIRM_GOODS", "TRADE_FINISHED")
        post_fee = Decimal("0.00")
        orders, total, payment_sum = [], Decimal(0), Decimal(0)
        for line in lines:
            total_fee = line["price"] * line["num"]
            payment = total_fee - line["discount"]
            total += total_fee
            payment_sum += payment
            orders.append({
                "oid": line["oid"], "oid_str": str(line["oid"]), "num_iid": line["num_iid"], "sku_id": line["sku_id"],
                "outer_iid": line["outer_iid"], "outer_sku_id": line["outer_sku_id"], "title": line["title"],
                "sku_properties_name": line["sku_properties_name"], "price": _money(line["price"]),
                "num": line["num"], "total_fee": _money(total_fee), "payment": _money(payment),
                "discount_fee": _money(line["discount"]), "adjust_fee": "0.00",
                "divide_order_fee": _money(payment), "part_mjz_discount": "0.00", "status": status,
                "refund_status": line["refund_status"],
                **_order_extras(self.rng, line["oid"], stamp),
                **({"logistics_company": "顺丰速运", "invoice_no": f"SF{line['oid'] % 10**12}",
                    "consign_time": (modified - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")} if shipped else {}),
            })
        trade_doc = {
            "tid": trade.tid, "tid_str": str(trade.tid), "seller_nick": trade.seller_nick,
            "buyer_nick": trade.buyer_nick, "buyer_open_uid": f"AAG{trade.tid % 10**9}", "status": status,
            "type": "step" if trade.step else "fixed", "created": trade.created.strftime("%Y-%m-%d %H:%M:%S"),
            "modified": modified.strftime("%Y-%m-%d %H:%M:%S"),
            "pay_time": (trade.created + timedelta(minutes=2)).strftime("%Y-%m-%d %H:%M:%S") if paid else "",
            "payment": _money(payment_sum + post_fee), "total_fee": _money(total), "post_fee": _money(post_fee),
            "discount_fee": _money(total - payment_sum), "adjust_fee": "0.00",
            "received_payment": "0.00", "num": sum(line["num"] for line in lines),
            "buyer_message": trade.buyer_message, "seller_memo": "", "seller_flag": 0, "shipping_type": "express",
            "trade_from": "WAP,WAP", **trade.receiver,
            **_trade_extras(self.rng, trade.tid, [line["oid"] for line in lines], stamp),
            "orders": {"order": orders},
        }
        if trade.step:
            trade_doc["step_trade_status"] = "FRONT_PAID_FINAL_NOPAID" if status == "WAIT_BUYER_PAY" else "FRONT_PAID_FINAL_PAID"
            trade_doc["step_paid_fee"] = _money(payment_sum / 10)
        if trade.promotions:
            trade_doc["promotion_details"] = {"promotion_detail": list(trade.promotions)}
        return {"trade_fullinfo_get_response": {"trade": trade_doc}}

    def row(self, trade: Trade, status: str, modified: datetime, jdp_modified: datetime,
            lines: Sequence[dict] | None = None) -> dict:
        """A jdp_tb_trade row holding that push."""
        response = orjson.dumps(self.document(trade, status, modified, lines)).decode()
        return {
            "tid": trade.tid, "status": status, "type": "fixed", "seller_nick": trade.seller_nick,
            "buyer_nick": trade.buyer_nick, "created": trade.created, "modified": modified,
            "jdp_hashcode": hashlib.md5(response.encode()).hexdigest(), "jdp_response": response,
            "jdp_created": jdp_modified, "jdp_modified": jdp_modified,
        }


def synth_trades(count: int, *, seed: int = 0, start: datetime = datetime(2026, 11, 11, 0, 0, 0),
                 sellers: Sequence[str] = SELLERS) -> Iterator[tuple[Trade, dict]]:
    """`count` trades and their jdp_tb_trade rows in push order, with bursts of many rows in one second."""
    factory = PushFactory(seed, sellers)
    moment = start
    for _ in range(count):
        if factory.rng.random() < 0.02:
            moment += timedelta(seconds=factory.rng.randrange(1, 30))
        created = moment - timedelta(minutes=factory.rng.randrange(0, 600))
        trade = factory.trade(created)
        yield trade, factory.row(trade, factory.status(), moment, moment)


def synth_rows(count: int, *, seed: int = 0, start: datetime = datetime(2026, 11, 11, 0, 0, 0),
               sellers: Sequence[str] = SELLERS) -> Iterator[dict]:
    """The rows of `synth_trades`."""
    return (row for _, row in synth_trades(count, seed=seed, start=start, sellers=sellers))


_REFUND_REASONS = ("七天无理由退换货", "尺码拍错/不喜欢/效果差", "商品与页面描述不符", "少件/漏发")


@dataclass(frozen=True)
class Refund:
    """One refund of one line; `row()` renders the jdp_tb_refund push of a given version of it."""

    refund_id: int
    tid: int
    oid: int
    seller_nick: str
    created: datetime
    refund_fee: Decimal


class RefundFactory:
    """Refunds and their jdp_tb_refund rows; the same seed gives the same rows."""

    def __init__(self, seed: int = 0, sellers: Sequence[str] = SELLERS) -> None:
        self.trades = PushFactory(seed, sellers)
        self.rng = self.trades.rng

    def refund(self, created: datetime, tid: int | None = None, oid: int | None = None) -> Refund:
        trade_id = tid if tid is not None else self.trades._id()
        return Refund(self.trades._id(), trade_id, oid if oid is not None else trade_id,
                      self.rng.choice(self.trades.sellers), created, Decimal(self.rng.randrange(100, 50000)) / 100)

    def document(self, refund: Refund, status: str, modified: datetime, version: int | None = None) -> dict:
        stamp = modified.strftime("%Y-%m-%d %H:%M:%S")
        returns = status in ("WAIT_BUYER_RETURN_GOODS", "WAIT_SELLER_CONFIRM_GOODS")
        body = {
            "refund_id": str(refund.refund_id), "tid": refund.tid, "oid": refund.oid,
            "seller_nick": refund.seller_nick, "buyer_nick": f"买家{refund.oid % 10**6}**",
            "buyer_open_uid": f"AAG{refund.tid % 10**9}", "status": status, "order_status": "WAIT_BUYER_CONFIRM_GOODS",
            "good_status": "BUYER_RETURNED_GOODS" if status == "WAIT_SELLER_CONFIRM_GOODS" else "BUYER_RECEIVED",
            "has_good_return": returns, "refund_phase": self.rng.choice(("onsale", "aftersale")),
            # taobao.refund.get stamps each version in milliseconds.
            "refund_version": version if version is not None else int(modified.timestamp() * 1000),
            "refund_fee": _money(refund.refund_fee), "total_fee": _money(refund.refund_fee * 2),
            "payment": _money(refund.refund_fee * 2), "num": 1, "reason": self.rng.choice(_REFUND_REASONS),
            "desc": self.rng.choice(("", "颜色不喜欢😅", "尺码偏小")), "title": self.rng.choice(_TITLES),
            "price": _money(refund.refund_fee * 2), "created": refund.created.strftime("%Y-%m-%d %H:%M:%S"),
            "modified": stamp, "cs_status": 1, "advance_status": 0, "split_taobao_fee": "0.00",
            "split_seller_fee": "0.00", "outer_id": f"SP{refund.oid % 100000}",
            **({"company_name": "中通快递", "sid": f"ZT{refund.refund_id % 10**12}"} if status == "WAIT_SELLER_CONFIRM_GOODS" else {}),
        }
        return {"refund_get_response": {"refund": body}}

    def row(self, refund: Refund, status: str, modified: datetime, jdp_modified: datetime,
            version: int | None = None) -> dict:
        """A jdp_tb_refund row holding that push."""
        response = orjson.dumps(self.document(refund, status, modified, version)).decode()
        return {
            "refund_id": refund.refund_id, "seller_nick": refund.seller_nick, "buyer_nick": f"买家{refund.oid % 10**6}**",
            "status": status, "created": refund.created, "tid": refund.tid, "oid": refund.oid, "modified": modified,
            "jdp_hashcode": hashlib.md5(response.encode()).hexdigest(), "jdp_response": response,
            "jdp_created": jdp_modified, "jdp_modified": jdp_modified,
        }
