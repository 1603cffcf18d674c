"""Reading uploaded tables: CSV (plain or gzip) and Parquet, validated, converted, profiled.

:func:`ingest` reads a file once, in record batches, and in that same pass writes it to
Parquet and feeds :class:`~projects.analysis.profile.ProfileBuilder`. Memory is bounded by
``ProfileOptions.batch_bytes`` and the profile's fixed-size sketches, not by the file.

How a CSV file is read (see :mod:`projects.analysis.csvscan`):

- The head (first MiB) is decoded to detect the delimiter and read the header; bad names,
  a missing header and undecodable bytes are reported before any data is parsed.
- The rest is cut into newline-aligned chunks of ``batch_bytes``, each parsed by pyarrow's
  CSV parser on a worker thread while the previous one is profiled. Cutting the chunks
  ourselves, rather than using ``pyarrow.csv.open_csv``, keeps one chunk in flight
  (``open_csv`` reads blocks ahead: two to three times the memory, and slower in our
  measurements) and lets every error name its line.
- Column types are inferred from the first chunk and then fixed, so every batch and the
  Parquet file share one schema. When a later chunk does not fit (``3.5`` in an integer
  column, ``abc`` in a number column) that column is widened (null -> the value's type,
  integer -> float -> text; boolean and dates -> text) and the file is read again from the
  start with the widened schema. That costs one more read per widening, which is rare, and
  keeps the output exact: a column demoted to text keeps the spelling of every value
  (``007`` stays ``007``), which converting the already-written rows could not do.

Parsed chunks are gathered into batches of ``BATCH_ROWS`` rows (per-batch overheads then
hardly count), profiled on the calling thread and written as Parquet row groups on a
second worker thread. Columns too long to keep whole are then read back from the Parquet
file, column by column, for exact histograms and top-value counts (see
:mod:`projects.analysis.profile`). Parquet input goes the same way, from
``ParquetFile.iter_batches``. No Django import here.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from projects.analysis.columnstats import CLASS_LIMIT
from projects.analysis.csvscan import (
    DEFAULT_LIMITS,
    CsvLayout,
    CsvScan,
    DataError,
    LimitExceeded,
    ReadLimits,
    Widened,
    check_first_line,
    check_names,
    inspect_csv,
    opened,
    too_large,
    too_many_rows,
)
from projects.analysis.profile import (
    ColumnProfile,
    Profile,
    ProfileBuilder,
    ProfileOptions,
    column_kind,
)

if TYPE_CHECKING:
    import pandas

__all__ = [
    "ColumnProfile",
    "DataError",
    "LimitExceeded",
    "Profile",
    "ProfileOptions",
    "ReadLimits",
    "check_first_line",
    "ingest",
    "opened",
    "read_columns",
    "read_frame",
    "sniff_format",
]

Progress = Callable[[float, str], None]

#: Parsed chunks are gathered into batches of this many rows (or of ``BATCH_CHUNKS`` times
#: ``batch_bytes`` for wide rows) for the statistics and as Parquet row groups, so per-batch
#: costs are paid rarely while each chunk stays small to parse.
BATCH_ROWS = 64 * 1024
BATCH_CHUNKS = 4
ROW_GROUP_ROWS = BATCH_ROWS
#: ... or of this many bytes, whichever comes first: rows of long text would otherwise make
#: row groups (held in memory until written) of gigabytes.
ROW_GROUP_BYTES = 64 << 20
#: Share of the progress bar for the first pass when a second one is needed.
FIRST_PASS_SHARE = 0.95
_BINARY_MAGIC = (b"PK\x03\x04", b"\x89PNG", b"%PDF", b"\xd0\xcf\x11\xe0", b"GIF8", b"\xff\xd8\xff")


def sniff_format(path: str | BinaryIO) -> str:
    """``"csv"``, ``"csv.gz"`` or ``"parquet"``, judged from the content, not the name."""
    with opened(path) as handle:
        head = handle.read(64 * 1024)
        if head[:4] == b"PAR1":
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - 4))
            if size >= 12 and handle.read(4) == b"PAR1":
                return "parquet"
            if not _looks_like_text(head):  # a CSV may happen to start with "PAR1"
                raise DataError("The Parquet file is cut short (its footer is missing).")
    if not head:
        raise DataError("The file is empty.")
    if head[:2] == b"\x1f\x8b":
        try:
            inner = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 64 * 1024)
        except zlib.error as exc:
            raise DataError("The file is gzip-compressed but damaged.") from exc
        if not inner:
            raise DataError("The compressed file is empty.")
        if _looks_like_text(inner):
            return "csv.gz"
    elif _looks_like_text(head):
        return "csv"
    raise DataError("The file is neither CSV nor Parquet.")


def _looks_like_text(head: bytes) -> bool:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 text carries NUL bytes
        return True
    if head.startswith(_BINARY_MAGIC) or b"\x00" in head:
        return False
    controls = sum(head.count(bytes([c])) for c in range(32) if c not in (9, 10, 12, 13))
    return controls <= len(head) // 100


def _check_columns(names: Sequence[str], wanted: Sequence[str], role: str) -> None:
    for name in wanted:
        if name in names:
            continue
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        listed = ", ".join(f"'{n}'" for n in names[:8]) + (", …" if len(names) > 8 else "")
        raise DataError(
            f"The {role} '{name}' is not a column of the file.{hint} "
            f"It has {len(names)} columns: {listed}."
        )


def _check_profile_columns(names: Sequence[str], options: ProfileOptions) -> None:
    if options.label_column:
        _check_columns(names, [options.label_column], "label column")
    _check_columns(names, list(options.sensitive_columns), "sensitive column")


def _flat_schema(schema: pa.Schema) -> pa.Schema:
    """The schema as plain storage: dictionary columns decoded, extension types read as
    their storage type, field metadata dropped; nested columns are refused.

    Extension metadata comes from the uploader: a foreign ``arrow.py_extension_type``
    carries a pickle, and even pyarrow's own extension types have no compute kernels. So
    the converted file holds plain columns and nothing of the uploader's metadata.
    """
    fields = []
    for field in schema:
        t = field.type
        if isinstance(t, pa.BaseExtensionType):
            t = t.storage_type
        if pa.types.is_nested(t):
            raise DataError(
                f"Column '{field.name}' holds nested values ({t}), which cannot be profiled. "
                "Flatten it into plain columns first."
            )
        if pa.types.is_dictionary(t):
            t = t.value_type
        fields.append(pa.field(field.name, t, field.nullable))
    return pa.schema(fields)


def _plain(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """``column`` in the plain type :func:`_flat_schema` gives it (dictionaries kept)."""
    if isinstance(column.type, pa.BaseExtensionType):
        if isinstance(column, pa.ChunkedArray):
            return pa.chunked_array([c.storage for c in column.chunks], column.type.storage_type)
        return column.storage
    return column


class _ParquetOut:
    """A Parquet file written as batches arrive, in row groups of ``ROW_GROUP_ROWS`` rows
    or ``ROW_GROUP_BYTES`` bytes.

    Writing happens on a background thread (pyarrow releases the GIL while it encodes), so
    it overlaps with the statistics of the next batch; at most one row group is in flight.
    """

    def __init__(self, path: str, schema: pa.Schema) -> None:
        text = [f.name for f in schema if column_kind(f.type) == "categorical"]
        # Dictionary encoding only pays off for text; numbers are rarely repeated enough.
        # No column statistics: the profile has them, and they cost a third of the write.
        self.writer = pq.ParquetWriter(
            path, schema, use_dictionary=text, compression="snappy", write_statistics=False
        )
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.in_flight: Future | None = None
        self.pending: list[pa.RecordBatch] = []
        self.rows = 0
        self.bytes = 0

    def write(self, batch: pa.RecordBatch) -> None:
        self.pending.append(batch)
        self.rows += batch.num_rows
        self.bytes += batch.nbytes
        if self.rows >= ROW_GROUP_ROWS or self.bytes >= ROW_GROUP_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        table = pa.Table.from_batches(self.pending)
        self.pending, self.rows, self.bytes = [], 0, 0
        self._wait()
        self.in_flight = self.pool.submit(self.writer.write_table, table, table.num_rows)

    def _wait(self) -> None:
        if self.in_flight is not None:
            done, self.in_flight = self.in_flight, None
            done.result()

    def close(self) -> None:
        try:
            self.flush()
            self._wait()
        finally:
            self.abort()

    def abort(self) -> None:
        """Stop without raising; the caller deletes the file."""
        with contextlib.suppress(Exception):
            self._wait()
        with contextlib.suppress(Exception):
            self.writer.close()
        self.pool.shutdown()


_END = object()


def _prefetch(items: Iterator):
    """Yield from ``items`` while a worker thread already produces the next one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        upcoming = pool.submit(next, items, _END)
        try:
            while True:
                item = upcoming.result()
                if item is _END:
                    return
                upcoming = pool.submit(next, items, _END)
                yield item
        finally:
            with contextlib.suppress(BaseException):
                upcoming.result()
            close = getattr(items, "close", None)
            if close is not None:
                close()


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def ingest(
    src_path: str,
    parquet_path: str,
    *,
    fmt: str,
    options: ProfileOptions,
    progress: Progress | None = None,
) -> Profile:
    """Convert ``src_path`` to Parquet at ``parquet_path`` and profile it, in one pass.

    The Parquet file is written under a temporary name and moved into place only when the
    whole file has been read, so a failed ingest never leaves a partial file behind.
    """
    report = progress or (lambda fraction, message: None)
    partial = f"{parquet_path}.partial"
    try:
        if fmt == "parquet":
            builder = _ingest_parquet(src_path, partial, options, report)
        elif fmt in ("csv", "csv.gz"):
            builder = _ingest_csv(src_path, partial, fmt == "csv.gz", options, report)
        else:
            raise ValueError(f"unknown format {fmt!r}")
        _second_pass(builder, partial, report)
        profile = builder.finish()
        os.replace(partial, parquet_path)
    except BaseException:
        _remove(partial)
        _remove(parquet_path)
        raise
    report(1.0, f"Profiled {profile.rows:,} rows.")
    return profile


