"""Reading, validating and converting uploaded tables. Pure tests: no database, no Django."""

from __future__ import annotations

import gzip
import io
import zipfile
import zlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from projects.analysis import tabular
from projects.analysis.csvscan import size_text
from projects.analysis.tabular import (
    DataError,
    LimitExceeded,
    ProfileOptions,
    ReadLimits,
    check_first_line,
    ingest,
    read_columns,
    read_frame,
    read_groups,
    sniff_format,
)

TINY = 4 * 1024


def _refused(tmp_path, source, fmt="csv", **options) -> str:
    """Ingest ``source``, expect a DataError, and check no Parquet output is left behind."""
    out = tmp_path / "out.parquet"
    out.write_bytes(b"")  # the caller may have created the target already
    options.setdefault("batch_bytes", TINY)
    with pytest.raises(DataError) as caught:
        ingest(str(source), str(out), fmt=fmt, options=ProfileOptions(**options))
    assert not out.exists()
    assert not list(tmp_path.glob("out.parquet*"))
    return str(caught.value)


def _ingest(tmp_path, source, fmt="csv", **options):
    out = tmp_path / "out.parquet"
    options.setdefault("batch_bytes", TINY)
    messages = []
    result = ingest(
        str(source),
        str(out),
        fmt=fmt,
        options=ProfileOptions(**options),
        progress=lambda fraction, message: messages.append(message),
    )
    return result, out, messages


def _rows(count: int, width: int = 4) -> str:
    return "".join(",".join(str(i * width + j) for j in range(width)) + "\n" for i in range(count))


def _columns(result):
    return {column.name: column for column in result.columns}


# --- format sniffing ---------------------------------------------------------------------


def test_it_sniffs_the_format_from_the_content_not_the_name(tmp_path):
    text = tmp_path / "really-text.parquet"
    text.write_text("a,b\n1,2\n")
    assert sniff_format(str(text)) == "csv"
    packed = tmp_path / "data.bin"
    packed.write_bytes(gzip.compress(b"a,b\n1,2\n"))
    assert sniff_format(str(packed)) == "csv.gz"
    parquet = tmp_path / "data.csv"
    pq.write_table(pa.table({"a": [1, 2]}), parquet)
    assert sniff_format(str(parquet)) == "parquet"
    latin = tmp_path / "latin.csv"
    latin.write_bytes("name\ncaf\xe9\n".encode("latin-1"))
    assert sniff_format(str(latin)) == "csv"


@pytest.mark.parametrize(
    "content",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10",
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
        b"\x00\x01\x02\x03" * 100,
    ],
    ids=["png", "pdf", "binary"],
)
def test_it_says_binary_content_is_neither_csv_nor_parquet(tmp_path, content):
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=r"^The file is neither CSV nor Parquet\.$"):
        sniff_format(str(path))


