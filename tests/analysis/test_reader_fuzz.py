"""Hostile files through the reader: whatever the bytes, it gives a profile or a
DataError a person can read, and leaves no partial Parquet file. Never another
exception (which the worker would report as an internal error)."""

from __future__ import annotations

import gzip
import io
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projects.analysis.csvscan import DataError, ReadLimits
from projects.analysis.profile import ProfileOptions
from projects.analysis.tabular import ingest

LIMITS = ReadLimits(max_expanded_bytes=256 << 10, max_rows=5_000, max_line_bytes=4 << 10)
OPTIONS = dict(batch_bytes=1 << 10, limits=LIMITS)
FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Pieces a CSV reader trips on: quotes, separators, line breaks of every kind, a BOM,
# NUL, invalid UTF-8, long runs.
PIECES = st.sampled_from(
    [
        b",",
        b";",
        b"\t",
        b"|",
        b'"',
        b'""',
        b"\n",
        b"\r\n",
        b"\r",
        b"\xef\xbb\xbf",
        b"\xff\xfe",
        b"\x00",
        b"\xc3\x28",
        b"\xed\xa0\x80",
        b"a",
        b"1",
        b"-1.5e308",
        b"nan",
        b"x" * 5000,
    ]
)
CSVISH = st.lists(st.one_of(PIECES, st.binary(max_size=40)), max_size=80).map(b"".join)


def _read(content: bytes, fmt: str, **options) -> None:
    with tempfile.TemporaryDirectory() as folder:
        source, out = Path(folder, f"in.{fmt}"), Path(folder, "out.parquet")
        source.write_bytes(content)
        try:
            profile = ingest(
                str(source), str(out), fmt=fmt, options=ProfileOptions(**OPTIONS, **options)
            )
        except DataError as exc:
            assert str(exc).strip(), "a refusal must say why"
            assert not out.exists(), "a refused file leaves no Parquet behind"
            return
        assert out.exists()
        assert pq.read_metadata(out).num_rows == profile.rows


@FUZZ
@given(body=st.binary(max_size=2000))
def test_random_bytes_as_csv_are_read_or_refused(body):
    _read(body, "csv")


@FUZZ
@given(header=CSVISH, body=CSVISH)
def test_csv_shaped_noise_is_read_or_refused(header, body):
    _read(header + b"\n" + body, "csv")


@FUZZ
@given(body=CSVISH, encoding=st.sampled_from(["utf-8", "latin-1", "utf-16"]))
def test_noise_in_a_declared_encoding_is_read_or_refused(body, encoding):
    _read(b"a,b\n" + body, "csv", encoding=encoding)


@FUZZ
@given(body=CSVISH, cut=st.integers(min_value=0, max_value=200))
def test_gzip_whole_or_truncated_is_read_or_refused(body, cut):
    packed = gzip.compress(b"a,b\n" + body)
    _read(packed[: len(packed) - cut] if cut else packed, "csv.gz")


@FUZZ
@given(body=st.binary(max_size=3000), keep=st.integers(min_value=0, max_value=4000))
def test_random_or_truncated_parquet_is_read_or_refused(body, keep):
    table = pa.table({"a": list(range(50)), "b": [str(i) for i in range(50)]})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    real = sink.getvalue()
    _read(real[:keep] if keep < len(real) else body, "parquet")
