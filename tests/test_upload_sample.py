"""A data file streamed to the bucket is checked from the bytes kept on the way (its head
and tail, :class:`portal.uploads.Sample`): every check must answer exactly as it does on
the whole file on disk, for files much larger than what is kept."""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from portal.exceptions import ApplicationError
from portal.uploads import TAIL_BYTES, Sample, head_bytes
from projects.services.uploads import content_check

LINE_LIMIT = 4096  # small, so files a few hundred KiB long already have a middle unkept


def _digits(rows: int, seed: int = 0) -> bytes:
    """CSV rows of random digits: they compress only about twofold."""
    values = np.random.default_rng(seed).integers(0, 10**9, size=(rows, 3))
    return "".join(f"{a},{b},{c % 2}\n" for a, b, c in values).encode()


def _random_text(size: int, seed: int = 1) -> bytes:
    """Letters with no line break: nearly incompressible once base64-like."""
    alphabet = np.frombuffer(
        b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", "u1"
    )
    return alphabet[np.random.default_rng(seed).integers(0, len(alphabet), size)].tobytes()


def _parquet(rows: int) -> bytes:
    sink = io.BytesIO()
    rng = np.random.default_rng(2)
    pq.write_table(pa.table({"x": rng.random(rows), "label": rng.integers(0, 2, rows)}), sink)
    return sink.getvalue()


def _zip(content: bytes) -> bytes:
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w") as archive:
        archive.writestr("inner.csv", content)
    return sink.getvalue()


BIG_CSV = b"a,b,label\n" + _digits(40_000)
CASES = {
    "csv": ("data.csv", BIG_CSV),
    "csv.gz": ("data.csv.gz", gzip.compress(b"a,b,label\n" + _digits(80_000, seed=3))),
    "parquet": ("data.parquet", _parquet(200_000)),
    "parquet named csv": ("data.csv", _parquet(200_000)),
    "csv named parquet": ("data.parquet", BIG_CSV),
    "csv then a zip": ("data.csv", BIG_CSV + _zip(b"a,b\n1,2\n" * 100)),
    "csv then binary": ("data.csv", BIG_CSV + b"\x00\x01\x02" * 100),
    "parquet cut short": ("data.parquet", _parquet(200_000)[:-500]),
    "utf-16 csv": ("data.csv", ("a,b,label\n" + BIG_CSV.decode()).encode("utf-16")),
    "long header": ("data.csv", _random_text(LINE_LIMIT + 10) + b"\n" + BIG_CSV),
    "gz long incompressible header": (
        "data.csv.gz",
        gzip.compress(_random_text(3 * LINE_LIMIT) + b"\n" + BIG_CSV),
    ),
    "gz header just within": (
        "data.csv.gz",
        gzip.compress(_random_text(LINE_LIMIT - 1) + b"\n" + BIG_CSV, compresslevel=0),
    ),
    "gz without line breaks": ("data.csv.gz", gzip.compress(_random_text(400_000))),
    "gzip damaged": ("data.csv.gz", gzip.compress(BIG_CSV)[:5_000] + b"\xff" * 400_000),
}


def _answer(source, name: str) -> tuple[str, str] | None:
    fmt = {"csv": "csv", "gz": "csv.gz", "parquet": "parquet"}[name.rsplit(".", 1)[1]]
    try:
        content_check(source, name, fmt)
    except ApplicationError as error:
        return error.code, str(error)
    return None


@pytest.mark.parametrize("case", sorted(CASES))
def test_checks_from_the_kept_bytes_answer_as_from_the_whole_file(case, tmp_path: Path, settings):
    settings.UPLOAD_MAX_LINE_BYTES = LINE_LIMIT
    name, content = CASES[case]
    kept = head_bytes() + TAIL_BYTES
    assert len(content) > kept, "the file must have a middle the checks do not see"
    on_disk = tmp_path / name
    on_disk.write_bytes(content)
    sample = Sample(content[: head_bytes()], content[-TAIL_BYTES:], len(content))
    assert _answer(sample, name) == _answer(str(on_disk), name)


def test_the_cases_cover_each_answer(tmp_path: Path, settings):
    """The comparison above means something only if the answers differ between cases."""
    settings.UPLOAD_MAX_LINE_BYTES = LINE_LIMIT
    codes = set()
    for name, content in CASES.values():
        path = tmp_path / name
        path.write_bytes(content)
        answer = _answer(str(path), name)
        codes.add(answer[0] if answer else "accepted")
    assert codes == {"accepted", "content_mismatch", "unreadable_file", "line_too_long"}


def test_a_read_in_the_unkept_middle_fails_loudly():
    sample = Sample(b"head", b"tail", 100)
    assert sample.read(10) == b"head"
    sample.seek(96)
    assert sample.read() == b"tail"
    sample.seek(50)
    with pytest.raises(OSError, match="byte 50 of the upload is not kept"):
        sample.read(1)