def test_it_says_a_zip_archive_is_neither_csv_nor_parquet(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("data.csv", "a,b\n1,2\n")
    path = tmp_path / "data.csv"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(DataError, match="neither CSV nor Parquet"):
        sniff_format(str(path))


def test_it_says_a_parquet_file_without_its_footer_is_cut_short(tmp_path):
    path = tmp_path / "data.parquet"
    pq.write_table(pa.table({"a": list(range(100))}), path)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(DataError, match="cut short"):
        sniff_format(str(path))


def test_it_says_an_empty_file_is_empty_when_sniffing(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(b"")
    with pytest.raises(DataError, match=r"^The file is empty\.$"):
        sniff_format(str(path))


# --- bad input ---------------------------------------------------------------------------


def test_it_refuses_an_empty_file(tmp_path):
    source = tmp_path / "data.csv"
    source.write_bytes(b"\n\n  \n")
    assert _refused(tmp_path, source) == "The file is empty."


def test_it_refuses_a_header_without_data_rows(tmp_path):
    source = tmp_path / "data.csv"
    source.write_text("a,b,c\n\n")
    assert _refused(tmp_path, source) == "The file has a header but no data rows."


def test_it_refuses_a_file_whose_first_line_is_data(tmp_path):
    source = tmp_path / "data.csv"
    source.write_text("1,2.5,3\n4,5,6\n")
    message = _refused(tmp_path, source)
    assert message.startswith("The first line looks like data, not a header")


def test_it_names_the_line_of_a_ragged_row_deep_in_the_file(tmp_path):
    lines = _rows(3000).splitlines(keepends=True)
    lines[2498] = "1,2,3,4,5\n"  # line 2500 of the file, after the header
    source = tmp_path / "data.csv"
    source.write_text("a,b,c,d\n" + "".join(lines))
    assert _refused(tmp_path, source) == "Line 2500 has 5 fields; the header has 4."


def test_it_names_the_line_of_a_short_row(tmp_path):
    source = tmp_path / "data.csv"
    source.write_text("a,b,c,d\n1,2,3,4\n5,6\n")
    assert _refused(tmp_path, source) == "Line 3 has 2 fields; the header has 4."


def test_it_names_the_line_of_a_non_utf8_byte_near_the_top(tmp_path):
    source = tmp_path / "data.csv"
    source.write_bytes(b"name,n\n" + b"ok,1\n" * 10 + b"caf\xe9,2\n")
    message = _refused(tmp_path, source)
    assert message == (
        "The file is not UTF-8 (first bad byte on line 12). Save it as UTF-8 or give its encoding."
    )


def test_it_names_the_line_of_a_non_utf8_byte_deep_in_the_file(tmp_path):
    body = b"".join(b"row%d,%d\n" % (i, i) for i in range(4000))
    source = tmp_path / "data.csv"
    source.write_bytes(b"name,n\n" + body + b"caf\xe9,1\n" + body)
    assert source.stat().st_size > 1 << 16
    message = _refused(tmp_path, source, batch_bytes=8 * 1024)
    assert "first bad byte on line 4002" in message


def test_it_names_the_line_of_a_non_utf8_byte_in_a_number_column(tmp_path):
    source = tmp_path / "data.csv"
    source.write_bytes(b"name,n\n" + b"x,1\n" * 3000 + b"y,4\xb0\n")
    message = _refused(tmp_path, source)
    assert "first bad byte on line 3002" in message


def test_it_reads_latin1_when_told_the_encoding(tmp_path):
    source = tmp_path / "data.csv"
    rows = "".join(f"caf\xe9 {i % 3},{i}\n" for i in range(2000))
    source.write_bytes(("na\xefve,n\n" + rows).encode("latin-1"))
    result, out, _ = _ingest(tmp_path, source, encoding="latin-1")
    assert result.rows == 2000
    assert [c.name for c in result.columns] == ["na\xefve", "n"]
    assert _columns(result)["na\xefve"].top[0] == ("caf\xe9 0", 667)
    assert pq.read_table(out).column(0)[1].as_py() == "caf\xe9 1"


def test_it_refuses_an_unknown_encoding(tmp_path):
    source = tmp_path / "data.csv"
    source.write_text("a,b\n1,2\n")
    assert "not a text encoding" in _refused(tmp_path, source, encoding="klingon-8")


def test_it_refuses_duplicate_column_names(tmp_path):
    source = tmp_path / "data.csv"
    source.write_text("a,b,a\n1,2,3\n")
    assert _refused(tmp_path, source) == "The header names column 'a' twice (columns 1 and 3)."


def test_it_refuses_blank_column_names(tmp_path):
    source = tmp_path / "data.csv"
    source.write_text("a, ,c\n1,2,3\n")
    assert _refused(tmp_path, source) == "Column 2 has no name in the header."


def test_it_names_a_missing_label_column_and_the_available_ones(tmp_path):
    source = tmp_path / "data.csv"
    source.write_text("age,income,label\n1,2,0\n")
    message = _refused(tmp_path, source, label_column="lable")
    assert message == (
        "The label column 'lable' is not a column of the file. Did you mean 'label'? "
        "It has 3 columns: 'age', 'income', 'label'."
    )


def test_it_names_a_missing_sensitive_column(tmp_path):
    source = tmp_path / "data.csv"
    source.write_text("age,income,label\n1,2,0\n")
    message = _refused(tmp_path, source, sensitive_columns=("gender",))
    assert message.startswith("The sensitive column 'gender' is not a column of the file.")
    assert "'age', 'income', 'label'" in message


def test_it_refuses_a_sensitive_column_with_too_many_values(tmp_path):
    source = tmp_path / "data.csv"
    source.write_text("id,x\n" + "".join(f"user{i},{i}\n" for i in range(1500)))
    message = _refused(tmp_path, source, sensitive_columns=("id",))
    assert message.startswith("The sensitive column 'id' has more than 1000 distinct values")


def test_it_refuses_a_text_label_with_too_many_values(tmp_path):
    source = tmp_path / "data.csv"
    source.write_text("id,x\n" + "".join(f"user{i},{i}\n" for i in range(1500)))
    assert "The label 'id' has more than 1000" in _refused(tmp_path, source, label_column="id")


def test_it_refuses_a_parquet_file_with_nested_columns(tmp_path):
    source = tmp_path / "data.parquet"
    pq.write_table(pa.table({"id": [1, 2], "tags": [["a"], ["b", "c"]]}), source)
    message = _refused(tmp_path, source, fmt="parquet")
    assert message.startswith("Column 'tags' holds nested values (list<")


def test_it_refuses_a_delimiter_it_cannot_tell(tmp_path):
    source = tmp_path / "data.csv"
    source.write_text("a,b;c\n1,2;3\n4,5;6\n")
    message = _refused(tmp_path, source)
    assert message.startswith("Cannot tell the delimiter: comma and semicolon")


# --- reading -----------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [";", "\t", "|"], ids=["semicolon", "tab", "pipe"])
def test_it_detects_the_delimiter(tmp_path, delimiter):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=1500), "n": rng.integers(0, 9, 1500), "t": "a,b"})
    source = tmp_path / "data.csv"
    frame.to_csv(source, sep=delimiter, index=False)
    result, _, _ = _ingest(tmp_path, source)
    columns = _columns(result)
    assert list(columns) == ["x", "n", "t"]
    assert columns["x"].mean == pytest.approx(frame["x"].mean(), rel=1e-9)
    assert columns["t"].top == (("a,b", 1500),)


