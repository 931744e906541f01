"""One pure translator per kind of document, and the registry the engine looks kinds up in."""

from etl.translate.rows import Kind, Row, Rows, TranslateError
from etl.translate.tb_trade import translate_trade

KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind(
            name="tb_trade",
            translate=translate_trade,
            parent="oms_trade",
            key_column="tid",
            children=("oms_order", "oms_promotion"),
            version=("modified",),
        ),
    )
}

__all__ = ["KINDS", "Kind", "Row", "Rows", "TranslateError", "translate_trade"]
