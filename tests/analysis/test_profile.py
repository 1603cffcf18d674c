"""Profile statistics checked against pandas and numpy on the same data, across many batches.

Pure tests: no database, no Django.
"""

from __future__ import annotations

import gzip
import json
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from projects.analysis import columnstats
from projects.analysis.sketches import HyperLogLog, Reservoir, hash_values
from projects.analysis.tabular import ProfileOptions, ingest

TINY = 4 * 1024  # bytes per CSV batch: a few thousand rows span dozens of batches
CITIES = ["Oslo", "Lima", "Pune", "Kyiv", "Quito"]
PERCENTILES = {"p05": 0.05, "p25": 0.25, "p50": 0.50, "p75": 0.75, "p95": 0.95}


def _frame(rows: int = 4000, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 90, rows),
            "income": np.round(rng.lognormal(10, 1, rows), 2),
            "visits": rng.poisson(3, rows).astype(float),
            "city": rng.choice(
                ["Oslo", "Lima", "Pune", "Kyiv", "Quito"], rows, p=[0.4, 0.3, 0.2, 0.07, 0.03]
            ),
            "code": [f"c{v}" for v in rng.integers(0, 150, rows)],
            "member": rng.random(rows) < 0.3,
            "label": (rng.random(rows) < 0.2).astype(int),
        }
    )
    frame.loc[rng.random(rows) < 0.05, "income"] = np.nan
    frame.loc[rng.random(rows) < 0.05, "visits"] = np.nan
    frame.loc[rng.random(rows) < 0.04, "city"] = None
    return frame


def _ingest(tmp_path, source, fmt="csv", **options):
    out = tmp_path / "out.parquet"
    options.setdefault("batch_bytes", TINY)
    result = ingest(str(source), str(out), fmt=fmt, options=ProfileOptions(**options))
    return result, out


def _columns(result):
    return {column.name: column for column in result.columns}


def _check_numeric(column, values: pd.Series) -> None:
    present = values.dropna().to_numpy(dtype=float)
    assert column.kind == "numeric"
    assert column.count == present.size
    assert column.missing == values.isna().sum()
    assert column.min == pytest.approx(present.min(), rel=1e-9)
    assert column.max == pytest.approx(present.max(), rel=1e-9)
    assert column.mean == pytest.approx(values.mean(), rel=1e-9)
    assert column.std == pytest.approx(values.std(), rel=1e-9)
    if column.quantiles_exact:
        expected = np.quantile(present, list(PERCENTILES.values()))
        assert list(column.quantiles.values()) == pytest.approx(list(expected), rel=1e-12)
    edges = [column.histogram[0][0]] + [right for _, right, _ in column.histogram]
    counts, _ = np.histogram(present, bins=edges)
    assert [n for _, _, n in column.histogram] == counts.tolist()
    assert sum(n for _, _, n in column.histogram) == column.count
    if column.distinct_exact:
        assert column.distinct == values.nunique()


def _check_categorical(column, values: pd.Series, top: int = 10) -> None:
    assert column.count == values.notna().sum()
    assert column.missing == values.isna().sum()
    assert column.distinct == values.nunique()
    counts = values.astype(str)[values.notna()].value_counts()
    expected = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top]
    assert list(column.top) == [(str(v), int(n)) for v, n in expected]


def test_it_matches_pandas_on_a_csv_read_in_many_batches(tmp_path):
    frame = _frame()
    source = tmp_path / "data.csv"
    frame.to_csv(source, index=False)
    progress = []
    out = tmp_path / "out.parquet"
    result = ingest(
        str(source),
        str(out),
        fmt="csv",
        options=ProfileOptions(label_column="label", batch_bytes=TINY),
        progress=lambda fraction, message: progress.append(fraction),
    )
    assert source.stat().st_size > 20 * TINY  # the data really spans many batches
    assert result.rows == len(frame)
    columns = _columns(result)
    for name in ("age", "income", "visits", "label"):
        _check_numeric(columns[name], frame[name])
        assert columns[name].quantiles_exact
    for name in ("city", "code"):
        assert columns[name].kind == "categorical"
        _check_categorical(columns[name], frame[name])
    assert columns["member"].kind == "boolean"
    assert dict(columns["member"].top) == {
        str(k): int(v) for k, v in frame["member"].value_counts().items()
    }
    assert len(progress) > 10 and progress == sorted(progress) and progress[-1] == 1.0
    assert pq.read_table(out).num_rows == len(frame)


