"""CSV reading in newline-aligned chunks with fixed column types and line-numbered errors.

:func:`inspect_csv` reads the head of a file to find its delimiter and header;
:class:`CsvScan` then yields one arrow table per chunk of about ``chunk_bytes``. The design
is explained in :mod:`projects.analysis.tabular`. No Django import here.

Uploaded files are hostile until read: :class:`ReadLimits` caps the bytes a file expands
to, its rows and the length of a line, each checked as the bytes stream past, so a gzip
bomb or a file without line breaks stops with a :class:`LimitExceeded` after reading no
more than the limit, and never sits in memory whole.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

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


class LimitExceeded(DataError):
    """The file is larger than :class:`ReadLimits` allow: expanded bytes, rows or a line."""


@dataclass(frozen=True)
class ReadLimits:
    """How much an uploaded file may hold; reading stops at the first excess.

    ``max_expanded_bytes`` counts the bytes a file decompresses to (a plain CSV: its size;
    Parquet: the uncompressed size its footer declares, then the decoded batches);
    ``max_line_bytes`` a line of text, the header included, as UTF-8 and without its line
    break; a record whose quoted values span lines is held to the same length.
    """

    max_expanded_bytes: int = 8 << 30
    max_rows: int = 50_000_000
    max_line_bytes: int = 1 << 20


DEFAULT_LIMITS = ReadLimits()


def size_text(count: int) -> str:
    """A byte count as a person reads it: ``8 GiB``, ``1.5 MiB``, ``512 bytes``."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count:,} bytes"


def too_many_rows(limit: int) -> LimitExceeded:
    return LimitExceeded(
        f"The file has more than {limit:,} rows; the limit is {limit:,}. "
        "Split it into smaller files or upload a sample."
    )


def too_large(limit: int, compressed: bool) -> LimitExceeded:
    size = size_text(limit)
    grows = "expands to more than {} when decompressed" if compressed else "holds more than {}"
    return LimitExceeded(
        f"The file {grows.format(size)}; the limit is {size}. Split it into smaller files."
    )


def line_too_long(line: int, limit: int) -> LimitExceeded:
    return LimitExceeded(
        f"Line {line} is longer than {size_text(limit)}, the longest line this portal reads. "
        "Check that the file is CSV text with a line break after each record."
    )


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


@contextlib.contextmanager
def opened(source: str | BinaryIO) -> Iterator[BinaryIO]:
    """A path opened for reading, or a binary file object read from its start (the
    upload checks read a staged upload's kept bytes this way); only a path is closed."""
    if isinstance(source, str):
        with open(source, "rb") as handle:
            yield handle
        return
    source.seek(0)
    yield source


class _Source:
    """The file's bytes as UTF-8, read in pieces, with the compressed position for progress.

    Reading past ``max_bytes`` of decompressed data raises :class:`LimitExceeded`.
    """

    def __init__(
        self,
        path: str | BinaryIO,
        compressed: bool,
        encoding: str,
        max_bytes: int | None = None,
    ) -> None:
        if isinstance(path, str):
            self.raw = pa.OSFile(path, "rb")
        else:
            path.seek(0)  # read from the start, like a path opened afresh
            self.raw = pa.PythonFile(path, "r")
        self.size = max(1, self.raw.size())
        self.compressed = compressed
        self.stream = pa.CompressedInputStream(self.raw, "gzip") if compressed else self.raw
        self.encoding = encoding
        self.decoder = None if encoding == "utf-8" else codecs.getincrementaldecoder(encoding)()
        self.lines = 1  # line number of the next byte handed out
        self.max_bytes = max_bytes
        self.expanded = 0

    def read(self, size: int) -> bytes:
        try:
            data = self.stream.read(size)
        except OSError as exc:
            raise DataError("The gzip file is damaged or cut short.") from exc
        self.expanded += len(data)
        if self.max_bytes is not None and self.expanded > self.max_bytes:
            raise too_large(self.max_bytes, self.compressed)
        if self.decoder is None:
            return data
        try:
            text = self.decoder.decode(data, final=not data)
        except UnicodeError as exc:
            # UTF-16 without a byte-order mark raises a bare UnicodeError, with no position.
            start = exc.start if isinstance(exc, UnicodeDecodeError) else 0
            line = self.lines + data[: max(0, start)].count(b"\n")
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


def _first_line_end(data: bytes) -> int:
    """Where the first line of ``data`` ends (its line break), or -1."""
    ends = [i for i in (data.find(b"\n"), data.find(b"\r")) if i >= 0]
    return min(ends) if ends else -1


def check_first_line(path: str | BinaryIO, compressed: bool, max_line_bytes: int) -> None:
    """Refuse a file whose first line is longer than ``max_line_bytes``, reading (and for
    gzip, decompressing) no more than that: cheap enough to run while the upload waits."""
    source = _Source(path, compressed, "utf-8")
    seen = 0
    try:
        while seen <= max_line_bytes:
            piece = source.read(min(HEAD_BYTES, max_line_bytes + 1 - seen))
            if not piece:
                return
            end = _first_line_end(piece)
            if end >= 0:
                if seen + end > max_line_bytes:
                    break
                return
            seen += len(piece)
    finally:
        source.close()
    raise line_too_long(1, max_line_bytes)


