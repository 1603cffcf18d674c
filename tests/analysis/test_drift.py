"""Data drift against the libraries users trust: every statistic equals SciPy's (and
NumPy's bins) on the same data, and each column gets the test Evidently would pick."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial import distance

from deployments.analysis.drift import (
    CATEGORICAL,
    NUMERIC,
    DriftError,
    Rule,
    _binned,
    _sturges_edges,
    column_drift,
    dataset_drift,
    wasserstein_sorted,
)

FINITE = st.floats(
    min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False, allow_subnormal=False
)
SAMPLE = st.lists(FINITE, min_size=1, max_size=200)
# Few distinct values, so ties are common.
TIED = st.lists(st.integers(-3, 3).map(float), min_size=1, max_size=200)

rng = np.random.default_rng(11)


def shares(counts: dict, keys: list) -> np.ndarray:
    total = sum(counts.values())
    return np.array([counts.get(k, 0) / total for k in keys])


# --- The statistics equal SciPy's --------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.one_of(SAMPLE, TIED), st.one_of(SAMPLE, TIED))
def test_the_wasserstein_distance_equals_scipys(u, v):
    ours = wasserstein_sorted(np.sort(u), np.sort(v))
    assert ours == pytest.approx(stats.wasserstein_distance(u, v), rel=1e-9, abs=1e-9)


def test_the_wasserstein_distance_equals_scipys_on_large_unequal_samples():
    u, v = rng.lognormal(0, 1, 120_001), rng.lognormal(0.1, 1.1, 87_313)
    ours = wasserstein_sorted(np.sort(u), np.sort(v))
    assert ours == pytest.approx(stats.wasserstein_distance(u, v), rel=1e-12)


def test_a_large_numeric_column_gets_the_normed_wasserstein_distance():
    ref, cur = rng.normal(0, 2, 5000), rng.normal(0.3, 2, 4000)
    got = column_drift("x", ref, cur, kind=NUMERIC)
    expected = stats.wasserstein_distance(ref, cur) / np.std(ref)
    assert (got.method, got.threshold) == ("wasserstein", 0.1)
    assert got.statistic == pytest.approx(expected, rel=1e-12)
    assert got.drifted == (expected >= 0.1)


def test_a_small_numeric_column_gets_kolmogorov_smirnov():
    ref, cur = rng.normal(0, 1, 1000), rng.normal(0.2, 1, 3000)
    got = column_drift("x", ref, cur, kind=NUMERIC)
    p_value = stats.ks_2samp(ref, cur).pvalue
    assert (got.method, got.statistic, got.threshold) == ("ks", p_value, 0.05)
    assert got.drifted == (p_value <= 0.05)


def test_a_small_categorical_column_gets_chi_square_against_the_reference_shares():
    ref = rng.choice(["a", "b", "c", "d"], 900, p=[0.4, 0.3, 0.2, 0.1])
    cur = rng.choice(["a", "b", "c", "d"], 700, p=[0.3, 0.3, 0.2, 0.2])
    got = column_drift("x", ref, cur, kind=CATEGORICAL)
    keys = ["a", "b", "c", "d"]
    observed = [int((cur == k).sum()) for k in keys]
    expected = [(ref == k).sum() * 700 / 900 for k in keys]
    assert got.method == "chisquare"
    assert got.statistic == pytest.approx(stats.chisquare(observed, expected).pvalue, rel=1e-12)
    assert got.drifted


def test_a_small_two_valued_column_gets_the_two_proportion_z_test():
    ref = (rng.random(600) < 0.30).astype(float)
    cur = (rng.random(800) < 0.38).astype(float)
    got = column_drift("flag", ref, cur, kind=NUMERIC)
    p1, p2 = ref.mean(), cur.mean()
    pooled = (ref.sum() + cur.sum()) / 1400
    z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1 / 600 + 1 / 800))
    assert got.method == "z"
    assert got.statistic == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-9)


def test_one_shared_value_is_no_drift_by_the_z_test():
    got = column_drift("x", ["a"] * 10, ["a"] * 30, kind=CATEGORICAL)
    assert (got.method, got.statistic, got.drifted) == ("z", 1.0, False)


def test_a_large_categorical_column_gets_the_jensen_shannon_distance_of_its_shares():
    levels = [f"level {i}" for i in range(40)]
    ref = rng.choice(levels, 20_000)
    cur = rng.choice([*levels[5:], "new"], 15_000)
    got = column_drift(
        "x", pa.array(ref), pa.chunked_array([cur[:7000], cur[7000:]]), kind=CATEGORICAL
    )
    keys = sorted(set(ref) | set(cur))
    ref_counts = dict(zip(*np.unique(ref, return_counts=True), strict=True))
    cur_counts = dict(zip(*np.unique(cur, return_counts=True), strict=True))
    expected = distance.jensenshannon(shares(ref_counts, keys), shares(cur_counts, keys))
    assert got.method == "jensenshannon"
    assert got.statistic == pytest.approx(expected, rel=1e-12)
    assert got.drifted


@pytest.mark.parametrize("rows", [600, 20_000])
def test_a_dictionary_encoded_column_is_judged_as_its_strings(rows):
    """Parquet's categorical columns are read as dictionaries and counted by their indices:
    the same counts, missing values and statistics as the plain strings, whatever each
    chunk's own dictionary (a null even inside the dictionary)."""
    levels = [f"level {i}" for i in range(12)]
    ref = rng.choice([*levels, None], rows).tolist()
    cur = rng.choice([*levels[3:], "new", None], rows // 2).tolist()
    half = len(cur) // 2
    plain = column_drift(
        "x", pa.array(ref), pa.chunked_array([cur[:half], cur[half:]]), kind=CATEGORICAL
    )
    as_dictionary = pa.chunked_array(
        [pa.array(cur[:half]).dictionary_encode(), pa.array(cur[half:]).dictionary_encode()]
    )
    holed = pa.DictionaryArray.from_arrays(
        pa.array([0 if v is None else levels.index(v) + 1 for v in ref], pa.int32()),
        pa.array([None, *levels]),
    )
    encoded = column_drift("x", holed, as_dictionary, kind=CATEGORICAL)
    assert (encoded.method, encoded.drifted) == (plain.method, plain.drifted)
    assert encoded.statistic == pytest.approx(plain.statistic, rel=1e-12, abs=1e-300)
    assert encoded.psi == pytest.approx(plain.psi, rel=1e-12)
    assert (encoded.reference_missing, encoded.current_missing) == (
        plain.reference_missing,
        plain.current_missing,
    )
    assert (encoded.reference_count, encoded.current_count) == (
        plain.reference_count,
        plain.current_count,
    )
    assert encoded.histogram == plain.histogram
    # Chunks whose dictionaries both hold a null cannot be unified by Arrow: decoded instead.
    nulls = pa.chunked_array([holed[: rows // 2], holed[rows // 2 :]])
    again = column_drift("x", nulls, as_dictionary, kind=CATEGORICAL)
    assert again.statistic == pytest.approx(plain.statistic, rel=1e-12, abs=1e-300)


def test_a_text_column_read_as_a_dictionary_is_named_text_when_declared_numeric():
    words = pa.array(["a", "b", "a"] * 400).dictionary_encode()
    with pytest.raises(DriftError, match="holds string"):
        column_drift("x", words, words, kind=NUMERIC)


def test_a_large_numeric_column_with_few_values_gets_the_jensen_shannon_distance():
    ref = rng.integers(1, 5, 3000).astype(float)
    cur = rng.integers(1, 6, 2000).astype(float)
    got = column_drift("rating", ref, cur, kind=NUMERIC)
    keys = [1.0, 2.0, 3.0, 4.0, 5.0]
    ref_counts = {k: int((ref == k).sum()) for k in keys}
    cur_counts = {k: int((cur == k).sum()) for k in keys}
    expected = distance.jensenshannon(shares(ref_counts, keys), shares(cur_counts, keys))
    assert got.method == "jensenshannon"
    assert got.statistic == pytest.approx(expected, rel=1e-12)


@settings(max_examples=200, deadline=None)
@given(st.lists(FINITE, min_size=2, max_size=300), st.lists(FINITE, min_size=1, max_size=300))
def test_the_bins_equal_numpys_sturges_histogram(u, v):
    both = np.concatenate([u, v])
    edges = _sturges_edges(both.min(), both.max(), both.size)
    assert np.array_equal(edges, np.histogram_bin_edges(both, bins="sturges"))
    assert np.array_equal(_binned(np.sort(u), edges), np.histogram(u, edges)[0])


def test_the_psi_of_a_binned_column_is_computed_over_both_samples_sturges_bins():
    ref, cur = rng.normal(0, 1, 4000), rng.normal(0.5, 1, 3000)
    got = column_drift("x", ref, cur, kind=NUMERIC)
    edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
    r = np.histogram(ref, edges)[0] / ref.size
    c = np.histogram(cur, edges)[0] / cur.size
    # Empty shares become a ten-thousandth (or a millionth of the smallest share).
    r = np.where(r == 0, min(r[r > 0].min() / 1e6, 1e-4) if r[r > 0].min() <= 1e-4 else 1e-4, r)
    c = np.where(c == 0, min(c[c > 0].min() / 1e6, 1e-4) if c[c > 0].min() <= 1e-4 else 1e-4, c)
    assert got.psi == pytest.approx(np.sum((r - c) * np.log(r / c)), rel=1e-12)
    assert got.histogram.edges == tuple(edges)
    assert sum(got.histogram.reference) == pytest.approx(1.0)


def test_a_rule_sets_another_test_and_threshold():
    ref, cur = rng.normal(0, 1, 3000), rng.normal(0.05, 1, 3000)
    got = column_drift("x", ref, cur, kind=NUMERIC, rule=Rule("ks", 0.5))
    assert (got.method, got.threshold, got.ruled) == ("ks", 0.5, True)
    assert got.statistic == stats.ks_2samp(ref, cur).pvalue
    psi = column_drift("x", ref, cur, kind=NUMERIC, rule=Rule("psi"))
    assert (psi.method, psi.threshold, psi.statistic) == ("psi", 0.1, psi.psi)


# --- Missing values, the table's verdict, bad input ------------------------------------


def test_missing_and_infinite_values_are_counted_and_left_out():
    ref = np.array([1.0, 2.0, np.nan, 3.0, np.inf, 4.0, 5.0, 6.0])
    cur = pa.array([1.5, None, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5], type=pa.float64())
    got = column_drift("x", ref, cur, kind=NUMERIC)
    assert (got.reference_count, got.reference_missing) == (6, 2)
    assert (got.current_count, got.current_missing) == (7, 1)
    finite = ref[np.isfinite(ref)]
    assert got.statistic == stats.ks_2samp(finite, [1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5]).pvalue
    text = column_drift("c", np.array(["a", None, "b"], dtype=object), ["a", "b"], kind=CATEGORICAL)
    assert (text.reference_count, text.reference_missing) == (2, 1)


@pytest.mark.parametrize(("drifted", "verdict"), [(1, False), (2, True), (3, True)])
def test_the_table_drifts_when_half_of_its_columns_do(drifted, verdict):
    ref = {f"c{i}": rng.normal(0, 1, 2000) for i in range(4)}
    cur = {f"c{i}": rng.normal(3 if i < drifted else 0, 1, 2000) for i in range(4)}
    got = dataset_drift(ref, cur, kinds=dict.fromkeys(ref, NUMERIC))
    assert (got.drifted_count, got.share, got.drifted) == (drifted, drifted / 4, verdict)


@pytest.mark.parametrize(
    ("reference", "current", "kinds", "message"),
    [
        (
            {"a": [1.0], "b": [1.0]},
            {"a": [1.0]},
            {"a": NUMERIC, "b": NUMERIC},
            "Cannot compare: the current period has no column 'b'.",
        ),
        ({"a": [1.0]}, {"a": [1.0]}, {}, "Name at least one column to compare."),
        (
            {"a": [1.0, 2.0]},
            {"a": np.array(["x", "y"])},
            {"a": NUMERIC},
            "Column 'a' should hold numbers, but the current period holds text",
        ),
        (
            {"a": pa.array(["x", "y"])},
            {"a": pa.array([1, 2])},
            {"a": CATEGORICAL},
            "Column 'a' holds text in the reference and numbers in the current period",
        ),
        (
            {"a": [1.0, 2.0]},
            {"a": [np.nan, np.inf]},
            {"a": NUMERIC},
            "Column 'a' has no values in the current period: all missing.",
        ),
        ({"a": [1.0]}, {"a": [1.0]}, {"a": "text"}, "Column 'a': a column is numeric or"),
    ],
)
def test_it_refuses_data_it_cannot_compare_saying_why(reference, current, kinds, message):
    with pytest.raises(DriftError) as refused:
        dataset_drift(reference, current, kinds=kinds)
    assert str(refused.value).startswith(message), str(refused.value)


@pytest.mark.parametrize(
    ("kind", "rule", "message"),
    [
        (NUMERIC, Rule("chisquare"), "Column 'x' is numeric: its test is one of ks, wasserstein"),
        (CATEGORICAL, Rule("wasserstein"), "Column 'x' is categorical: its test is one of"),
        (NUMERIC, Rule("ks", 1.5), "Column 'x': the threshold of ks is a positive number below 1"),
        (NUMERIC, Rule("psi", -0.1), "Column 'x': the threshold of psi is a positive number, not"),
    ],
)
def test_it_refuses_a_rule_that_does_not_fit_the_column(kind, rule, message):
    with pytest.raises(DriftError, match=message.replace("(", r"\(")):
        column_drift("x", [1.0, 2.0], [1.0, 2.0], kind=kind, rule=rule)


def test_a_categorical_histogram_shows_the_largest_shares_and_sums_the_rest():
    ref = rng.choice([f"v{i}" for i in range(50)], 5000)
    got = column_drift("x", ref, ref[:2500], kind=CATEGORICAL)
    assert len(got.histogram.labels) == 21 and got.histogram.labels[-1] == "30 other values"
    assert sum(got.histogram.reference) == pytest.approx(1.0)
