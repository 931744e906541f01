"""Real-shaped documents, as landing tables hold them, through the translators and through `etl run`.

tests/fixtures/shapes/<kind>/ holds one document per file, written after the public API
documentation's field lists and response examples: each wrapper a poller or a push stores
(TOP envelopes and lists, 1688's open-platform answers, gateways, TMC messages, JSON encoded
twice) and each refusal. Every accepted one has a golden `<name>.rows.json` with the rows it
must become, field by field; `ETL_WRITE_GOLDEN=1 pytest tests/test_shapes.py` rewrites them from
the translators (then read the diff before committing it).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from etl.translate import KINDS, TranslateError
from support import etl

FOLDER = Path(__file__).parent / "fixtures" / "shapes"
T0 = datetime(2026, 11, 11, 10, 0, 0)

# What each refused document's row is keyed by in its source, and a part of the reason the
# operator reads in etl_reject.
REFUSED = {
    "tb_trade": {
        "refused_tmc_trade_create": (
            3856789012345678901,
            "the TMC message's content (taobao_trade_TradeCreate) has only the event's fields, not a whole trade "
            "(no orders): land taobao.trade.fullinfo.get's answer for its tid instead",
        ),
        "refused_trades_sold_get_two_trades": (
            3867890123456789012, "trades_sold_get_response.trades.trade lists 2 documents; a push carries one trade"),
        "refused_top_error": (
            3867890123456789099,
            "TOP error response (code=27 msg=Invalid session sub_code=isv.invalid-sessionkey sub_msg=SessionKey非法)",
        ),
        "refused_tid_str_as_number": (
            3878901234567890123,
            "trade.tid_str = 3878901234567890000 is a JSON number where the API sends a string",
        ),
    },
    "tb_refund": {
        "refused_tmc_refund_created": (
            168123456789012377,
            "the TMC message's content (taobao_refund_RefundCreated) has only the event's fields, not a whole refund "
            "(no status)",
        ),
    },
    "alibaba_order": {
        "refused_error_answer": (
            "2406000000000000001", "error answer (code 400_2: 订单不存在或不属于当前用户), not a 1688 order"),
        "refused_sub_item_id_string_as_number": (
            "58218860985545941",
            "productItems[0].subItemIDString = 58218860985545944 is a JSON number where the API sends a string",
        ),
        "refused_id_of_str_as_number": (
            "58218860985545942", "baseInfo.idOfStr = 58218860985545941 is a JSON number where the API sends a string"),
        "refused_line_ids_a_double_cannot_tell_apart": (
            "2406700000000000001",
            "productItems[0].subItemIDString is missing and productItems[0].subItemID = 2406700000000000000 lost "
            "precision upstream (1688 prints it through a double), and logisticsItems.subItemIds lists 2",
        ),
        "refused_order_message": (
            "2406512345678909999",
            "the push is not a 1688 order: expected result, a gateway's {code, data}, a TMC message's content, "
            "a JSON string of one of these, or a bare 1688 order with baseInfo",
        ),
    },
}


def _documents(kind: str, refused: bool) -> dict[str, bytes]:
    return {path.stem: path.read_bytes() for path in sorted((FOLDER / kind).glob("*.json"))
            if not path.name.endswith(".rows.json") and path.stem.startswith("refused_") == refused}


ACCEPTED = [(kind, name) for kind in REFUSED for name in _documents(kind, refused=False)]


def _plain(value: Any) -> Any:
    """A column value as the golden files write it: exact text for money and times."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return value


def _translated(kind: str, document: bytes) -> dict[str, Any]:
    rows = KINDS[kind].translate(orjson.loads(document))
    return {"key": rows.key, "warnings": list(rows.warnings),
            "tables": {table: [{name: _plain(value) for name, value in row.items()} for row in table_rows]
                       for table, table_rows in rows.tables.items()}}


def _golden(kind: str, name: str) -> dict[str, Any]:
    path = FOLDER / kind / f"{name}.rows.json"
    if os.environ.get("ETL_WRITE_GOLDEN") == "1":
        translated = _translated(kind, (FOLDER / kind / f"{name}.json").read_bytes())
        path.write_bytes(orjson.dumps(translated, option=orjson.OPT_INDENT_2) + b"\n")
    return orjson.loads(path.read_bytes())