def _feed(builder: ProfileBuilder, out: _ParquetOut, batch: pa.RecordBatch) -> None:
    out.write(batch)
    builder.update(batch)
    # The allocator keeps freed buffers for reuse, per thread; handing them back keeps the
    # peak near what is actually live.
    pa.default_memory_pool().release_unused()
    column = builder.too_many_values()
    if column is not None:
        role = "label" if column == builder.options.label_column else "sensitive column"
        raise DataError(
            f"The {role} '{column}' has more than {CLASS_LIMIT} distinct values; it looks like "
            "an identifier or a measurement, not a set of classes or groups."
        )


def _ingest_csv(
    path: str, partial: str, compressed: bool, options: ProfileOptions, report: Progress
) -> ProfileBuilder:
    limits = options.limits
    layout = inspect_csv(path, compressed, options.encoding, options.delimiter, limits=limits)
    _check_profile_columns(layout.names, options)
    scan = CsvScan(path, layout, options.batch_bytes, limits=limits)
    done = [0.0]  # progress never goes back, even when a widened column restarts the read
    while True:
        try:
            return _csv_attempt(scan, partial, options, report, done)
        except Widened as change:
            report(done[0] * FIRST_PASS_SHARE, change.message)


def _csv_attempt(
    scan: CsvScan, partial: str, options: ProfileOptions, report: Progress, done: list[float]
) -> ProfileBuilder:
    builder: ProfileBuilder | None = None
    out: _ParquetOut | None = None
    pending: list[pa.Table] = []
    # Running totals: a table's nbytes walks every buffer, which cost more than the sums.
    pending_rows = pending_bytes = 0
    most_bytes = BATCH_CHUNKS * options.batch_bytes
    try:
        for table, fraction in _prefetch(scan.tables()):
            if builder is None or out is None:
                builder = ProfileBuilder(table.schema, options)
                out = _ParquetOut(partial, table.schema)
            pending.append(table)
            pending_rows += table.num_rows
            pending_bytes += table.nbytes
            if pending_rows >= BATCH_ROWS or pending_bytes >= most_bytes:
                _feed(builder, out, _one_batch(pending))
                pending, pending_rows, pending_bytes = [], 0, 0
            done[0] = max(done[0], fraction)
            report(done[0] * FIRST_PASS_SHARE, f"Read {builder.rows:,} rows.")
        if builder is None or out is None:
            raise DataError("The file has a header but no data rows.")
        if pending:
            _feed(builder, out, _one_batch(pending))
            report(done[0] * FIRST_PASS_SHARE, f"Read {builder.rows:,} rows.")
        out.close()
        return builder
    except BaseException:
        if out is not None:
            out.abort()
        raise


