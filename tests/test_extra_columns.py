"""Field mapping without code: sql/local/ DDL applied by `etl init`, extra_columns from JSON paths,
and oms_trade.ext keeping what no column maps -- through the CLI, on SQLite and MySQL."""

from __future__ import annotations

import tracemalloc
from datetime import datetime
from decimal import Decimal

import orjson
import pandas as pd
import pytest

from alibaba_orders import AlibabaOrderFactory
from support import etl

from etl.extra import Extras
from etl.kinds import KINDS
from etl.synth import PushFactory

T0 = datetime(2026, 11, 11, 10, 0, 0)

LOCAL_DDL = """-- the seller's own columns
ALTER TABLE oms_trade ADD COLUMN o2o_shop_id VARCHAR(32) NULL;
ALTER TABLE oms_trade ADD COLUMN yfx_fee DECIMAL(15,2) NULL;
ALTER TABLE oms_trade ADD COLUMN first_tag VARCHAR(64) NULL;
ALTER TABLE oms_order ADD COLUMN store_code VARCHAR(16) NULL;
ALTER TABLE oms_order ADD COLUMN has_yfx TINYINT NULL;
ALTER TABLE oms_order ADD COLUMN sort_info TEXT NULL;
ALTER TABLE oms_order ADD COLUMN day_sort INT NULL;
"""

EXTRA_COLUMNS = {
    "oms_trade": {"o2o_shop_id": "trade.o2o_shop_id", "yfx_fee": "trade.yfx_fee",
                  "first_tag": "trade.service_tags.logistics_tag[0].logistic_service_tag_list"
                               ".logistic_service_tag[0].service_type"},
    "oms_order": {"store_code": "order.store_code", "has_yfx": "trade.has_yfx", "sort_info": "order.sort_info",
                  "day_sort": "order.sort_info.day_sort_val"},
}


def _dialects(dbs, ddl: str) -> str:
    """`ddl` in the target's own dialect: PostgreSQL has no TINYINT."""
    return ddl.replace("TINYINT", "SMALLINT") if dbs.backend == "postgresql" else ddl


def _project(dbs, tmp_path, jobs: dict, ddl: str = LOCAL_DDL) -> str:
    (tmp_path / "sql" / "local").mkdir(parents=True)
    (tmp_path / "sql" / "local" / "0001_shop_columns.sql").write_text(_dialects(dbs, ddl), encoding="utf-8")
    return str(dbs.config_file(tmp_path, jobs))


def _trade(factory: PushFactory, shop: str | None = "shop-7") -> tuple:
    trade = factory.trade(T0)
    row = factory.row(trade, "WAIT_SELLER_SEND_GOODS", T0, T0)
    document = orjson.loads(row["jdp_response"])
    if shop is not None:
        document["trade_fullinfo_get_response"]["trade"]["o2o_shop_id"] = shop
    row["jdp_response"] = orjson.dumps(document).decode()
    return trade, row, document["trade_fullinfo_get_response"]["trade"]


def test_init_applies_sql_local_once_and_a_job_fills_the_columns_from_json_paths(dbs, tmp_path):
    config = _project(dbs, tmp_path, {"tb": {"extra_columns": EXTRA_COLUMNS}})
    code, out, err = etl("--config", config, "init")
    assert (code, err) == (0, "") and "applied sql/local/0001_shop_columns.sql" in out
    code, out, _ = etl("--config", config, "init")
    assert code == 0 and "up to date" in out

    factory = PushFactory(seed=5)
    trade, row, document = _trade(factory)
    bare, bare_row, _ = _trade(factory, shop=None)
    dbs.push([row, bare_row])
    code, out, err = etl("--config", config, "run")
    assert (code, err) == (0, "") and "wrote 2, rejected 0" in out

    assert dbs.select("oms_trade", "tid, o2o_shop_id, yfx_fee, first_tag", "tid") == sorted([
        (trade.tid, "shop-7", Decimal("0.50"), "TB_CONSIGN_DATE"), (bare.tid, None, Decimal("0.50"), "TB_CONSIGN_DATE"),
    ])
    lines = dbs.select("oms_order", "oid, store_code, has_yfx, sort_info, day_sort", "oid")
    pushed = {line["oid"]: line for line in document["orders"]["order"]}
    for oid, store_code, has_yfx, sort_info, day_sort in lines:
        if oid in pushed:
            assert store_code == pushed[oid]["store_code"] and has_yfx == int(document["has_yfx"])
            assert orjson.loads(sort_info) == pushed[oid]["sort_info"]
            assert day_sort == pushed[oid]["sort_info"]["day_sort_val"]
    assert len(lines) == len(trade.lines) + len(bare.lines)

    # Nothing pushed is lost: ext holds every trade field no column maps, as pushed.
    ext = dict(dbs.select("oms_trade", "tid, ext"))[trade.tid]
    ext = orjson.loads(ext)
    assert ext["o2o_shop_id"] == "shop-7" and ext["alipay_no"] == document["alipay_no"]
    assert ext["service_tags"] == document["service_tags"] and "orders" not in ext and "payment" not in ext

    # An export carries the extra columns, and ext as the JSON text it is.
    code, _, _ = etl("--config", config, "export", "tb", "--since", "2026-11-11", "--until", "2026-11-12",
                     "--format", "csv", "--out", str(tmp_path / "out"))
    exported = pd.read_csv(tmp_path / "out" / "oms_trade.csv", dtype=str).set_index("tid")
    assert code == 0 and exported.loc[str(trade.tid), "o2o_shop_id"] == "shop-7"
    assert orjson.loads(exported.loc[str(trade.tid), "ext"]) == ext

    # A retranslate writes the same tables again.
    before = {table: dbs.dump(table, key) for table, key in (("oms_trade", "tid"), ("oms_order", "oid"))}
    code, _, _ = etl("--config", config, "retranslate", "tb", "--since", "2026-11-11", "--until", "2026-11-12")
    assert code == 0
    assert before == {table: dbs.dump(table, key) for table, key in (("oms_trade", "tid"), ("oms_order", "oid"))}


