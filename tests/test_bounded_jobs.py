"""Evaluations and audits in less memory, with the same numbers: numeric Parquet columns read
batch by batch (integers in their smallest type), sensitive columns only checked by the
evaluation, narrow class and group codes. Checked against the general reader, against the
wide types and against scikit-learn and fairlearn, on files of several row groups."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate
from sklearn import metrics as skm

from audits.analysis.audit_config import clean_config, default_config
from audits.analysis.audit_job import audit_columns
from audits.analysis.fairness import class_report
from audits.services.fairness import audit_run
from projects.analysis import tabular
from projects.analysis.curves import evaluation_curves
from projects.analysis.metrics import compute_metrics
from projects.analysis.tabular import (
    BATCH_GROUPS_LIMIT,
    DataError,
    check_columns,
    read_columns,
    read_groups,
)
from projects.models import Role
from projects.services import evaluations
from projects.services.uploads import upload_from_bytes
from tests.data import predictions_csv, sample_frame
from tests.factories import make_audit

ROWS = 5_000
GROUP_ROWS = 700  # several row groups, the last one short


def _table(seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    label = (rng.random(ROWS) < 0.3).astype(np.int64)
    score = np.clip(0.4 * label + 0.6 * rng.random(ROWS), 0, 1).round(3)  # ties too
    with_gaps = np.where(rng.random(ROWS) < 0.1, np.nan, score)
    return pa.table(
        {
            "label": label,
            "prediction": (score > 0.5).astype(np.int64),
            "score": score,
            "gappy_score": pa.array(with_gaps, from_pandas=True),  # NaN as missing values
            "small_unsigned": pa.array(rng.integers(0, 300, ROWS).astype(np.uint64)),
            "negative": pa.array(rng.integers(-5, 5, ROWS).astype(np.int32)),
            "wide": rng.integers(-(2**40), 2**40, ROWS),
            "flag": rng.random(ROWS) < 0.5,
            "int_with_gaps": pa.array([None if x < 0.1 else 1 for x in rng.random(ROWS)]),
            "sex": rng.choice(["F", "M"], ROWS),
        }
    )


@pytest.fixture(params=[True, False], ids=["statistics", "no-statistics"])
def parquet_file(request, tmp_path):
    path = tmp_path / "p.parquet"
    pq.write_table(_table(), path, row_group_size=GROUP_ROWS, write_statistics=request.param)
    return str(path)


# --- Reading ---------------------------------------------------------------------------
@pytest.mark.parametrize("compact", [False, True])
@pytest.mark.parametrize(
    "columns",
    [
        ["label", "prediction", "score", "gappy_score", "flag"],
        ["small_unsigned", "negative", "wide", "label", "label"],
        ["int_with_gaps", "label"],  # missing integers: the general reader's floats
        ["sex", "score"],  # text: the general reader's objects
    ],
)
def test_it_reads_parquet_columns_as_the_general_reader_does(parquet_file, columns, compact):
    got = read_columns(parquet_file, columns, fmt="parquet", compact=compact)
    assert list(got) == list(dict.fromkeys(columns))
    table = pq.read_table(parquet_file)
    for name, values in got.items():
        expected = table[name].to_numpy()
        if compact and expected.dtype.kind in "iu":
            # The same values in the smallest type of the same signedness that holds them.
            assert values.dtype.kind == expected.dtype.kind
            assert values.dtype.itemsize <= expected.dtype.itemsize
            assert np.array_equal(values.astype(expected.dtype), expected)
            continue
        assert values.dtype == expected.dtype, name
        if expected.dtype.kind == "f":
            assert np.array_equal(values, expected, equal_nan=True), name
        else:
            assert list(values) == list(expected), name


def test_it_reads_labels_compactly(parquet_file):
    got = read_columns(parquet_file, ["label", "small_unsigned", "negative", "wide"], compact=True)
    assert {name: values.dtype for name, values in got.items()} == {
        "label": np.int8,
        "small_unsigned": np.uint16,
        "negative": np.int8,
        "wide": np.int64,
    }


def _groups_read_whole(path: str, columns: list[str]) -> dict[str, pd.Categorical]:
    """Grouping columns as the whole-column read gives them: every row's dictionary index
    converted at once, categories sorted."""
    table = pq.read_table(path, columns=columns, read_dictionary=["sex", "late", "ids"])
    out = {}
    for name in columns:
        column = table[name]
        if pa.types.is_floating(column.type):
            column = pc.if_else(pc.is_nan(column), None, column)
        if not pa.types.is_dictionary(column.type):
            column = pc.dictionary_encode(column)
        values = column.to_pandas().array
        out[name] = values.reorder_categories(sorted(values.categories))
    return out


@pytest.mark.parametrize("limit", [BATCH_GROUPS_LIMIT, 1_000])
def test_it_reads_groups_batch_by_batch_as_whole_columns(tmp_path, monkeypatch, limit):
    # Under the lower limit the column of ids is read whole instead, as identifiers are.
    monkeypatch.setattr(tabular, "BATCH_GROUPS_LIMIT", limit)
    rng = np.random.default_rng(8)
    n = 20_000
    table = pa.table(
        {
            "sex": pa.array(rng.choice(["M", "F", None], n, p=[0.5, 0.4, 0.1])),
            # A group that first appears in a late row group.
            "late": np.where(np.arange(n) > 18_000, "zzz", rng.choice(["m", "f"], n)),
            "band": rng.integers(0, 5, n).astype(np.int8),
            "gappy": np.where(rng.random(n) < 0.1, np.nan, rng.integers(0, 3, n) * 1.0),
            "flag": rng.random(n) < 0.5,
            "ids": [f"id{i}" for i in range(n)],
        }
    )
    path = tmp_path / "groups.parquet"
    pq.write_table(table, path, row_group_size=1_500)
    columns = table.column_names
    got = read_groups(str(path), columns, fmt="parquet")
    assert got["ids"].categories.size == n
    expected = _groups_read_whole(str(path), columns)
    for name in columns:
        assert got[name].dtype == expected[name].dtype, name
        assert np.array_equal(got[name].codes, expected[name].codes), name
    assert list(got["late"].categories) == ["f", "m", "zzz"]
    assert got["sex"].isna().sum() == expected["sex"].isna().sum() > 0


def test_it_checks_columns_without_reading_them(parquet_file):
    check_columns(parquet_file, ["label", "sex"], fmt="parquet")
    with pytest.raises(DataError, match=r"'sx' is not a column of the file\. Did you mean 'sex'"):
        check_columns(parquet_file, ["label", "sx"], fmt="parquet")


# --- Numbers on compact columns --------------------------------------------------------
def test_it_computes_the_same_metrics_and_curves_from_compact_labels(parquet_file):
    wide = read_columns(parquet_file, ["label", "prediction", "score"])
    narrow = read_columns(parquet_file, ["label", "prediction", "score"], compact=True)
    assert narrow["label"].dtype == np.int8
    for compute in (compute_metrics, evaluation_curves):
        assert compute(
            "classification", narrow["label"], narrow["prediction"], narrow["score"]
        ) == (compute("classification", wide["label"], wide["prediction"], wide["score"]))
    y, p, s = wide["label"], wide["prediction"], wide["score"]
    metrics = compute_metrics("classification", narrow["label"], narrow["prediction"], s)
    curves = evaluation_curves("classification", narrow["label"], narrow["prediction"], s)
    assert metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert metrics["log_loss"] == pytest.approx(skm.log_loss(y, s), abs=1e-12)
    assert curves["confusion"] == skm.confusion_matrix(y, p).tolist()
    assert curves["roc"]["points"] == skm.roc_curve(y, s)[0].size
    assert curves["pr"]["points"] == skm.precision_recall_curve(y, s)[0].size
    assert curves["pr"]["average_precision"] == pytest.approx(
        skm.average_precision_score(y, s), abs=1e-12
    )


def test_multiclass_metrics_from_narrow_codes_match_scikit_learn():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 4, 3_000).astype(np.int8)
    p = np.where(rng.random(3_000) < 0.7, y, rng.integers(0, 4, 3_000)).astype(np.int8)
    scores = rng.dirichlet(np.ones(4), 3_000)
    got = compute_metrics("classification", y, p, scores)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, p), abs=1e-12)
    assert got["f1"] == pytest.approx(skm.f1_score(y, p, average="macro"), abs=1e-12)
    assert got["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, p), abs=1e-12)
    assert got["roc_auc"] == pytest.approx(
        skm.roc_auc_score(y, scores, multi_class="ovr"), abs=1e-12
    )
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, scores), abs=1e-12)


def test_the_class_report_of_integer_labels_is_that_of_the_same_labels_as_objects():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 5, 2_000)
    p = np.where(rng.random(2_000) < 0.8, y, 7)  # a class never true
    as_objects = class_report(y.astype(object), p.astype(object)).to_dict()
    for truth, pred in ((y.astype(np.int8), p), (y, p.astype(np.int16)), (y, p)):
        assert class_report(truth, pred).to_dict() == as_objects
    rows = {c["label"]: c for c in as_objects["classes"]}
    recalls = skm.recall_score(y, p, labels=[0, 1, 2, 3, 4, 7], average=None, zero_division=0)
    for label, recall in zip(["0", "1", "2", "3", "4"], recalls, strict=False):
        assert rows[label]["recall"]["value"] == pytest.approx(recall, abs=1e-12)


def test_an_audit_gives_the_same_result_from_codes_as_from_text():
    rng = np.random.default_rng(4)
    n = 4_000
    y = (rng.random(n) < 0.3).astype(np.int64)
    score = np.clip(0.3 * y + 0.7 * rng.random(n), 0, 1).round(2)
    p = (score > 0.5).astype(np.int64)
    sex = rng.choice(["F", "M"], n).astype(object)
    band = rng.choice(["a", "b", "c", None], n, p=[0.4, 0.3, 0.25, 0.05]).astype(object)
    config = clean_config({**default_config(["sex", "band"]), "intersections": [["sex", "band"]]})
    as_text = audit_columns(
        "classification", y, p, {"sex": sex, "band": band}, config, y_score=score
    )
    as_codes = audit_columns(
        "classification",
        y.astype(np.int8),
        p.astype(np.int8),
        {"sex": pd.Categorical(sex), "band": pd.Categorical(band)},
        config,
        y_score=score,
    )
    assert as_codes == as_text
    band_filled = pd.Series(band).fillna("(missing)")
    frame = MetricFrame(
        metrics={"selection_rate": selection_rate, "fpr": false_positive_rate},
        y_true=y,
        y_pred=p,
        sensitive_features=band_filled,
    )
    by_band = next(f for f in as_codes["features"] if f["feature"] == "band")
    for group in by_band["groups"]:
        expected = frame.by_group.loc[group["name"]]
        metrics = group["metrics"]
        assert metrics["selection_rate"]["value"] == pytest.approx(expected["selection_rate"])
        assert metrics["false_positive_rate"]["value"] == pytest.approx(expected["fpr"])
        chosen = (band_filled == group["name"]).to_numpy()
        assert metrics["roc_auc"]["value"] == pytest.approx(
            skm.roc_auc_score(y[chosen], score[chosen]), abs=1e-12
        )


# --- Through the jobs ------------------------------------------------------------------
def _parquet_predictions(**changes) -> bytes:
    frame = pd.read_csv(io.BytesIO(predictions_csv(sample_frame())))
    for name, values in changes.items():
        frame[name] = values
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer, row_group_size=25)
    return buffer.getvalue()


def _evaluate(world, content: bytes, **mapping):
    w = world["a"]
    evaluation = evaluations.evaluation_upload(
        actor=w.people[Role.ML_ENGINEER],
        model=w.model,
        dataset_version=w.version,
        upload=upload_from_bytes("predictions.parquet", content),
        mapping={"y_true": "label", "y_pred": "prediction", "y_score": "score", **mapping},
    )
    evaluations.evaluation_run(evaluation_id=evaluation.pk)
    evaluation.refresh_from_db()
    return evaluation


def test_a_parquet_evaluation_and_its_audit_match_scikit_learn_and_fairlearn(world):
    content = _parquet_predictions()
    evaluation = _evaluate(world, content, sensitive=["sex"])
    assert evaluation.status == "succeeded", evaluation.error
    frame = pd.read_parquet(io.BytesIO(content))
    y, p, s = frame["label"], frame["prediction"], frame["score"]
    assert evaluation.metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert evaluation.metrics["f1"] == pytest.approx(skm.f1_score(y, p), abs=1e-12)
    assert evaluation.curves["confusion"] == skm.confusion_matrix(y, p).tolist()
    audit = make_audit(evaluation, world["a"].people[Role.ML_ENGINEER])
    assert audit.status == "succeeded", audit.error
    by_sex = next(f for f in audit.result["features"] if f["feature"] == "sex")
    rates = MetricFrame(
        metrics=selection_rate, y_true=y, y_pred=p, sensitive_features=frame["sex"]
    ).by_group
    for group in by_sex["groups"]:
        assert group["metrics"]["selection_rate"]["value"] == pytest.approx(
            rates.loc[group["name"]], abs=1e-12
        )


def test_an_evaluation_still_refuses_a_sensitive_column_the_file_lacks(world):
    evaluation = _evaluate(world, _parquet_predictions(), sensitive=["sx"])
    assert evaluation.status == "failed"
    assert "'sx' is not a column of the file. Did you mean 'sex'?" in evaluation.error


def test_an_evaluation_does_not_convert_its_sensitive_columns(world):
    # A sensitive column only needs to be there: one the reader could not even convert
    # (a nested list) does not fail the evaluation; the audit reads what it needs.
    nested = [[1, 2]] * len(sample_frame())
    evaluation = _evaluate(world, _parquet_predictions(tags=nested), sensitive=["tags"])
    assert evaluation.status == "succeeded", evaluation.error


def test_missing_scores_in_a_parquet_file_are_refused_as_before(world):
    frame = pd.read_csv(io.BytesIO(predictions_csv(sample_frame())))
    gaps = frame["score"].where(frame.index % 17 != 0)
    evaluation = _evaluate(world, _parquet_predictions(score=gaps))
    assert evaluation.status == "failed"
    assert "y_score has 8 missing values" in evaluation.error


def test_an_audit_job_runs_on_a_parquet_evaluation(world):
    evaluation = _evaluate(world, _parquet_predictions(), sensitive=["sex"])
    audit = make_audit(evaluation, world["a"].people[Role.ML_ENGINEER])
    audit_run(run_id=audit.pk)  # a second run of a finished job changes nothing
    audit.refresh_from_db()
    assert audit.status == "succeeded" and audit.result["rows"] == len(sample_frame())
