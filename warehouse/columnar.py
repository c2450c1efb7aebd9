"""Column blocks -> Arrow record batches for the columnar insert (pure; no client).

The Arrow types come from the table's own ClickHouse column types (`DESCRIBE TABLE`), so the
DDL stays the one source of truth: `arrow_type("LowCardinality(String)")` is `string`,
`Array(UInt16)` is `list<uint16>`, `DateTime64(3, 'UTC')` is `timestamp[ms, UTC]`,
`Nullable(Decimal(38, 12))` is a nullable `decimal128(38, 12)` (built from the exact decimal
strings the events carry, never through a float), `UUID` travels as its text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pyarrow as pa

from warehouse.tables import ColumnBlock

_WRAPPERS = re.compile(r"^(Nullable|LowCardinality)\((.*)\)$")
_ARRAY = re.compile(r"^Array\((.*)\)$")
_DT64 = re.compile(r"^DateTime64\((\d)(?:,\s*'([^']*)')?\)$")
_DT = re.compile(r"^DateTime(?:\('([^']*)'\))?$")
_DECIMAL = re.compile(r"^Decimal\((\d+),\s*(\d+)\)$")
_SIMPLE: dict[str, pa.DataType] = {
    "String": pa.string(),
    "UUID": pa.string(),
    "Bool": pa.bool_(),
    "UInt8": pa.uint8(),
    "UInt16": pa.uint16(),
    "UInt32": pa.uint32(),
    "UInt64": pa.uint64(),
    "Int8": pa.int8(),
    "Int16": pa.int16(),
    "Int32": pa.int32(),
    "Int64": pa.int64(),
    "Float32": pa.float32(),
    "Float64": pa.float64(),
    "Date": pa.date32(),
}
_UNITS = {0: "s", 3: "ms", 6: "us", 9: "ns"}


def arrow_type(ch_type: str) -> pa.DataType:
    """Pure: a ClickHouse column type -> the Arrow type its values are sent as."""
    t = ch_type.strip()
    if m := _WRAPPERS.match(t):
        return arrow_type(m.group(2))
    if m := _ARRAY.match(t):
        return pa.list_(arrow_type(m.group(1)))
    if m := _DT64.match(t):
        return pa.timestamp(_UNITS[int(m.group(1))], tz=m.group(2) or "UTC")
    if m := _DT.match(t):
        return pa.timestamp("s", tz=m.group(1) or "UTC")
    if m := _DECIMAL.match(t):
        return pa.decimal128(int(m.group(1)), int(m.group(2)))
    if t in _SIMPLE:
        return _SIMPLE[t]
    raise ValueError(f"no Arrow mapping for ClickHouse type {ch_type!r}")


def arrow_schema(columns: Iterable[tuple[str, str]]) -> pa.Schema:
    """Pure: (name, ClickHouse type) pairs, e.g. from DESCRIBE TABLE -> an Arrow schema."""
    return pa.schema([pa.field(name, arrow_type(t), nullable=t.startswith("Nullable(")) for name, t in columns])


def to_arrow(block: ColumnBlock, schema: pa.Schema) -> pa.RecordBatch:
    """Pure, C speed per value: a column block -> one record batch of `schema`'s types (only the
    block's columns, in the block's order). Decimals are parsed from their strings by Arrow."""
    arrays = []
    fields = []
    for name, values in zip(block.names, block.data, strict=True):
        f = schema.field(name)
        if pa.types.is_decimal(f.type):
            arr = pa.array(values, pa.string()).cast(f.type)
        else:
            arr = pa.array(values, f.type)
        arrays.append(arr)
        fields.append(f)
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))