@pytest.mark.parametrize(("column", "good", "bad", "reason"), [
    ("VARCHAR(4) NULL", "s-1", "shop-too-long",
     "extra column oms_trade.o2o_shop_id: trade.o2o_shop_id = 'shop-too-long' is longer than the column's 4 "
     "characters"),
    # MariaDB and MySQL report a CHECK as an OperationalError; it is a refused value all the same.
    ("VARCHAR(32) NULL CHECK (o2o_shop_id LIKE 'shop-%')", "shop-1", "depot-2", "the target refused the translated rows"),
], ids=["too-long", "check"])
def test_a_value_the_column_refuses_rejects_only_its_push_with_the_reason(dbs, tmp_path, column, good, bad, reason):
    config = _project(dbs, tmp_path, {"tb": {"extra_columns": {"oms_trade": {"o2o_shop_id": "trade.o2o_shop_id"}}}},
                      f"ALTER TABLE oms_trade ADD COLUMN o2o_shop_id {column};\n")
    assert etl("--config", config, "init")[0] == 0
    factory = PushFactory(seed=6)
    _, bad_row, _ = _trade(factory, shop=bad)
    kept, good_row, _ = _trade(factory, shop=good)
    dbs.push([bad_row, good_row])
    code, out, err = etl("--config", config, "run")
    assert (code, err) == (0, "") and "wrote 1, rejected 1" in out
    assert dbs.query("SELECT tid, o2o_shop_id FROM oms_trade") == [(kept.tid, good)]
    [(error,)] = dbs.query("SELECT error FROM etl_reject")
    assert error.startswith(reason)


def test_keep_ext_false_writes_null(dbs, tmp_path):
    config = str(dbs.config_file(tmp_path, {"tb": {"keep_ext": False}}))
    factory = PushFactory(seed=7)
    trade, row, _ = _trade(factory)
    dbs.push([row])
    assert etl("--config", config, "run")[0] == 0
    assert dbs.select("oms_trade", "tid, ext") == [(trade.tid, None)]


def test_a_1688_order_keeps_its_unmapped_sections_and_takes_extra_columns(dbs, tmp_path):
    ddl = "ALTER TABLE oms_order ADD COLUMN cargo VARCHAR(64) NULL;\n"
    config = _project(dbs, tmp_path, {"wholesale": {
        "kind": "alibaba_order", "table": "alibaba_order_landing", "key_column": "order_id",
        "modified_column": "landed_at", "json_column": "body",
        "extra_columns": {"oms_order": {"cargo": "item.cargoNumber"}},
    }}, ddl)
    assert etl("--config", config, "init")[0] == 0
    factory = AlibabaOrderFactory(seed=8)
    order = factory.order(T0)
    row = factory.row(order, "waitsellersend", T0, T0)
    dbs.push([row], "alibaba_order_landing")
    code, out, err = etl("--config", config, "run")
    assert (code, err) == (0, "") and "wrote 1" in out
    [(ext,)] = dbs.select("oms_trade", "ext")
    assert orjson.loads(ext) == {"baseInfo": {"businessType": "cn", "discount": "0", "tradeType": "50060",
                                              "flowTemplateCode": "assureTrade"}}
    assert dbs.query("SELECT cargo FROM oms_order ORDER BY seq") == [(line["outer_sku_id"],) for line in order.lines]