def test_it_uses_a_delimiter_it_is_given(tmp_path):
    source = tmp_path / "data.csv"
    source.write_text("a;b,c\n1;2,3\n4;5,6\n")
    result, _, _ = _ingest(tmp_path, source, delimiter=";")
    assert [c.name for c in result.columns] == ["a", "b,c"]


def test_it_widens_columns_whose_type_changes_after_the_first_batch(tmp_path):
    rows = [f"{i},{i % 7},{'007' if i == 1 else i},\n" for i in range(3000)]
    rows[2500] = "2500,3.5,2500,\n"
    rows[2800] = "2800,4,A12,\n"
    rows[2900] = "2900,4,2900,12\n"
    source = tmp_path / "data.csv"
    source.write_text("id,score,zip,late\n" + "".join(rows))
    result, out, messages = _ingest(tmp_path, source)
    schema = pq.read_schema(out)
    assert schema.field("score").type == pa.float64()
    assert schema.field("zip").type == pa.string()
    assert schema.field("late").type == pa.int64()
    frame = pd.read_csv(source, dtype={"zip": str})
    table = pq.read_table(out)
    assert table.column("zip").to_pylist() == frame["zip"].tolist()  # '007' keeps its zeros
    columns = _columns(result)
    assert columns["score"].mean == pytest.approx(frame["score"].mean(), rel=1e-9)
    assert columns["zip"].kind == "categorical" and columns["zip"].distinct == 3000
    assert columns["late"].count == 1 and columns["late"].missing == 2999
    assert any("'score'" in m and "double" in m for m in messages)
    assert all(batch.schema == schema for batch in pq.ParquetFile(out).iter_batches())


def test_it_reads_values_that_span_lines_in_quotes(tmp_path):
    rows = "".join(f'{i},"line one\nline two {i}",{i * 2}\n' for i in range(2000))
    source = tmp_path / "data.csv"
    source.write_text("id,note,double\n" + rows)
    result, out, _ = _ingest(tmp_path, source)
    assert result.rows == 2000
    assert pq.read_table(out).column("note")[5].as_py() == "line one\nline two 5"


def test_it_notices_quoted_line_breaks_that_first_appear_late(tmp_path):
    plain = "".join(f"{i},note {i},{i * 2}\n" for i in range(60_000))  # past the sampled head
    quoted = "".join(f'{i},"two\nlines",{i * 2}\n' for i in range(60_000, 60_100))
    source = tmp_path / "data.csv"
    source.write_text("id,note,double\n" + plain + quoted)
    assert source.stat().st_size > 1 << 20
    result, out, _ = _ingest(tmp_path, source, batch_bytes=64 * 1024)
    assert result.rows == 60_100
    assert pq.read_table(out).column("note")[-1].as_py() == "two\nlines"