def _one_batch(tables: list[pa.Table]) -> pa.RecordBatch:
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
    batches = table.combine_chunks().to_batches()
    return batches[0] if batches else pa.RecordBatch.from_pylist([], schema=table.schema)


def _ingest_parquet(
    path: str, partial: str, options: ProfileOptions, report: Progress
) -> ProfileBuilder:
    source = _open_parquet(path)
    schema = _flat_schema(source.schema_arrow)
    check_names(schema.names)
    _check_profile_columns(schema.names, options)
    meta = source.metadata
    if meta.num_rows == 0:
        raise DataError("The file has no data rows.")
    limits = options.limits
    in_memory = _check_parquet_size(meta, limits)
    row_bytes = max(1.0, in_memory / meta.num_rows)
    batch_rows = max(1024, min(BATCH_ROWS, int(BATCH_CHUNKS * options.batch_bytes / row_bytes)))
    builder = ProfileBuilder(schema, options)
    out = _ParquetOut(partial, schema)
    decoded = 0
    try:
        for batch in _prefetch(source.iter_batches(batch_size=batch_rows)):
            batch = _decode_dictionaries(batch, schema)
            # The footer may understate: hold the decoded data to the limits as well.
            decoded += batch.nbytes
            if decoded > limits.max_expanded_bytes:
                raise too_large(limits.max_expanded_bytes, compressed=True)
            if builder.rows + batch.num_rows > limits.max_rows:
                raise too_many_rows(limits.max_rows)
            _feed(builder, out, batch)
            report(builder.rows / meta.num_rows * FIRST_PASS_SHARE, f"Read {builder.rows:,} rows.")
    except (pa.ArrowInvalid, OSError) as exc:
        out.abort()
        raise DataError(f"The Parquet file could not be read: {exc}") from exc
    except BaseException:
        out.abort()
        raise
    out.close()
    return builder