def test_an_extra_column_missing_from_the_target_stops_the_job_before_it_writes(dbs, tmp_path):
    config = str(dbs.config_file(tmp_path, {"tb": {"extra_columns": {"oms_order": {"store_code": "order.store_code"}}}}))
    dbs.push([_trade(PushFactory(seed=9))[1]])
    code, _, err = etl("--config", config, "run")
    assert code == 2
    assert "extra column oms_order.store_code is not in the target" in err and "sql/local/" in err
    assert dbs.query("SELECT COUNT(*) FROM oms_trade") == [(0,)]


@pytest.mark.parametrize("column", ["status", "content_hash"], ids=["translators", "the-jobs-own"])
def test_an_extra_column_the_job_writes_itself_is_a_config_error(dbs, tmp_path, column):
    config = str(dbs.config_file(tmp_path, {"tb": {"extra_columns": {"oms_trade": {column: "trade.type"}}}}))
    dbs.push([_trade(PushFactory(seed=10))[1]])
    code, _, err = etl("--config", config, "run")
    assert code == 2 and f"oms_trade.{column} is a column the tb_trade job writes itself" in err
    assert dbs.query("SELECT COUNT(*) FROM oms_trade") == [(0,)]


@pytest.mark.parametrize(("extra", "fragment"), [
    ({"oms_refund": {"x": "refund.x"}}, "tb_trade jobs write no table 'oms_refund'"),
    ({"oms_trade": {"x": "order.x"}}, "must start at trade"),
    ({"oms_promotion": {"x": "order.x"}}, "must start at promotion or trade"),
    ({"oms_trade": {"x": "trade.[["}}, "is not a JMESPath expression"),
    ({"oms_trade": {"x-y": "trade.x"}}, "is not a plain column name"),
])
def test_a_bad_extra_column_is_a_config_error_before_any_database(tmp_path, extra, fragment):
    import yaml

    config = tmp_path / "jobs.yaml"
    config.write_text(yaml.safe_dump({"jobs": {"tb": {
        "source": "mysql://nobody:secret@127.0.0.1:1/none", "target": "sqlite:///nowhere.db", "extra_columns": extra,
    }}}))
    code, _, err = etl("--config", str(config), "run")
    assert code == 2 and fragment in err and "secret" not in err


def test_a_local_file_changed_after_it_was_applied_is_an_error(dbs, tmp_path):
    config = _project(dbs, tmp_path, {"tb": {}})
    assert etl("--config", config, "init")[0] == 0
    (tmp_path / "sql" / "local" / "0001_shop_columns.sql").write_text(_dialects(dbs, LOCAL_DDL) + "-- edited\n",
                                                                       encoding="utf-8")
    code, _, err = etl("--config", config, "init")
    assert code == 2 and "0001_shop_columns.sql changed after it was applied" in err
    (tmp_path / "sql" / "local" / "0001_shop_columns.sql").write_text(_dialects(dbs, LOCAL_DDL), encoding="utf-8")
    assert etl("--config", config, "init")[0] == 0


def test_a_local_file_the_target_refuses_is_named(dbs, tmp_path):
    config = _project(dbs, tmp_path, {"tb": {}}, "ALTER TABLE oms_trade ADD COLUMN ;\n")
    code, _, err = etl("--config", config, "init")
    assert code == 2 and "0001_shop_columns.sql: the target refused it" in err
    assert dbs.query("SELECT COUNT(*) FROM etl_local_sql") == [(0,)]


def test_a_target_whose_schema_is_behind_is_refused_until_init(dbs, tmp_path):
    config = str(dbs.config_file(tmp_path, {"tb": {}}))
    dbs.push([_trade(PushFactory(seed=11))[1]])
    dbs.execute("DELETE FROM etl_schema WHERE version = 3")
    code, _, err = etl("--config", config, "run")
    assert code == 2 and "lacks 0003_ext.sql: run `etl init`" in err



def test_ext_holds_no_more_memory_than_its_text():
    # A batch holds a thousand trades' ext until it is written: each must cost its length, not the
    # buffer orjson grew it in (several times the text).
    factory = PushFactory(seed=3)
    documents = [factory.document(factory.trade(T0), "TRADE_FINISHED", T0) for _ in range(50)]
    extras = Extras("tb", KINDS["tb_trade"], [], True, {})
    translated = [KINDS["tb_trade"].translate(document) for document in documents]
    tracemalloc.start()
    try:
        for rows in translated:
            extras.apply(rows)
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    text = sum(len(rows.tables["oms_trade"][0]["ext"]) for rows in translated)
    assert text > 0 and held < 1.5 * text, (held, text)