def test_it_handles_a_byte_order_mark_and_windows_line_ends(tmp_path):
    source = tmp_path / "data.csv"
    source.write_bytes(
        b"\xef\xbb\xbfa,b\r\n" + b"".join(b"%d,x%d\r\n" % (i, i) for i in range(900))
    )
    result, out, _ = _ingest(tmp_path, source)
    assert [c.name for c in result.columns] == ["a", "b"]
    assert pq.read_table(out).column("b")[899].as_py() == "x899"


def test_it_reports_progress_up_to_the_end(tmp_path):
    source = tmp_path / "data.csv"
    source.write_text("a,b,c,d\n" + _rows(3000))
    fractions = []
    ingest(
        str(source),
        str(tmp_path / "out.parquet"),
        fmt="csv",
        options=ProfileOptions(batch_bytes=TINY),
        progress=lambda fraction, message: fractions.append(fraction),
    )
    assert len(fractions) > 5
    assert fractions == sorted(fractions) and fractions[0] >= 0 and fractions[-1] == 1.0


# --- read_columns and read_frame ---------------------------------------------------------


@pytest.fixture
def frame():
    rng = np.random.default_rng(4)
    data = pd.DataFrame(
        {
            "y_true": rng.integers(0, 2, 2500),
            "y_score": rng.random(2500),
            "group": rng.choice(["a", "b"], 2500),
        }
    )
    data.loc[7, "y_score"] = np.nan
    return data


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "parquet"])
def test_it_reads_just_the_named_columns(tmp_path, frame, fmt):
    source = tmp_path / "data"
    if fmt == "parquet":
        frame.to_parquet(source)
    else:
        frame.to_csv(source, index=False, compression="gzip" if fmt == "csv.gz" else None)
    columns = read_columns(str(source), ["y_score", "y_true"])
    assert list(columns) == ["y_score", "y_true"]
    np.testing.assert_array_equal(columns["y_true"], frame["y_true"].to_numpy())
    np.testing.assert_allclose(columns["y_score"], frame["y_score"].to_numpy(), rtol=1e-12)


def test_it_names_a_column_read_columns_cannot_find(tmp_path, frame):
    source = tmp_path / "data.csv"
    frame.to_csv(source, index=False)
    with pytest.raises(DataError, match=r"The column 'y_pred' is not a column of the file"):
        read_columns(str(source), ["y_true", "y_pred"])


def test_it_reads_the_converted_file_as_a_data_frame(tmp_path, frame):
    source = tmp_path / "data.csv"
    frame.to_csv(source, index=False)
    _, out, _ = _ingest(tmp_path, source)
    whole = read_frame(str(out))
    pd.testing.assert_frame_equal(whole, frame)
    assert list(read_frame(str(out), ["group"]).columns) == ["group"]
    with pytest.raises(DataError, match="'nope'"):
        read_frame(str(out), ["nope"])


def test_it_widens_a_column_that_read_columns_reads(tmp_path):
    rows = [f"{i},x{i},{i % 5}\n" for i in range(4000)]
    rows[3500] = "3500,x3500,2.5\n"
    source = tmp_path / "data.csv"
    source.write_text("id,name,score\n" + "".join(rows))
    columns = read_columns(str(source), ["score"])
    assert columns["score"].dtype == np.float64
    assert columns["score"][3500] == 2.5 and columns["score"][3499] == 4


def test_it_profiles_parquet_types_beyond_numbers_and_text(tmp_path):
    from datetime import date, datetime
    from decimal import Decimal

    table = pa.table(
        {
            "price": pa.array([Decimal("1.50"), None, Decimal("2.25")], pa.decimal128(6, 2)),
            "day": pa.array([date(2024, 1, 1), date(2024, 1, 2), None]),
            "seen": pa.array([datetime(2024, 1, 1, 8), None, datetime(2024, 1, 1, 8)]),
            "ok": pa.array([True, None, False]),
            "name": pa.array(["a", "b", None], pa.large_string()),
            "blob": pa.array([b"\x00\x01", b"\x02", b"\x00\x01"]),
            "empty": pa.nulls(3),
        }
    )
    source = tmp_path / "data.parquet"
    pq.write_table(table, source)
    result, _, _ = _ingest(tmp_path, source, fmt="parquet")
    kinds = {c.name: (c.kind, c.count, c.missing, c.distinct) for c in result.columns}
    assert kinds == {
        "price": ("numeric", 2, 1, 2),
        "day": ("datetime", 2, 1, 2),
        "seen": ("datetime", 2, 1, 1),
        "ok": ("boolean", 2, 1, 2),
        "name": ("categorical", 2, 1, 2),
        "blob": ("other", 3, 0, 2),
        "empty": ("other", 0, 3, 0),
    }
    assert _columns(result)["price"].mean == pytest.approx(1.875)


