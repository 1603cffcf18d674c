"""CSV reading in newline-aligned chunks with fixed column types and line-numbered errors.

:func:`inspect_csv` reads the head of a file to find its delimiter and header;
:class:`CsvScan` then yields one arrow table per chunk of about ``chunk_bytes``. The design
is explained in :mod:`projects.analysis.tabular`. No Django import here.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

HEAD_BYTES = 1 << 20
SAMPLE_RECORDS = 200
DELIMITERS = (",", ";", "\t", "|")
_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_CONVERSION = re.compile(
    r"In CSV column #(\d+): (?:Row #(\d+): )?CSV conversion error to [^:]+: invalid value '(.*)'$",
    re.S,
)
_RAGGED = re.compile(r"Expected (\d+) columns, got (\d+)")


class DataError(Exception):
    """Bad input a person can fix; ``str(exc)`` is a complete sentence to show them."""


class Widened(Exception):
    """A column's type was widened; the scan must start again from the top."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class CsvLayout:
    names: tuple[str, ...]
    delimiter: str
    encoding: str  # a Python codec name; "utf-8" bytes go to the parser untouched
    compressed: bool
    header_bytes: int  # where the data starts, in the UTF-8 form of the file
    header_lines: int
    newline: bytes
    quoted_newlines: bool  # some quoted value spans lines: chunks must respect quotes


class _Source:
    """The file's bytes as UTF-8, read in pieces, with the compressed position for progress."""

    def __init__(self, path: str, compressed: bool, encoding: str) -> None:
        self.raw = pa.OSFile(path, "rb")
        self.size = max(1, self.raw.size())
        self.stream = pa.CompressedInputStream(self.raw, "gzip") if compressed else self.raw
        self.encoding = encoding
        self.decoder = None if encoding == "utf-8" else codecs.getincrementaldecoder(encoding)()
        self.lines = 1  # line number of the next byte handed out

    def read(self, size: int) -> bytes:
        try:
            data = self.stream.read(size)
        except OSError as exc:
            raise DataError("The gzip file is damaged or cut short.") from exc
        if self.decoder is None:
            return data
        try:
            text = self.decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            line = self.lines + data[: max(0, exc.start)].count(b"\n")
            raise DataError(
                f"The file is not valid {self.encoding} text (first bad byte on line {line}). "
                "Check the encoding you gave."
            ) from exc
        self.lines += data.count(b"\n")
        return text.encode("utf-8")

    @property
    def fraction(self) -> float:
        return min(1.0, self.raw.tell() / self.size)

    def close(self) -> None:
        self.stream.close()
        self.raw.close()


def _codec(encoding: str) -> str:
    try:
        name = codecs.lookup(encoding).name
    except LookupError as exc:
        raise DataError(f"'{encoding}' is not a text encoding this reader knows.") from exc
    return "utf-8" if name == "utf-8" else name


def check_utf8(data: bytes, first_line: int) -> None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = first_line + data[: exc.start].count(b"\n")
        raise DataError(
            f"The file is not UTF-8 (first bad byte on line {line}). "
            "Save it as UTF-8 or give its encoding."
        ) from exc


