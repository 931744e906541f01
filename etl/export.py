"""`etl export`: the translated rows of a window as files for analysts (CSV or Parquet).

The window is on the parent table's `jdp_modified` (the push each row came from), so an export
of a day holds the trades (or refunds) whose latest push came that day, with all their lines and
promotions. Paged: the parent rows are read in keyset pages, their children per page, and each
page is appended to the files; memory does not grow with the window.

Ids never pass through a float: CSV cells are the values' own text (str() of an int, a Decimal,
a datetime), and Parquet columns are typed from the target's schema (int64, decimal128(15,2),
timestamp[s], string).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa

from etl.config import JobConfig
from etl.bookkeeping import MODIFIED
from etl.context import open_job
from etl.database.tables import chunks, keyset_after
from etl.errors import ConfigError, EtlError
from etl.kinds import KINDS
from etl.window import Period, Position, batches
from etl.translate import Kind

FORMATS = ("csv", "parquet")
# Parent rows per partition; their children come along.
_PARTITION = 10_000


class _Writer(Protocol):
    def write(self, rows: Sequence[sa.Row]) -> None: ...

    def close(self) -> None: ...


class _CsvWriter:
    """pandas with object columns: every cell is written as str() of its value, exactly."""

    def __init__(self, path: Path, columns: list[str]) -> None:
        # Imported here, as pyarrow is below: `etl run` imports this module and needs neither.
        import pandas as pd

        self.pd = pd
        self.path, self.columns, self.header = path, columns, True
        path.unlink(missing_ok=True)

    def write(self, rows: Sequence[sa.Row]) -> None:
        frame = self.pd.DataFrame([tuple(row) for row in rows], columns=self.columns, dtype=object)
        frame.to_csv(self.path, mode="a", header=self.header, index=False, date_format="%Y-%m-%d %H:%M:%S")
        self.header = False

    def close(self) -> None:
        if self.header:  # an empty window still gets its header
            self.pd.DataFrame(columns=self.columns).to_csv(self.path, index=False)


def _arrow_type(pa: Any, column: sa.Column) -> Any:
    """The pyarrow type of a target column (`pa`: the pyarrow module, imported only for Parquet)."""
    kind = column.type
    if isinstance(kind, sa.Integer):
        return pa.int64()
    if isinstance(kind, sa.Numeric):
        return pa.decimal128(kind.precision or 15, kind.scale if kind.scale is not None else 2)
    if isinstance(kind, sa.DateTime):
        return pa.timestamp("s")
    return pa.string()


class _ParquetWriter:
    def __init__(self, path: Path, table: sa.Table) -> None:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise ConfigError("--format parquet needs pyarrow: pip install 'jdp-etl[parquet]'") from None
        self.pa = pa
        self.schema = pa.schema([(column.name, _arrow_type(pa, column)) for column in table.columns])
        self.writer = pq.ParquetWriter(str(path), self.schema)

    def write(self, rows: Sequence[sa.Row]) -> None:
        columns = list(zip(*rows)) if rows else [[] for _ in self.schema]
        arrays = [self.pa.array(values, type=field.type) for values, field in zip(columns, self.schema)]
        self.writer.write_table(self.pa.Table.from_arrays(arrays, schema=self.schema))

    def close(self) -> None:
        self.writer.close()


def _writer(form: str, folder: Path, table: sa.Table) -> _Writer:
    path = folder / f"{table.name}.{form}"
    return _CsvWriter(path, list(table.columns.keys())) if form == "csv" else _ParquetWriter(path, table)


def export_job(job: JobConfig, since: datetime, until: datetime, form: str, folder: Path) -> dict[str, Path]:
    """Write the window's parent rows and their children to `folder`, one file per table.

    Returns each table's file. Existing files of the same names are replaced.
    """
    period = Period(since, until)
    kind = KINDS[job.kind]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise EtlError(f"cannot create the export folder {folder}: {error.strerror or error}") from None
    with open_job(job) as opened:
        tables = opened.target_tables([kind.parent, *kind.children])
        writers = {name: _writer(form, folder, table) for name, table in tables.items()}
        try:
            with opened.on_target():
                _copy(opened.target_engine, kind, tables, writers, period)
        except OSError as error:
            raise EtlError(f"cannot write the export to {folder}: {error.strerror or error}") from None
        finally:
            for writer in writers.values():
                writer.close()
    return {name: folder / f"{name}.{form}" for name in (kind.parent, *kind.children)}


def _copy(engine: sa.Engine, kind: Kind, tables: dict[str, sa.Table], writers: dict[str, _Writer],
          period: Period) -> None:
    parent = tables[kind.parent]
    key, modified = parent.c[kind.key_column], parent.c[MODIFIED]
    window = (sa.select(parent).where(modified >= period.since, modified < period.until)
              .order_by(modified, key).limit(_PARTITION))
    # Keyset pages on one connection (the window's rows in (jdp_modified, key) order, as a run reads
    # the source): a streaming cursor would hold the connection that the children are read on.
    with engine.connect() as connection:

        def page(after: Position | None) -> list[sa.Row]:
            query = window if after is None else window.where(keyset_after(modified, key, after.modified, after.key))
            return connection.execute(query).all()

        def end(rows: list[sa.Row]) -> Position:
            return Position(rows[-1]._mapping[MODIFIED], rows[-1]._mapping[kind.key_column])

        for partition in batches(page, None, end):
            writers[kind.parent].write(partition)
            keys = [row._mapping[kind.key_column] for row in partition]
            for name in kind.children:
                child = tables[name]
                # A child table's rows in key order, then by the rest of its primary key (oid, seq).
                order = [child.c[kind.key_column],
                         *(column for column in child.primary_key.columns if column.name != kind.key_column)]
                for chunk in chunks(keys):
                    rows = connection.execute(
                        sa.select(child).where(child.c[kind.key_column].in_(chunk)).order_by(*order)
                    ).all()
                    if rows:
                        writers[name].write(rows)