def test_it_reads_dates_in_a_csv_and_widens_them_when_text_follows(tmp_path):
    rows = [f"2024-01-{1 + i % 28:02d},{i}\n" for i in range(3000)]
    source = tmp_path / "data.csv"
    source.write_text("day,n\n" + "".join(rows))
    result, _, _ = _ingest(tmp_path, source)
    assert _columns(result)["day"].kind == "datetime"
    assert _columns(result)["day"].distinct == 28
    source.write_text("day,n\n" + "".join(rows) + "soon,1\n")
    result, _, _ = _ingest(tmp_path, source)
    assert _columns(result)["day"].kind == "categorical"
    assert _columns(result)["day"].distinct == 29


def test_it_reads_grouping_columns_as_sorted_categoricals_from_csv_and_parquet(tmp_path):
    frame = pd.DataFrame(
        {"region": ["west", "east", None, "west", "north"], "band": [3, 1, 2, 3, 1]}
    )
    frame.to_csv(tmp_path / "g.csv", index=False)
    frame.to_parquet(tmp_path / "g.parquet")
    for name in ("g.csv", "g.parquet"):
        groups = read_groups(str(tmp_path / name), ["region", "band"])
        region = groups["region"]
        assert list(region.categories) == ["east", "north", "west"]
        assert list(region.astype(object)) == ["west", "east", np.nan, "west", "north"]
        assert list(groups["band"].categories) == [1, 2, 3]
        assert list(groups["band"].codes) == [2, 0, 1, 2, 0]


def test_a_nan_in_a_float_grouping_column_is_a_missing_value(tmp_path):
    table = pa.table({"band": pa.array([1.5, float("nan"), 2.5, None], from_pandas=False)})
    pq.write_table(table, tmp_path / "nan.parquet")
    band = read_groups(str(tmp_path / "nan.parquet"), ["band"])["band"]
    assert list(band.categories) == [1.5, 2.5]
    assert list(band.codes) == [0, -1, 1, -1]


# --- limits: expanded bytes, rows, line length ----------------------------------------------