def _records(text: str, delimiter: str) -> list[list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    out: list[list[str]] = []
    try:
        for record in reader:
            if record:
                out.append(record)
            if len(out) >= SAMPLE_RECORDS:
                break
    except csv.Error:
        pass  # a malformed sample line: judge by the lines before it
    return out


def _detect_delimiter(text: str) -> str:
    widths = {d: [len(r) for r in _records(text, d)] for d in DELIMITERS}
    fits = [d for d, w in widths.items() if w and w[0] > 1 and len(set(w)) == 1]
    if len(fits) == 1:
        return fits[0]
    if len(fits) > 1:
        named = " and ".join(_NAMES[d] for d in fits)
        raise DataError(
            f"Cannot tell the delimiter: {named} each split every line evenly. "
            "Give the delimiter explicitly."
        )
    # No delimiter splits every line evenly: take the one that splits the header most and
    # let the read report the first uneven line by number.
    best = max(DELIMITERS, key=lambda d: (widths[d][0] if widths[d] else 0, d == ","))
    return best if widths[best] and widths[best][0] > 1 else ","


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def inspect_csv(
    path: str, compressed: bool, encoding: str = "utf-8", delimiter: str | None = None
) -> CsvLayout:
    """Find the delimiter and header of a CSV file, checking both, from its first MiB."""
    codec = _codec(encoding)
    source = _Source(path, compressed, codec)
    try:
        head = source.read(HEAD_BYTES)
        complete = len(head) < HEAD_BYTES
        while not complete and b"\n" not in head and b"\r" not in head and len(head) < 64 << 20:
            more = source.read(HEAD_BYTES)
            head, complete = head + more, not more
    finally:
        source.close()
    if not complete:  # keep whole lines only
        cut = max(head.rfind(b"\n"), head.rfind(b"\r"))
        head = head[: cut + 1] if cut >= 0 else head
    if codec == "utf-8":
        check_utf8(head, 1)
    text = head.decode("utf-8")
    if not text.lstrip("\ufeff").strip():
        raise DataError("The file is empty.")
    if delimiter is None:
        delimiter = _detect_delimiter(text.lstrip("\ufeff"))
    elif len(delimiter) != 1:
        raise DataError(f"The delimiter must be one character, not {delimiter!r}.")

    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = []
    while header == []:
        header = next(reader, None)
    if not header:
        raise DataError("The file is empty.")
    header_lines = reader.line_num
    lines = io.StringIO(text, newline="").readlines()
    header_bytes = len("".join(lines[:header_lines]).encode("utf-8"))
    names = [name.lstrip("\ufeff") if i == 0 else name for i, name in enumerate(header)]
    if all(_is_number(name) for name in names):
        raise DataError(
            "The first line looks like data, not a header: every value in it is a number. "
            "Add a first line that names the columns."
        )
    check_names(names)
    quoted_newlines = any("\n" in v or "\r" in v for r in _records(text, delimiter) for v in r)
    return CsvLayout(
        names=tuple(names),
        delimiter=delimiter,
        encoding=codec,
        compressed=compressed,
        header_bytes=header_bytes,
        header_lines=header_lines,
        newline=b"\n" if "\n" in text else b"\r" if "\r" in text else b"\n",
        quoted_newlines=quoted_newlines,
    )


def check_names(names: Sequence[str]) -> None:
    """Every column needs a name of its own."""
    seen: dict[str, int] = {}
    for position, name in enumerate(names, 1):
        if not name.strip():
            raise DataError(f"Column {position} has no name in the header.")
        if name in seen:
            raise DataError(
                f"The header names column '{name}' twice (columns {seen[name]} and {position})."
            )
        seen[name] = position


def _widen(current: pa.DataType, value: str) -> pa.DataType:
    if pa.types.is_null(current):
        for kind, test in ((pa.int64(), int), (pa.float64(), float)):
            try:
                test(value)
            except ValueError:
                continue
            return kind
        return pa.string()
    if pa.types.is_integer(current) and _is_number(value):
        return pa.float64()
    return pa.string()


class CsvScan:
    """Arrow tables from a CSV file, one per chunk, all with one schema.

    ``tables()`` raises :class:`Widened` after widening a column; calling it again starts
    over with the widened types.
    """

    def __init__(
        self,
        path: str,
        layout: CsvLayout,
        chunk_bytes: int,
        include: Sequence[str] | None = None,
    ) -> None:
        self.path = path
        self.layout = layout
        self.chunk_bytes = max(1024, chunk_bytes)
        self.include = list(include) if include is not None else None
        self.types: dict[str, pa.DataType] | None = None
        self.quoted = layout.quoted_newlines

    def tables(self) -> Iterator[tuple[pa.Table, float]]:
        source = _Source(self.path, self.layout.compressed, self.layout.encoding)
        try:
            for data, offset, fraction in self._chunks(source):
                table = self._parse(data, offset)
                if self.types is None:
                    self.types = {f.name: f.type for f in table.schema}
                if table.num_rows:
                    yield table, fraction
        finally:
            source.close()

    def _chunks(self, source: _Source) -> Iterator[tuple[memoryview, int, float]]:
        """Pieces of the data after the header, each ending on a record boundary, with the
        offset of their first byte (line numbers are counted only when an error needs one).
        """
        newline = self.layout.newline
        rest = b""
        offset = 0
        skip = self.layout.header_bytes
        while True:
            piece = source.read(self.chunk_bytes)
            buffer = rest + piece if rest else piece
            if skip:
                if len(buffer) < skip and piece:
                    rest = buffer
                    continue
                buffer, offset, skip = buffer[skip:], skip, 0
            if not piece:
                if buffer:
                    yield memoryview(buffer), offset, 1.0
                return
            cut = self._boundary(buffer, newline)
            if cut <= 0:  # no record ends in this piece yet: read on
                rest = buffer
                continue
            # A view, not a copy: the parser reads the bytes where they are.
            yield memoryview(buffer)[:cut], offset, source.fraction
            rest = buffer[cut:]
            offset += cut

    def _line_at(self, offset: int) -> int:
        """The line number of the byte at ``offset``, counted by reading up to it."""
        source = _Source(self.path, self.layout.compressed, self.layout.encoding)
        line, seen = 1, 0
        try:
            while seen < offset:
                piece = source.read(min(self.chunk_bytes, offset - seen))
                if not piece:
                    break
                line += piece.count(self.layout.newline)
                seen += len(piece)
        finally:
            source.close()
        return line

    def _boundary(self, buffer: bytes, newline: bytes) -> int:
        if not self.quoted:
            return buffer.rfind(newline) + 1
        # Inside quotes a newline is part of a value: cut after the last newline preceded by
        # an even number of quote characters (a doubled quote "" counts twice, so it is fine).
        raw = np.frombuffer(buffer, dtype=np.uint8)
        ends = np.flatnonzero(raw == newline[0])
        if ends.size == 0:
            return 0
        parity = np.cumsum(raw == ord('"'), dtype=np.uint8)[ends] & 1
        even = ends[parity == 0]
        return int(even[-1]) + 1 if even.size else 0

    def _options(self, threads: bool, handler=None, block: int | None = None):
        layout = self.layout
        return dict(
            read_options=pcsv.ReadOptions(
                column_names=list(layout.names),
                use_threads=threads,
                block_size=block or max(1 << 20, self.chunk_bytes // 2),
            ),
            parse_options=pcsv.ParseOptions(
                delimiter=layout.delimiter,
                newlines_in_values=self.quoted,
                invalid_row_handler=handler,
            ),
            convert_options=pcsv.ConvertOptions(
                column_types=self.types,
                strings_can_be_null=True,
                include_columns=self.include,
            ),
        )

    def _parse(self, data: memoryview, offset: int) -> pa.Table:
        try:
            # One parser block per chunk: one record batch, and no record can straddle blocks.
            return pcsv.read_csv(pa.py_buffer(data), **self._options(False, block=len(data) + 1))
        except pa.ArrowInvalid as exc:
            message = str(exc)
        line = self._line_at(offset)
        if self.layout.encoding == "utf-8":
            check_utf8(bytes(data), line)
        conversion = _CONVERSION.search(message)
        if conversion:
            row = int(conversion.group(2) or 1)
            self._widen_column(int(conversion.group(1)), conversion.group(3), line + row - 1)
        ragged = _RAGGED.search(message)
        if ragged:
            if not self.quoted and bytes(data).find(b'"') >= 0:
                # Perhaps a quoted value spans lines: read again, cutting chunks with care.
                self.quoted = True
                raise Widened("Some values span several lines; reading the file again.")
            self._raise_ragged(data, line, int(ragged.group(1)), int(ragged.group(2)))
        raise DataError(f"The file could not be read near line {line}: {message}")

    def _widen_column(self, index: int, value: str, line: int) -> None:
        assert self.types is not None
        name = self.layout.names[index]
        old = self.types[name]
        new = _widen(old, value)
        if new == old:  # nothing wider to try: do not read the file again for nothing
            # The value itself stays out of the message: it may be personal data.
            raise DataError(f"Line {line}: a value in column '{name}' cannot be read.")
        self.types = {**self.types, name: new}
        raise Widened(
            f"Column '{name}' has a value on line {line} that does not fit {old}; "
            f"reading the file again with it as {new}."
        )

    def _raise_ragged(self, data: memoryview, line: int, expected: int, actual: int) -> None:
        found: list[tuple[int | None, int]] = []

        def record(row) -> str:
            found.append((row.number, row.actual_columns))
            return "error"

        with contextlib.suppress(pa.ArrowInvalid):
            options = self._options(False, record, block=len(data) + 1)
            pcsv.read_csv(pa.py_buffer(data), **options)
        if found and found[0][0] is not None:
            number, actual = found[0]
            where = line + number - 1
            raise DataError(f"Line {where} has {actual} fields; the header has {expected}.")
        raise DataError(
            f"A line at or after line {line} has {actual} fields; the header has {expected}."
        )