def test_it_reports_label_classes_and_sensitive_groups_exactly(tmp_path):
    frame = _frame()
    frame["region"] = np.where(np.arange(len(frame)) < 10, "tiny", "big")
    frame.loc[[3, 7, 11], "region"] = None
    frame["rare_label"] = np.where(np.arange(len(frame)) < 20, "fraud", "ok")
    frame.loc[[0, 1], "rare_label"] = None
    source = tmp_path / "data.csv"
    frame.to_csv(source, index=False)
    result, _ = _ingest(
        tmp_path, source, label_column="rare_label", sensitive_columns=("region", "city")
    )
    assert result.label == {
        "column": "rare_label",
        "kind": "categorical",
        "classes": [
            {"value": "ok", "count": 3980, "share": 3980 / 3998, "rare": False},
            {"value": "fraud", "count": 18, "share": 18 / 3998, "rare": True},
        ],
        "missing": 2,
        "single_class": False,
    }
    region = result.groups["region"]
    assert [(g["value"], g["count"], g["small"]) for g in region] == [
        ("big", 3989, False),
        ("tiny", 8, True),
        (None, 3, True),
    ]
    assert region[0]["share"] == 3989 / 4000
    city = {g["value"]: g["count"] for g in result.groups["city"]}
    assert city == {**frame["city"].value_counts().to_dict(), None: frame["city"].isna().sum()}


def test_it_flags_a_single_class_label_and_counts_missing_labels(tmp_path):
    source = tmp_path / "data.csv"
    source.write_text("x,y\n" + "".join(f"{i},{'' if i % 5 == 0 else 1}\n" for i in range(100)))
    result, _ = _ingest(tmp_path, source, label_column="y")
    assert result.label["single_class"] is True
    assert result.label["missing"] == 20
    assert result.label["classes"] == [{"value": 1, "count": 80, "share": 1.0, "rare": False}]


def test_it_treats_a_fractional_label_as_a_regression_target(tmp_path):
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"x": rng.random(3000), "price": np.round(rng.normal(100, 20, 3000), 2)})
    source = tmp_path / "data.csv"
    frame.to_csv(source, index=False)
    result, _ = _ingest(tmp_path, source, label_column="price")
    assert result.label["kind"] == "numeric"
    assert result.label["classes"] is None
    _check_numeric(_columns(result)["price"], frame["price"])


def test_it_estimates_past_the_exact_limits_within_the_documented_bounds(tmp_path, monkeypatch):
    monkeypatch.setattr(columnstats, "EXACT_VALUES", 2000)
    monkeypatch.setattr(columnstats, "EXACT_DISTINCT", 500)
    monkeypatch.setattr(columnstats, "CANDIDATES", 50)
    rng = np.random.default_rng(7)
    rows = 30_000
    heavy = rng.choice(["alpha", "beta", "gamma"], rows)
    ids = np.array([f"id{v}" for v in rng.integers(0, 20_000, rows)])
    frame = pd.DataFrame(
        {
            "value": rng.normal(50, 10, rows),
            "key": np.where(rng.random(rows) < 0.3, heavy, ids),
        }
    )
    frame.loc[rng.random(rows) < 0.05, "value"] = np.nan
    source = tmp_path / "data.csv"
    frame.to_csv(source, index=False)
    result, _ = _ingest(tmp_path, source, batch_bytes=64 * 1024)
    columns = _columns(result)

    value = columns["value"]
    _check_numeric(value, frame["value"])  # moments and histogram stay exact
    assert not value.quantiles_exact and not value.distinct_exact
    present = np.sort(frame["value"].dropna().to_numpy())
    # DKW bound for a 2000-value sample at one-in-a-million odds.
    bound = math.sqrt(math.log(2 / 1e-6) / (2 * 2000))
    for key, p in PERCENTILES.items():
        rank = np.searchsorted(present, value.quantiles[key], side="right") / present.size
        assert abs(rank - p) <= bound
    assert abs(value.distinct / frame["value"].nunique() - 1) < 0.03  # 1.04/sqrt(2**16) = 0.4%

    key = columns["key"]
    assert not key.distinct_exact
    assert abs(key.distinct / frame["key"].nunique() - 1) < 0.03
    expected = frame["key"].value_counts()
    assert list(key.top[:3]) == [(v, int(expected[v])) for v in expected.index[:3]]


def test_it_reads_a_parquet_file_with_nan_and_dictionary_columns(tmp_path):
    frame = _frame()
    frame["city"] = frame["city"].astype("category")
    frame.loc[5, "income"] = np.nan
    source = tmp_path / "data.parquet"
    frame.to_parquet(source, row_group_size=700)
    result, out = _ingest(tmp_path, source, fmt="parquet", batch_bytes=16 * 1024)
    columns = _columns(result)
    assert result.rows == len(frame)
    for name in ("age", "income", "visits"):
        _check_numeric(columns[name], frame[name])
    assert columns["city"].kind == "categorical" and columns["city"].dtype == "string"
    _check_categorical(columns["city"], frame["city"].astype(object))
    assert pq.read_schema(out).field("city").type == pa.string()


def test_it_profiles_a_gzip_csv_like_the_plain_one(tmp_path):
    frame = _frame()
    plain = tmp_path / "data.csv"
    frame.to_csv(plain, index=False)
    packed = tmp_path / "data.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    first, _ = _ingest(tmp_path, plain)
    second, _ = _ingest(tmp_path, packed, fmt="csv.gz")
    assert first.to_dict() == second.to_dict()