def inspect_csv(
    path: str,
    compressed: bool,
    encoding: str = "utf-8",
    delimiter: str | None = None,
    *,
    limits: ReadLimits = DEFAULT_LIMITS,
) -> CsvLayout:
    """Find the delimiter and header of a CSV file, checking both, from its first MiB."""
    codec = _codec(encoding)
    source = _Source(path, compressed, codec, limits.max_expanded_bytes)
    try:
        head = source.read(HEAD_BYTES)
        complete = len(head) < HEAD_BYTES
        # A header longer than the first piece: read on, but never past the longest line.
        while not complete and _first_line_end(head) < 0 and len(head) <= limits.max_line_bytes:
            more = source.read(HEAD_BYTES)
            head, complete = head + more, not more
    finally:
        source.close()
    end = _first_line_end(head)
    if (end if end >= 0 else len(head)) > limits.max_line_bytes:
        raise line_too_long(1, limits.max_line_bytes)
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
    try:
        while header == []:
            header = next(reader, None)
    except csv.Error as exc:  # a name over the csv module's field limit, a stray NUL, ...
        raise DataError(f"The header (line {reader.line_num}) cannot be read: {exc}.") from None
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
    over with the widened types. It raises :class:`LimitExceeded` as soon as the file passes
    one of ``limits``.
    """

    def __init__(
        self,
        path: str,
        layout: CsvLayout,
        chunk_bytes: int,
        include: Sequence[str] | None = None,
        limits: ReadLimits = DEFAULT_LIMITS,
    ) -> None:
        self.path = path
        self.layout = layout
        self.chunk_bytes = max(1024, chunk_bytes)
        self.include = list(include) if include is not None else None
        self.types: dict[str, pa.DataType] | None = None
        self.quoted = layout.quoted_newlines
        self.limits = limits

    def tables(self) -> Iterator[tuple[pa.Table, float]]:
        limits = self.limits
        source = _Source(
            self.path, self.layout.compressed, self.layout.encoding, limits.max_expanded_bytes
        )
        rows = 0
        try:
            for data, offset, fraction in self._chunks(source):
                table = self._parse(data, offset)
                if self.types is None:
                    self.types = {f.name: f.type for f in table.schema}
                rows += table.num_rows
                if rows > limits.max_rows:
                    raise too_many_rows(limits.max_rows)
                if table.num_rows:
                    yield table, fraction
        finally:
            source.close()

    def _chunks(self, source: _Source) -> Iterator[tuple[memoryview, int, float]]:
        """Pieces of the data after the header, each ending on a record boundary, with the
        offset of their first byte (line numbers are counted only when an error needs one).
        """
        newline = self.layout.newline
        longest = self.limits.max_line_bytes
        rest = b""
        offset = 0
        skip = self.layout.header_bytes
        read = line_start = 0  # bytes read so far; where the line being read began
        while True:
            piece = source.read(self.chunk_bytes)
            line_start = self._check_lines(piece, read, line_start)
            read += len(piece)
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
            else:
                # A view, not a copy: the parser reads the bytes where they are.
                yield memoryview(buffer)[:cut], offset, source.fraction
                rest = buffer[cut:]
                offset += cut
            if len(rest) > longest:
                # Every line is short, yet no record ends: a quoted value spans lines
                # without end (perhaps a quote left open). Do not gather the file.
                raise LimitExceeded(
                    f"The record that starts on line {self._line_at(offset)} is longer than "
                    f"{size_text(longest)}, the longest record this portal reads. "
                    "Is a quote left open?"
                )

    def _check_lines(self, piece: bytes, at: int, line_start: int) -> int:
        """Raise :class:`LimitExceeded` for a line longer than the limit that ``piece`` (read
        at offset ``at``) continues or holds; return where the last line in it begins.

        Only the line carried in, the one carried out and, when the piece is longer than the
        limit, the lines between need measuring, so this costs nearly nothing per piece.
        """
        longest = self.limits.max_line_bytes
        newline = self.layout.newline
        first = piece.find(newline)
        if first < 0:
            if at + len(piece) - line_start > longest:
                raise line_too_long(self._line_at(line_start), longest)
            return line_start
        if at + first - line_start > longest:
            raise line_too_long(self._line_at(line_start), longest)
        last = piece.rfind(newline)
        if last - first - 1 > longest:  # a line between the first and last break may be long
            raw = np.frombuffer(piece, dtype=np.uint8, count=last + 1)
            ends = np.flatnonzero(raw[first:] == newline[0]) + first
            over = np.flatnonzero(np.diff(ends) - 1 > longest)
            if over.size:
                raise line_too_long(self._line_at(at + int(ends[over[0]]) + 1), longest)
        if len(piece) - last - 1 > longest:
            raise line_too_long(self._line_at(at + last + 1), longest)
        return at + last + 1

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