def _check_parquet_size(
    meta: pq.FileMetaData, limits: ReadLimits, columns: Sequence[str] | None = None
) -> int:
    """The uncompressed size the footer declares (of ``columns``, or all), once it and the
    row count are within ``limits``."""
    if meta.num_rows > limits.max_rows:
        raise too_many_rows(limits.max_rows)
    expanded = 0
    for index in range(meta.num_row_groups):
        group = meta.row_group(index)
        if columns is None:
            expanded += group.total_byte_size
        else:
            wanted = set(columns)
            expanded += sum(
                group.column(i).total_uncompressed_size
                for i in range(group.num_columns)
                if group.column(i).path_in_schema in wanted
            )
    if expanded > limits.max_expanded_bytes:
        raise too_large(limits.max_expanded_bytes, compressed=True)
    return expanded


def _open_parquet(path: str) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"The Parquet file could not be read: {exc}") from exc


def _decode_dictionaries(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    if batch.schema.equals(schema, check_metadata=True):
        return batch
    columns = [_plain(col) for col in batch.columns]
    columns = [
        col.dictionary_decode() if pa.types.is_dictionary(col.type) else col for col in columns
    ]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _second_pass(builder: ProfileBuilder, partial: str, report: Progress) -> None:
    """Exact histograms and top counts for columns too long to keep in memory."""
    names = builder.second_pass_columns()
    if not names:
        return
    report(FIRST_PASS_SHARE, "Computing histograms.")
    written = pq.ParquetFile(partial)
    # Row group by row group (ours are small; iter_batches would read several ahead), the
    # next one decoded on a worker thread while this one is binned.
    groups = (
        written.read_row_group(index, columns=names, use_threads=False)
        for index in range(written.num_row_groups)
    )
    for table in _prefetch(groups):
        for batch in table.to_batches():
            builder.second_pass(batch)


def column_names(
    path: str,
    *,
    fmt: str | None = None,
    encoding: str = "utf-8",
    limits: ReadLimits = DEFAULT_LIMITS,
) -> list[str]:
    """The header of a CSV, gzip CSV or Parquet file, without reading its rows."""
    fmt = fmt or sniff_format(path)
    if fmt == "parquet":
        return list(_open_parquet(path).schema_arrow.names)
    return list(inspect_csv(path, fmt == "csv.gz", encoding, None, limits=limits).names)


def check_columns(
    path: str,
    columns: Sequence[str],
    *,
    fmt: str | None = None,
    encoding: str = "utf-8",
    limits: ReadLimits = DEFAULT_LIMITS,
) -> None:
    """Raise the DataError :func:`read_columns` would for a name that is not a column of
    the file, without reading any row."""
    _check_columns(column_names(path, fmt=fmt, encoding=encoding, limits=limits), columns, "column")


def _parquet_checked(path: str, wanted: list[str], limits: ReadLimits) -> pq.ParquetFile:
    """The Parquet file, once ``wanted`` are plain columns of it within ``limits``."""
    source = _open_parquet(path)
    _check_columns(source.schema_arrow.names, wanted, "column")
    _flat_schema(pa.schema([source.schema_arrow.field(n) for n in wanted]))
    _check_parquet_size(source.metadata, limits, wanted)
    return source


#: Rows per batch when numeric Parquet columns are read straight into their arrays.
READ_BATCH_ROWS = 65_536


def _batches(source: pq.ParquetFile, columns: list[str]) -> Iterator[pa.RecordBatch]:
    """The columns' batches, one row group at a time and on this thread: pyarrow's reader
    over the whole file runs ahead of a slower consumer and holds the row groups it read
    (1 GB more at 100M rows, and slower)."""
    for index in range(source.metadata.num_row_groups):
        yield from source.iter_batches(
            batch_size=READ_BATCH_ROWS, row_groups=[index], columns=columns, use_threads=False
        )


def _int_range(source: pq.ParquetFile, name: str) -> tuple[int, int] | None:
    """The least and greatest value of an integer column: from the footer's statistics when
    every row group has them, else from one pass over the column; None when all missing."""
    meta = source.metadata
    lows, highs = [], []
    for index in range(meta.num_row_groups):
        group = meta.row_group(index)
        chunk = next(
            group.column(i)
            for i in range(group.num_columns)
            if group.column(i).path_in_schema == name
        )
        stats = chunk.statistics
        if stats is None or not stats.has_min_max:
            break
        lows.append(stats.min)
        highs.append(stats.max)
    else:
        return (min(lows), max(highs)) if lows else None
    lows, highs = [], []
    for batch in _batches(source, [name]):
        found = pc.min_max(batch.column(0))
        if found["min"].is_valid:
            lows.append(found["min"].as_py())
            highs.append(found["max"].as_py())
    return (min(lows), max(highs)) if lows else None


def _narrowest(source: pq.ParquetFile, name: str, dtype: np.dtype) -> np.dtype:
    """The smallest integer type of the same signedness that holds the column's values."""
    found = _int_range(source, name)
    if found is None:
        return dtype
    kinds = (np.int8, np.int16, np.int32) if dtype.kind == "i" else (np.uint8, np.uint16, np.uint32)
    for small in kinds:
        info = np.iinfo(small)
        if info.min <= found[0] and found[1] <= info.max:
            return np.dtype(small)
    return dtype


def _parquet_numbers(
    path: str, wanted: list[str], limits: ReadLimits, compact: bool
) -> dict[str, np.ndarray] | None:
    """Numeric Parquet columns read batch by batch into arrays of their final size, so the
    peak holds the arrays and one batch rather than a second whole copy in Arrow. With
    ``compact`` integer columns come in the smallest type holding their values. None for
    what the general reader must convert (another type; a missing integer or boolean,
    which come out as NaN or None)."""
    source = _parquet_checked(path, wanted, limits)
    rows = source.metadata.num_rows
    types = {n: source.schema_arrow.field(n).type for n in wanted}
    numeric = (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean)
    if rows == 0 or not all(any(is_(t) for is_ in numeric) for t in types.values()):
        return None
    dtypes = {n: np.dtype(t.to_pandas_dtype()) for n, t in types.items()}
    if compact:
        for n, t in types.items():
            if pa.types.is_integer(t):
                dtypes[n] = _narrowest(source, n, dtypes[n])
    out = {n: np.empty(rows, dtypes[n]) for n in wanted}
    start = 0
    for batch in _batches(source, wanted):
        stop = start + batch.num_rows
        for n in wanted:
            column = batch.column(n)
            if column.null_count and not pa.types.is_floating(column.type):
                return None
            out[n][start:stop] = column.to_numpy(zero_copy_only=False)
        start = stop
    return out if start == rows else None


def _read_table(
    path: str,
    columns: Sequence[str],
    fmt: str | None,
    encoding: str,
    delimiter: str | None,
    limits: ReadLimits,
    dictionary: bool = False,
) -> pa.Table:
    fmt = fmt or sniff_format(path)
    wanted = list(dict.fromkeys(columns))
    if fmt == "parquet":
        source = _parquet_checked(path, wanted, limits)
        if dictionary:
            # Text columns come out dictionary-encoded, never as one string per row.
            types = {n: source.schema_arrow.field(n).type for n in wanted}
            text = [
                n for n, t in types.items() if pa.types.is_string(t) or pa.types.is_large_string(t)
            ]
            source = pq.ParquetFile(path, read_dictionary=text)
        table = source.read(columns=wanted)
        if table.num_rows == 0:
            raise DataError("The file has no data rows.")
        return pa.table([_plain(col) for col in table.columns], names=table.column_names)
    layout = inspect_csv(path, fmt == "csv.gz", encoding, delimiter, limits=limits)
    _check_columns(layout.names, wanted, "column")
    return _read_csv_columns(path, layout, wanted, limits)


def read_columns(
    path: str,
    columns: Sequence[str],
    *,
    fmt: str | None = None,
    encoding: str = "utf-8",
    delimiter: str | None = None,
    limits: ReadLimits = DEFAULT_LIMITS,
    compact: bool = False,
) -> dict[str, np.ndarray]:
    """The named columns of a CSV, gzip CSV or Parquet file as numpy arrays.

    Missing values come out as NaN in numeric columns and None in the others. A file over
    ``limits`` raises :class:`LimitExceeded` before it is read whole. With ``compact``
    integer columns of a Parquet file come in the smallest integer type of their
    signedness that holds their values (labels 0/1 as int8), the same numbers in less
    memory.
    """
    fmt = fmt or sniff_format(path)
    if fmt == "parquet":
        wanted = list(dict.fromkeys(columns))
        numbers = _parquet_numbers(path, wanted, limits, compact)
        if numbers is not None:
            return numbers
    table = _read_table(path, columns, fmt, encoding, delimiter, limits)
    pending = {name: table[name] for name in dict.fromkeys(columns)}
    del table
    # Column by column, each Arrow column freed once converted: the peak holds one copy.
    out = {name: pending.pop(name).to_numpy() for name in list(pending)}
    pa.default_memory_pool().release_unused()
    return out


#: Past this many distinct values a grouping column is read whole, not batch by batch
#: (it is an identifier more likely than a group).
BATCH_GROUPS_LIMIT = 65_536


def _dictionary(column: pa.Array) -> pa.DictionaryArray:
    if pa.types.is_floating(column.type):
        # NaN is a missing value here, as in read_columns, not a category of its own.
        column = pc.if_else(pc.is_nan(column), None, column)
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    return column


def _parquet_groups(
    path: str, wanted: list[str], limits: ReadLimits
) -> dict[str, pandas.Categorical] | None:
    """:func:`read_groups` of a Parquet file batch by batch: each batch's dictionary joins
    the categories seen so far and its rows become codes in an array of the final length,
    so the peak holds the codes and one batch instead of every row's dictionary index.
    None past :data:`BATCH_GROUPS_LIMIT` categories, for the whole-column read."""
    import pandas  # as pyarrow's own conversions do: only once groups are read

    source = _parquet_checked(path, wanted, limits)
    rows = source.metadata.num_rows
    if rows == 0:
        return None
    types = {n: source.schema_arrow.field(n).type for n in wanted}
    text = [n for n, t in types.items() if pa.types.is_string(t) or pa.types.is_large_string(t)]
    source = pq.ParquetFile(path, read_dictionary=text)
    codes = {n: np.empty(rows, np.int8) for n in wanted}
    known: dict[str, pa.Array | None] = dict.fromkeys(wanted)
    start = 0
    for batch in _batches(source, wanted):
        stop = start + batch.num_rows
        for n in wanted:
            column = _dictionary(_plain(batch.column(n)))
            seen = known[n] if known[n] is not None else column.dictionary.slice(0, 0)
            where = pc.index_in(column.dictionary, value_set=seen)
            if where.null_count:
                seen = pa.concat_arrays([seen, column.dictionary.filter(pc.is_null(where))])
                if len(seen) > BATCH_GROUPS_LIMIT:
                    return None
                where = pc.index_in(column.dictionary, value_set=seen)
            known[n] = seen
            if len(seen) > np.iinfo(codes[n].dtype).max:
                codes[n] = codes[n].astype(np.int16 if len(seen) <= 2**15 - 1 else np.int32)
            # Position -1 of the lookup is -1: a missing value's index, filled with -1.
            lookup = np.append(where.to_numpy(zero_copy_only=False), -1)
            indices = pc.fill_null(column.indices, -1).to_numpy(zero_copy_only=False)
            codes[n][start:stop] = lookup[indices]
        start = stop
    if start != rows:
        return None
    out = {}
    for n in wanted:
        # Python values, as iterating the categories gives them to sorted().
        categories = pandas.Index(known[n].to_pandas()).tolist()
        order = sorted(range(len(categories)), key=categories.__getitem__)
        rank = np.empty(len(order) + 1, dtype=codes[n].dtype)
        rank[order] = np.arange(len(order))
        rank[-1] = -1
        # From the sorted values, as reorder_categories(sorted(...)) builds its categories.
        dtype = pandas.CategoricalDtype([categories[i] for i in order])
        out[n] = pandas.Categorical.from_codes(rank[codes.pop(n)], dtype=dtype)
    pa.default_memory_pool().release_unused()
    return out


def read_groups(
    path: str,
    columns: Sequence[str],
    *,
    fmt: str | None = None,
    encoding: str = "utf-8",
    delimiter: str | None = None,
    limits: ReadLimits = DEFAULT_LIMITS,
) -> dict[str, pandas.Categorical]:
    """The named columns as categoricals (categories sorted, missing values as NaN).

    For grouping columns: a small integer code per row instead of one Python string per
    row, which for text columns of millions of rows saves most of the time and memory.
    """
    fmt = fmt or sniff_format(path)
    if fmt == "parquet":
        groups = _parquet_groups(path, list(dict.fromkeys(columns)), limits)
        if groups is not None:
            return groups
    table = _read_table(path, columns, fmt, encoding, delimiter, limits, dictionary=True)
    pending = {name: table[name] for name in dict.fromkeys(columns)}
    del table
    out = {}
    for name in list(pending):
        column = pending.pop(name)  # its text buffers go once it is encoded
        if pa.types.is_floating(column.type):
            # NaN is a missing value here, as in read_columns, not a category of its own.
            column = pc.if_else(pc.is_nan(column), None, column)
        if not pa.types.is_dictionary(column.type):
            column = pc.dictionary_encode(column)
        values = column.to_pandas().array
        out[name] = values.reorder_categories(sorted(values.categories))
    pa.default_memory_pool().release_unused()
    return out


def _read_csv_columns(
    path: str, layout: CsvLayout, wanted: list[str], limits: ReadLimits
) -> pa.Table:
    scan = CsvScan(path, layout, ProfileOptions.batch_bytes, include=wanted, limits=limits)
    while True:
        try:
            tables = [table for table, _ in scan.tables()]
        except Widened:
            continue
        if not tables or sum(t.num_rows for t in tables) == 0:
            raise DataError("The file has a header but no data rows.")
        return pa.concat_tables(tables)


def read_frame(parquet_path: str, columns: Sequence[str] | None = None) -> pandas.DataFrame:
    """The converted Parquet file (or some of its columns) as a pandas DataFrame."""
    source = _open_parquet(parquet_path)
    if columns is not None:
        _check_columns(source.schema_arrow.names, list(columns), "column")
    return source.read(columns=None if columns is None else list(columns)).to_pandas()


def read_rows(
    parquet_path: str, positions: np.ndarray, columns: Sequence[str] | None = None
) -> pandas.DataFrame:
    """Only the rows at ``positions`` (sorted) of the converted Parquet file, read batch by
    batch, so memory holds the chosen rows and one batch rather than the whole file."""
    source = _open_parquet(parquet_path)
    names = source.schema_arrow.names if columns is None else list(columns)
    _check_columns(source.schema_arrow.names, names, "column")
    pieces, start = [], 0
    for batch in source.iter_batches(batch_size=65_536, columns=names):
        end = start + batch.num_rows
        low, high = np.searchsorted(positions, [start, end])
        if high > low:
            pieces.append(batch.take(pa.array(positions[low:high] - start)))
        start = end
    schema = (
        source.schema_arrow
        if columns is None
        else pa.schema([source.schema_arrow.field(name) for name in names])
    )
    return pa.Table.from_batches(pieces, schema=schema).to_pandas()