def _gzip_stream(path, head: bytes, line: bytes, expanded: int) -> None:
    """Write ``head`` and ``line`` repeated to ``expanded`` bytes as gzip, streamed through
    zlib, so a test makes a bomb without holding what it expands to."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = line * max(1, (64 << 10) // len(line))
    with open(path, "wb") as out:
        out.write(packer.compress(head))
        for _ in range(max(1, expanded // len(block))):
            out.write(packer.compress(block))
        out.write(packer.flush())


def test_it_stops_a_gzip_bomb_at_the_expansion_limit(tmp_path):
    source = tmp_path / "bomb.csv.gz"
    _gzip_stream(source, b"a,b,c,d\n", b"0,0,0,0\n", 64 << 20)
    assert source.stat().st_size < 200 << 10
    limits = ReadLimits(max_expanded_bytes=1 << 20)
    message = _refused(tmp_path, source, fmt="csv.gz", limits=limits)
    assert message == (
        "The file expands to more than 1 MiB when decompressed; the limit is 1 MiB. "
        "Split it into smaller files."
    )
    with pytest.raises(LimitExceeded, match="expands to more than 1 MiB"):
        read_columns(str(source), ["a"], fmt="csv.gz", limits=limits)


def test_it_holds_a_plain_file_to_the_size_limit_too(tmp_path):
    source = tmp_path / "data.csv"
    source.write_text("a,b,c,d\n" + _rows(3000))
    message = _refused(tmp_path, source, limits=ReadLimits(max_expanded_bytes=16 << 10))
    assert message.startswith("The file holds more than 16 KiB; the limit is 16 KiB.")


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "parquet"])
def test_it_stops_at_the_row_limit(tmp_path, fmt):
    source = tmp_path / "data"
    frame = pd.DataFrame({"a": range(5000), "b": range(5000)})
    if fmt == "parquet":
        frame.to_parquet(source)
    else:
        frame.to_csv(source, index=False, compression="gzip" if fmt == "csv.gz" else None)
    limits = ReadLimits(max_rows=1000)
    message = _refused(tmp_path, source, fmt=fmt, limits=limits)
    assert message.startswith("The file has more than 1,000 rows; the limit is 1,000.")
    with pytest.raises(LimitExceeded, match="more than 1,000 rows"):
        read_columns(str(source), ["a"], fmt=fmt, limits=limits)
    assert len(read_columns(str(source), ["a"], fmt=fmt, limits=ReadLimits(max_rows=5000))["a"])


def test_it_holds_a_parquet_file_to_the_size_its_footer_declares(tmp_path):
    source = tmp_path / "data.parquet"
    pq.write_table(pa.table({"a": ["x" * 100] * 2000}), source, use_dictionary=False)
    limits = ReadLimits(max_expanded_bytes=64 << 10)
    message = _refused(tmp_path, source, fmt="parquet", limits=limits)
    assert message.startswith("The file expands to more than 64 KiB when decompressed")
    with pytest.raises(LimitExceeded):
        read_groups(str(source), ["a"], fmt="parquet", limits=limits)


@pytest.mark.parametrize("longest", [512, 6000], ids=["within-a-chunk", "across-chunks"])
def test_it_names_a_line_longer_than_the_limit(tmp_path, longest):
    lines = _rows(3000).splitlines(keepends=True)
    lines[1998] = "1,2,3," + "9" * (longest + 1) + "\n"  # line 2000 of the file
    source = tmp_path / "data.csv"
    source.write_text("a,b,c,d\n" + "".join(lines))
    limits = ReadLimits(max_line_bytes=longest + 6)
    assert _refused(tmp_path, source, limits=limits).startswith(
        f"Line 2000 is longer than {size_text(longest + 6)}, the longest line this portal reads."
    )
    lines[1998] = "1,2,3," + "9" * longest + "\n"  # at the limit exactly: fine
    source.write_text("a,b,c,d\n" + "".join(lines))
    assert _ingest(tmp_path, source, limits=limits)[0].rows == 3000


def test_it_refuses_a_header_line_longer_than_the_limit(tmp_path):
    source = tmp_path / "data.csv.gz"
    _gzip_stream(source, b"", b"name,", 32 << 20)  # one line of 32 MiB: no line break
    limits = ReadLimits(max_line_bytes=4096)
    message = _refused(tmp_path, source, fmt="csv.gz", limits=limits)
    assert message.startswith("Line 1 is longer than 4 KiB")
    with pytest.raises(LimitExceeded, match="Line 1 is longer"):
        check_first_line(str(source), True, 4096)
    check_first_line(str(source), True, 64 << 20)  # within a bigger limit it ends, unread


def test_it_refuses_one_endless_line_after_the_header(tmp_path):
    source = tmp_path / "data.csv.gz"
    _gzip_stream(source, b"a,b\n1,2\n", b"3,", 32 << 20)
    message = _refused(tmp_path, source, fmt="csv.gz", limits=ReadLimits(max_line_bytes=8192))
    assert message.startswith("Line 3 is longer than 8 KiB")


def test_it_refuses_a_quoted_value_that_never_ends(tmp_path):
    rows = "".join(f'{i},"a note\nover two lines",{i}\n' for i in range(100))
    rest = "".join(f"{i},no closing quote,{i}\n" for i in range(100, 5000))
    source = tmp_path / "data.csv"
    source.write_text("id,note,n\n" + rows + '100,"opened,1\n' + rest)
    message = _refused(tmp_path, source, limits=ReadLimits(max_line_bytes=8192))
    assert message.startswith("The record that starts on line 202 is longer than 8 KiB")
    assert "quote left open" in message


def test_it_says_a_header_the_csv_module_cannot_read_is_bad_data(tmp_path):
    source = tmp_path / "data.csv"
    source.write_text('a,"' + "b" * 200_000 + '",c\n1,2,3\n')  # a name past csv's field limit
    assert _refused(tmp_path, source).startswith("The header (line 1) cannot be read")


def test_it_cuts_row_groups_of_long_rows_by_bytes(tmp_path, monkeypatch):
    # Rows of long text would otherwise gather ROW_GROUP_ROWS of them in memory at once.
    monkeypatch.setattr(tabular, "ROW_GROUP_BYTES", 256 << 10)
    source = tmp_path / "data.csv"
    source.write_text("id,note\n" + "".join(f"{i},{'x' * 2000}{i}\n" for i in range(2000)))
    result, out, _ = _ingest(tmp_path, source)
    written = pq.ParquetFile(out)
    assert result.rows == 2000 and written.metadata.num_rows == 2000
    assert written.num_row_groups > 4
    assert max(written.metadata.row_group(i).num_rows for i in range(written.num_row_groups)) < 1000