def test_it_profiles_the_breast_cancer_data(tmp_path):
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    source = tmp_path / "cancer.csv"
    frame.to_csv(source, index=False)
    result, _ = _ingest(tmp_path, source, label_column="target", batch_bytes=16 << 20)
    assert result.rows == 569
    assert len(result.columns) == 31
    assert {c["value"]: c["count"] for c in result.label["classes"]} == {0: 212, 1: 357}
    columns = _columns(result)
    for name in frame.columns:
        _check_numeric(columns[name], frame[name])


def test_it_serialises_to_strict_json(tmp_path):
    source = tmp_path / "data.csv"
    source.write_text("a,b,c\n1,inf,x\n2,5,\n3,-inf,y\n")
    result, _ = _ingest(tmp_path, source)
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert [c["name"] for c in data["columns"]] == ["a", "b", "c"]
    assert data["columns"][1]["mean"] is None
    assert list(data["columns"][0]) == list(result.columns[0].to_dict())
    assert result.schema == [
        {"name": "a", "kind": "numeric", "dtype": "int64"},
        {"name": "b", "kind": "numeric", "dtype": "double"},
        {"name": "c", "kind": "categorical", "dtype": "string"},
    ]


def test_it_keeps_a_uniform_sample_once_the_reservoir_is_full():
    reservoir = Reservoir(1000, seed=5)
    for start in range(0, 200_000, 3000):
        reservoir.add(np.arange(start, min(start + 3000, 200_000), dtype=float))
    sample = reservoir.sample()
    assert reservoir.seen == 200_000 and not reservoir.exact
    assert len(np.unique(sample)) == 1000
    # Each tenth of the stream should hold about a tenth of the sample.
    shares = np.histogram(sample, bins=10, range=(0, 200_000))[0] / 1000
    assert np.all(np.abs(shares - 0.1) < 0.04)


def test_it_estimates_distinct_counts_with_hyperloglog():
    for n in (1_000, 50_000, 300_000):
        sketch = HyperLogLog()
        values = pa.array(np.arange(n, dtype=np.int64) * 7919)
        sketch.add(hash_values(values))
        sketch.add(hash_values(values.slice(0, n // 2)))  # repeats do not count
        assert abs(sketch.estimate() / n - 1) < 0.02
    text = HyperLogLog()
    text.add(hash_values(pa.array([f"name-{i}" for i in range(40_000)])))
    assert abs(text.estimate() / 40_000 - 1) < 0.02


def test_it_counts_distinct_integers_exactly_as_their_span_grows(tmp_path):
    rng = np.random.default_rng(11)
    small = rng.integers(0, 50, 3000)
    wide = rng.integers(-(10**12), 10**12, 3000)
    frame = pd.DataFrame({"n": np.concatenate([small, small + 100_000, wide])})
    frame.loc[[5, 4000], "n"] = np.nan
    source = tmp_path / "data.csv"
    frame.to_csv(source, index=False, float_format="%.0f")
    result, _ = _ingest(tmp_path, source)
    column = _columns(result)["n"]
    assert column.distinct_exact and column.distinct == frame["n"].nunique()
    _check_numeric(column, frame["n"])


def test_it_keeps_narrow_integers_exact_however_many_there_are(tmp_path, monkeypatch):
    monkeypatch.setattr(columnstats, "EXACT_VALUES", 1000)
    rng = np.random.default_rng(12)
    frame = pd.DataFrame({"age": rng.integers(18, 90, 20_000), "x": rng.random(20_000)})
    frame.loc[rng.random(20_000) < 0.1, "age"] = np.nan
    source = tmp_path / "data.csv"
    frame.to_csv(source, index=False, float_format="%.6g")
    result, _ = _ingest(tmp_path, source, batch_bytes=32 * 1024)
    age = _columns(result)["age"]
    assert age.dtype == "int64" and age.quantiles_exact and age.distinct_exact
    _check_numeric(age, frame["age"])
    assert not _columns(result)["x"].quantiles_exact


def test_it_samples_fairly_when_narrow_integers_turn_wide(tmp_path, monkeypatch):
    monkeypatch.setattr(columnstats, "EXACT_VALUES", 2000)
    rng = np.random.default_rng(13)
    values = np.concatenate([rng.integers(0, 100, 15_000), rng.integers(0, 10**9, 15_000)])
    frame = pd.DataFrame({"n": values})
    source = tmp_path / "data.csv"
    frame.to_csv(source, index=False)
    result, _ = _ingest(tmp_path, source, batch_bytes=32 * 1024)
    column = _columns(result)["n"]
    assert not column.quantiles_exact
    _check_numeric(column, frame["n"])  # moments, histogram (second pass) stay exact
    ordered = np.sort(values)
    bound = math.sqrt(math.log(2 / 1e-6) / (2 * 2000))
    for key, p in PERCENTILES.items():
        rank = np.searchsorted(ordered, column.quantiles[key], side="right") / ordered.size
        assert abs(rank - p) <= bound