def test_every_document_is_either_golden_or_a_listed_refusal():
    for kind, refusals in REFUSED.items():
        assert set(_documents(kind, refused=True)) == set(refusals), kind
        for name in _documents(kind, refused=False):
            assert (FOLDER / kind / f"{name}.rows.json").exists(), f"{kind}/{name} has no golden rows"


@pytest.mark.parametrize("kind, name", ACCEPTED, ids=[f"{kind}/{name}" for kind, name in ACCEPTED])
def test_a_real_shaped_document_translates_to_its_golden_rows(kind, name):
    assert _translated(kind, (FOLDER / kind / f"{name}.json").read_bytes()) == _golden(kind, name)


@pytest.mark.parametrize("kind, name", [(kind, name) for kind in REFUSED for name in REFUSED[kind]])
def test_a_refused_shape_says_why(kind, name):
    with pytest.raises(TranslateError) as caught:
        KINDS[kind].translate(orjson.loads((FOLDER / kind / f"{name}.json").read_bytes()))
    assert REFUSED[kind][name][1] in str(caught.value)


# --- through the CLI, on SQLite and MySQL/MariaDB ---------------------------------------------------

# How each kind's source table is written, and the job's keys beyond source and target.
SOURCES = {
    "tb_trade": ("jdp_tb_trade", "tid", "jdp_modified", "jdp_response", {}),
    "tb_refund": ("jdp_tb_refund", "refund_id", "jdp_modified", "jdp_response", {}),
    "alibaba_order": ("alibaba_order_landing", "order_id", "landed_at", "body",
                      {"table": "alibaba_order_landing", "key_column": "order_id", "modified_column": "landed_at",
                       "json_column": "body"}),
}


def _source_rows(kind: str) -> list[dict]:
    table, key, modified, body, _ = SOURCES[kind]
    keyed = [(_golden(kind, name)["key"], document) for name, document in _documents(kind, refused=False).items()]
    keyed += [(REFUSED[kind][name][0], document) for name, document in _documents(kind, refused=True).items()]
    cast = str if kind == "alibaba_order" else int
    return [{key: cast(k), modified: T0 + timedelta(seconds=n), body: document.decode()}
            for n, (k, document) in enumerate(keyed)]


def _stored(dbs, table: str, key_column: str, row: dict) -> dict:
    columns = list(row)
    (stored,) = [dict(zip(columns, values)) for values in dbs.select(table, ",".join(columns))
                 if values[columns.index(key_column)] == row[key_column]
                 and ("seq" not in row or values[columns.index("seq")] == row["seq"])]
    if isinstance(stored.get("ext"), str):
        stored["ext"] = orjson.loads(stored["ext"])
    # A DECIMAL(15,2) column gives 8.00 for the 8 a 1688 document says: the same amount.
    return {name: row[name] if isinstance(value, Decimal) and value == Decimal(row[name]) else _plain(value)
            for name, value in stored.items()}


@pytest.mark.parametrize("kind", list(SOURCES))
def test_every_shape_goes_through_etl_run_to_its_golden_rows_or_a_reject(dbs, tmp_path, kind):
    table, _, _, _, settings = SOURCES[kind]
    dbs.push(_source_rows(kind), table)
    config = dbs.config_file(tmp_path, {kind: {"kind": kind, **settings}})
    code, out, err = etl("--config", str(config), "run", kind)
    assert code == 0, err

    for name in _documents(kind, refused=False):
        for target, rows in _golden(kind, name)["tables"].items():
            key_column = KINDS[kind].key_column if target == KINDS[kind].parent else "oid"
            if target == "oms_promotion":
                key_column = "tid"
            for row in rows:
                assert _stored(dbs, target, key_column, row) == row, f"{name}: {target}"
    rejects = {str(key or text): error for key, text, error in dbs.query(
        "SELECT tid, key_text, error FROM etl_reject WHERE job = :job AND resolved_at IS NULL", job=kind)}
    assert set(rejects) == {str(key) for key, _ in REFUSED[kind].values()}
    for name, (key, reason) in REFUSED[kind].items():
        assert reason in rejects[str(key)], name
