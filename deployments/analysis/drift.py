"""Data drift of a production period against the reference data: a test per column, the
population stability index beside it, and a verdict for the whole table.

Plain Python (NumPy, SciPy, PyArrow), no Django. Each column's test is chosen as
Evidently chooses it by default (0.7), so a team that knows its reports reads the same
verdicts, missing and infinite values dropped first:

- a reference of at most 1,000 values: Kolmogorov-Smirnov for a numeric column with more
  than five distinct values (drift at p ≤ 0.05); otherwise chi-square (more than two
  distinct values) or a two-proportion z-test (drift at p < 0.05);
- a larger reference: the Wasserstein distance divided by the reference's standard
  deviation for a numeric column with more than five distinct values (drift at ≥ 0.1);
  otherwise the Jensen-Shannon distance of the value shares (drift at ≥ 0.1).

Distinct values are counted over both samples together. The PSI is computed for every
column as well (ten-thousandths in place of empty shares, as Evidently does), over
equal-width Sturges bins of both samples for a numeric reference of more than 20
distinct values, over the values themselves otherwise. The table drifts when at least
``drift_share`` of its columns do (half, by default). A rule per column may name another
test and threshold.

Speed comes from sorting each numeric sample once: the distinct values, the bins, the
Wasserstein distance (from the two quantile functions, without merging the samples)
and the standard deviation all read the sorted arrays. Categorical samples are counted
by PyArrow's hash tables, never through Python objects per row.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy import stats
from scipy.spatial import distance

NUMERIC, CATEGORICAL = "numeric", "categorical"
KINDS = (NUMERIC, CATEGORICAL)
KS, CHISQUARE, Z, WASSERSTEIN, JENSENSHANNON, PSI = (
    "ks",
    "chisquare",
    "z",
    "wasserstein",
    "jensenshannon",
    "psi",
)
#: Tests that answer a p-value: drift below the threshold (KS: at or below).
P_VALUE_TESTS = (KS, CHISQUARE, Z)
#: The tests a rule may name for each kind of column.
METHODS = {
    NUMERIC: (KS, WASSERSTEIN, JENSENSHANNON, PSI),
    CATEGORICAL: (CHISQUARE, Z, JENSENSHANNON, PSI),
}
DEFAULT_THRESHOLDS = {
    KS: 0.05,
    CHISQUARE: 0.05,
    Z: 0.05,
    WASSERSTEIN: 0.1,
    JENSENSHANNON: 0.1,
    PSI: 0.1,
}
#: Up to this many reference values, the tests are the small-sample ones (KS, chi-square, z).
SMALL_REFERENCE = 1000
#: At most this many distinct values, a numeric column is compared by its value shares.
FEW_VALUES = 5
#: Above this many distinct reference values, a numeric column's shares are binned.
BINNED_ABOVE = 20
DEFAULT_DRIFT_SHARE = 0.5
#: Shares shown per categorical column; the rest are summed as "other".
SHOWN_CATEGORIES = 20


class DriftError(ValueError):
    """Data that cannot be compared: a column missing, of another type, or empty."""


@dataclass(frozen=True)
class Rule:
    """A test and threshold the monitoring spec sets for one column."""

    method: str
    threshold: float | None = None


@dataclass(frozen=True)
class Histogram:
    """Both samples' shares side by side: over bins (``edges``, numeric) or values."""

    labels: tuple[str, ...]
    reference: tuple[float, ...]
    current: tuple[float, ...]
    edges: tuple[float, ...] | None = None


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    kind: str
    #: The test, named as Evidently names it.
    method: str
    #: A p-value (ks, chisquare, z) or a distance (the others).
    statistic: float
    threshold: float
    drifted: bool
    psi: float
    reference_count: int
    current_count: int
    reference_missing: int
    current_missing: int
    histogram: Histogram
    #: The test was named by a rule, not chosen by default.
    ruled: bool = False


@dataclass(frozen=True)
class DatasetDrift:
    columns: tuple[ColumnDrift, ...]
    drift_share: float
    drifted_count: int = field(init=False)
    share: float = field(init=False)
    drifted: bool = field(init=False)

    def __post_init__(self) -> None:
        count = sum(c.drifted for c in self.columns)
        share = count / len(self.columns) if self.columns else 0.0
        object.__setattr__(self, "drifted_count", count)
        object.__setattr__(self, "share", share)
        object.__setattr__(self, "drifted", bool(self.columns) and share >= self.drift_share)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON data; a number that is not finite (a chi-square of an empty expected
        share) is None."""
        return _plain(
            {
                "drift_share": self.drift_share,
                "drifted_count": self.drifted_count,
                "share": self.share,
                "drifted": self.drifted,
                "columns": [asdict(c) for c in self.columns],
            }
        )


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# --- Samples ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Numbers:
    """A numeric sample without missing values, sorted."""

    values: np.ndarray
    missing: int

    @property
    def distinct(self) -> int:
        v = self.values
        return int(np.count_nonzero(v[1:] != v[:-1])) + 1 if v.size else 0


@dataclass(frozen=True)
class _Counts:
    """A sample's count per value (missing values left out)."""

    counts: dict[Any, int]
    size: int
    missing: int


def _numbers(raw: Any, column: str, side: str) -> _Numbers:
    if isinstance(raw, pa.ChunkedArray | pa.Array):
        if not (pa.types.is_integer(raw.type) or pa.types.is_floating(raw.type)):
            kind = raw.type.value_type if pa.types.is_dictionary(raw.type) else raw.type
            raise DriftError(_not_numbers(column, side, str(kind)))
        raw = raw.to_numpy(zero_copy_only=False)
    array = np.asarray(raw)
    if array.dtype.kind not in "fiub":
        raise DriftError(
            _not_numbers(column, side, "text" if array.dtype.kind in "OUS" else str(array.dtype))
        )
    array = array.astype(np.float64, copy=False).ravel()
    finite = np.isfinite(array)
    kept = array if finite.all() else array[finite]
    return _Numbers(np.sort(kept), int(array.size - kept.size))


def _not_numbers(column: str, side: str, found: str) -> str:
    return (
        f"Column {column!r} should hold numbers, but the {side} holds {found}: did its type "
        "change? Declare it categorical or fix the data."
    )


def _counts(raw: Any) -> _Counts:
    array = (
        raw
        if isinstance(raw, pa.ChunkedArray | pa.Array)
        else pa.array(np.asarray(raw), from_pandas=True)
    )
    if pa.types.is_floating(array.type):
        # NaN and infinities are missing values, as in a numeric column.
        array = pc.if_else(pc.is_finite(array), array, pa.scalar(None, array.type))
    if pa.types.is_dictionary(array.type):
        return _dictionary_counts(array)
    missing = array.null_count
    found = pc.value_counts(array)
    values, counts = found.field("values").to_pylist(), found.field("counts").to_pylist()
    counted = {v: c for v, c in zip(values, counts, strict=True) if v is not None}
    return _Counts(counted, len(array) - missing, missing)


def _dictionary_counts(array: pa.Array | pa.ChunkedArray) -> _Counts:
    """Counts of a dictionary-encoded column from its indices: the values (a few distinct
    strings) are never turned into one string per row."""
    chunked = array if isinstance(array, pa.ChunkedArray) else pa.chunked_array([array])
    try:
        chunked = chunked.unify_dictionaries()
    except pa.ArrowInvalid:  # Arrow cannot unify dictionaries holding a null: decode them
        return _counts(chunked.cast(chunked.type.value_type))
    if not chunked.num_chunks:
        return _Counts({}, 0, 0)
    dictionary = chunked.chunk(0).dictionary
    totals = np.zeros(len(dictionary), dtype=np.int64)
    missing = 0
    for chunk in chunked.chunks:
        indices = chunk.indices
        missing += indices.null_count
        present = pc.drop_null(indices).to_numpy(zero_copy_only=False)
        totals += np.bincount(present, minlength=len(dictionary))
    counted: dict = {}
    for value, count in zip(dictionary.to_pylist(), totals.tolist(), strict=True):
        if count == 0:
            continue
        if value is None:  # a null kept in the dictionary is a missing value too
            missing += count
        else:
            counted[value] = counted.get(value, 0) + count
    return _Counts(counted, len(chunked) - missing, missing)


def _counts_of_numbers(sample: _Numbers) -> _Counts:
    values, counts = np.unique(sample.values, return_counts=True)
    return _Counts(
        dict(zip(values.tolist(), counts.tolist(), strict=True)), sample.values.size, sample.missing
    )


# --- Statistics ----------------------------------------------------------------------------


def wasserstein_sorted(u: np.ndarray, v: np.ndarray) -> float:
    """The first Wasserstein distance of two sorted samples, as ``scipy.stats.
    wasserstein_distance`` gives it: the integral of the distance between their quantile
    functions, whose steps lie at i/n and j/m, merged by arithmetic, not by sorting."""
    n, m = u.size, v.size
    if n == m:
        return float(np.mean(np.abs(u - v)))
    # The steps on a common scale: i/n is i*m, j/m is j*n (out of n*m).
    steps_v = np.arange(1, m + 1, dtype=np.int64) * n
    # Where each of v's steps falls among all steps: after the u steps at or below it.
    at = np.arange(m, dtype=np.int64) + steps_v // m
    merged = np.empty(n + m, dtype=np.int64)
    is_v = np.zeros(n + m, dtype=bool)
    is_v[at] = True
    merged[at] = steps_v
    merged[~is_v] = np.arange(1, n + 1, dtype=np.int64) * m
    # On the interval ending at step t, each quantile function is its sample's value at
    # ceil(t * size) - 1.
    iu = (merged + (m - 1)) // m - 1
    iv = (merged + (n - 1)) // n - 1
    widths = np.diff(merged, prepend=0)
    return float(np.dot(widths, np.abs(u[iu] - v[iv])) / (n * m))


def _sturges_edges(low: float, high: float, size: int) -> np.ndarray:
    """``numpy.histogram_bin_edges(values, "sturges")`` of values from ``low`` to
    ``high``, ``size`` of them, from those three numbers alone."""
    # As NumPy: the width from the values' range, the bins over the edges' (widened by
    # half on each side when every value is the same).
    width = (high - low) / (np.log2(size) + 1.0)
    if low == high:
        low, high = low - 0.5, high + 0.5
    bins = int(np.ceil((high - low) / width)) if width else 1
    return np.linspace(low, high, bins + 1, endpoint=True)


def _binned(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``numpy.histogram(values, edges)[0]`` of sorted values: each bin holds its left
    edge, the last one its right edge too."""
    cuts = np.searchsorted(sorted_values, edges, side="left")
    cuts[-1] = np.searchsorted(sorted_values, edges[-1], side="right")
    return np.diff(cuts)


def _filled(shares: np.ndarray) -> np.ndarray:
    """Empty shares made a ten-thousandth (or a millionth of the smallest, when that is
    smaller), as Evidently does before dividing by them."""
    shares = shares.astype(np.float64, copy=True)
    empty = shares == 0
    if empty.any():
        smallest = shares[~empty].min()
        shares[empty] = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return shares


def _psi(reference: np.ndarray, current: np.ndarray) -> float:
    r, c = _filled(reference), _filled(current)
    return float(np.sum((r - c) * np.log(r / c)))


def _aligned(ref: _Counts, cur: _Counts) -> tuple[list, np.ndarray, np.ndarray]:
    """The values of both samples, with each sample's count of each."""
    keys = list(ref.counts.keys() | cur.counts.keys())
    try:
        keys.sort()
    except TypeError:  # values of mixed types: any fixed order will do
        keys.sort(key=repr)
    r = np.array([ref.counts.get(k, 0) for k in keys], dtype=np.float64)
    c = np.array([cur.counts.get(k, 0) for k in keys], dtype=np.float64)
    return keys, r, c


def _chisquare(ref: _Counts, cur: _Counts) -> float:
    _, r, c = _aligned(ref, cur)
    expected = r * (cur.size / ref.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(stats.chisquare(c, expected)[1])


def _z(ref: _Counts, cur: _Counts) -> float:
    keys, r, c = _aligned(ref, cur)
    if len(keys) == 1:
        return 1.0
    # The share of values other than the first, in each sample.
    p1, p2 = (ref.size - r[0]) / ref.size, (cur.size - c[0]) / cur.size
    pooled = (p1 * ref.size + p2 * cur.size) / (ref.size + cur.size)
    z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / ref.size + 1.0 / cur.size))
    return float(2 * (1 - stats.norm.cdf(np.abs(z))))


def _jensenshannon(reference: np.ndarray, current: np.ndarray) -> float:
    return float(distance.jensenshannon(reference, current))


# --- One column ------------------------------------------------------------------------------


def _drifts(method: str, statistic: float, threshold: float) -> bool:
    if method == KS:
        return statistic <= threshold
    if method in P_VALUE_TESTS:
        return statistic < threshold
    return statistic >= threshold


def _label(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _value_histogram(keys: list, r: np.ndarray, c: np.ndarray) -> Histogram:
    rs, cs = r / r.sum(), c / c.sum()
    order = np.argsort(-(rs + cs), kind="stable")
    shown, rest = order[:SHOWN_CATEGORIES], order[SHOWN_CATEGORIES:]
    labels = [_label(keys[i]) for i in shown]
    ref_shares, cur_shares = rs[shown].tolist(), cs[shown].tolist()
    if rest.size:
        labels.append(f"{rest.size:,} other values")
        ref_shares.append(float(rs[rest].sum()))
        cur_shares.append(float(cs[rest].sum()))
    return Histogram(tuple(labels), tuple(ref_shares), tuple(cur_shares))


def _numeric(column: str, ref: _Numbers, cur: _Numbers, rule: Rule | None) -> ColumnDrift:
    u, v = ref.values, cur.values
    ref_distinct = ref.distinct
    # Distinct values of both together: more than five when either sample has that many.
    if ref_distinct > FEW_VALUES or cur.distinct > FEW_VALUES:
        distinct = FEW_VALUES + 1
    else:
        distinct = np.union1d(np.unique(u), np.unique(v)).size
    small = u.size <= SMALL_REFERENCE
    if distinct > FEW_VALUES:
        default = KS if small else WASSERSTEIN
    else:
        default = (CHISQUARE if distinct > 2 else Z) if small else JENSENSHANNON
    method = rule.method if rule else default
    # Shares: over Sturges bins of both samples for a reference with many values, else
    # over the values themselves.
    if ref_distinct > BINNED_ABOVE:
        edges = _sturges_edges(min(u[0], v[0]), max(u[-1], v[-1]), u.size + v.size)
        r, c = _binned(u, edges).astype(np.float64), _binned(v, edges).astype(np.float64)
        histogram = Histogram(
            tuple(f"{a:g} to {b:g}" for a, b in pairwise(edges)),
            tuple((r / u.size).tolist()),
            tuple((c / v.size).tolist()),
            tuple(edges.tolist()),
        )
        r_shares, c_shares = r / u.size, c / v.size
    else:
        keys, r, c = _aligned(_counts_of_numbers(ref), _counts_of_numbers(cur))
        histogram = _value_histogram(keys, r, c)
        r_shares, c_shares = r / u.size, c / v.size
    if method == KS:
        statistic = float(stats.ks_2samp(u, v)[1])
    elif method == WASSERSTEIN:
        statistic = wasserstein_sorted(u, v) / max(float(np.std(u)), 0.001)
    elif method == JENSENSHANNON:
        statistic = _jensenshannon(r_shares, c_shares)
    elif method == PSI:
        statistic = _psi(r_shares, c_shares)
    elif method == CHISQUARE:
        statistic = _chisquare(_counts_of_numbers(ref), _counts_of_numbers(cur))
    else:
        statistic = _z(_counts_of_numbers(ref), _counts_of_numbers(cur))
    return _result(
        column, NUMERIC, method, statistic, rule, _psi(r_shares, c_shares), ref, cur, histogram
    )


def _categorical(column: str, ref: _Counts, cur: _Counts, rule: Rule | None) -> ColumnDrift:
    keys, r, c = _aligned(ref, cur)
    small = ref.size <= SMALL_REFERENCE
    default = (CHISQUARE if len(keys) > 2 else Z) if small else JENSENSHANNON
    method = rule.method if rule else default
    r_shares, c_shares = r / ref.size, c / cur.size
    if method == CHISQUARE:
        statistic = _chisquare(ref, cur)
    elif method == Z:
        statistic = _z(ref, cur)
    elif method == JENSENSHANNON:
        statistic = _jensenshannon(r_shares, c_shares)
    else:
        statistic = _psi(r_shares, c_shares)
    histogram = _value_histogram(keys, r, c)
    return _result(
        column, CATEGORICAL, method, statistic, rule, _psi(r_shares, c_shares), ref, cur, histogram
    )


def _result(
    column: str,
    kind: str,
    method: str,
    statistic: float,
    rule: Rule | None,
    psi: float,
    ref: _Numbers | _Counts,
    cur: _Numbers | _Counts,
    histogram: Histogram,
) -> ColumnDrift:
    ruled = rule is not None and rule.threshold is not None
    threshold = rule.threshold if ruled else DEFAULT_THRESHOLDS[method]
    size = (lambda s: s.values.size) if kind == NUMERIC else (lambda s: s.size)
    return ColumnDrift(
        column=column,
        kind=kind,
        method=method,
        statistic=statistic,
        threshold=float(threshold),
        drifted=bool(_drifts(method, statistic, threshold)),
        psi=psi,
        reference_count=size(ref),
        current_count=size(cur),
        reference_missing=ref.missing,
        current_missing=cur.missing,
        histogram=histogram,
        ruled=rule is not None,
    )


def check_rule(column: str, kind: str, rule: Rule | None) -> None:
    """Refuse a rule whose test does not fit a column of ``kind``, or whose threshold is
    not one the test can have."""
    if rule is None:
        return
    if rule.method not in METHODS[kind]:
        raise DriftError(
            f"Column {column!r} is {kind}: its test is one of {', '.join(METHODS[kind])}, "
            f"not {rule.method!r}."
        )
    if rule.threshold is not None and not (
        isinstance(rule.threshold, int | float)
        and not isinstance(rule.threshold, bool)
        and math.isfinite(rule.threshold)
        and rule.threshold > 0
        and (rule.method not in P_VALUE_TESTS or rule.threshold < 1)
    ):
        raise DriftError(
            f"Column {column!r}: the threshold of {rule.method} is a positive number"
            + (" below 1 (a p-value)" if rule.method in P_VALUE_TESTS else "")
            + f", not {rule.threshold!r}."
        )


def column_drift(
    column: str, reference: Any, current: Any, *, kind: str, rule: Rule | None = None
) -> ColumnDrift:
    """One column's drift: ``reference`` and ``current`` are 1-D arrays (NumPy or
    PyArrow); missing and infinite values are counted and left out."""
    if kind not in KINDS:
        raise DriftError(f"Column {column!r}: a column is {' or '.join(KINDS)}, not {kind!r}.")
    check_rule(column, kind, rule)
    if kind == NUMERIC:
        ref, cur = (
            _numbers(reference, column, "reference"),
            _numbers(current, column, "current period"),
        )
        empty = [
            side for side, s in (("reference", ref), ("current period", cur)) if not s.values.size
        ]
    else:
        ref, cur = _counts(reference), _counts(current)
        empty = [side for side, s in (("reference", ref), ("current period", cur)) if not s.size]
        if ref.size and cur.size:
            _check_same_type(column, reference, current)
    if empty:
        raise DriftError(
            f"Column {column!r} has no values in the {' and the '.join(empty)}: all missing."
        )
    if kind == NUMERIC:
        return _numeric(column, ref, cur, rule)
    return _categorical(column, ref, cur, rule)


def _arrow_type(raw: Any) -> pa.DataType | None:
    if isinstance(raw, pa.ChunkedArray | pa.Array):
        kind = raw.type
        return kind.value_type if pa.types.is_dictionary(kind) else kind
    return None


def _family(kind: pa.DataType) -> str:
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return "numbers"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "text"
    return str(kind)


def _check_same_type(column: str, reference: Any, current: Any) -> None:
    a, b = _arrow_type(reference), _arrow_type(current)
    if a is not None and b is not None and _family(a) != _family(b):
        raise DriftError(
            f"Column {column!r} holds {_family(a)} in the reference and {_family(b)} in the "
            "current period: did its type change?"
        )


def dataset_drift(
    reference: Mapping[str, Any],
    current: Mapping[str, Any],
    *,
    kinds: Mapping[str, str],
    rules: Mapping[str, Rule] | None = None,
    drift_share: float = DEFAULT_DRIFT_SHARE,
    columns: Sequence[str] | None = None,
) -> DatasetDrift:
    """Every column of ``kinds`` (or of ``columns``) compared, and the table's verdict:
    drifted when at least ``drift_share`` of its columns drifted."""
    names = list(columns if columns is not None else kinds)
    if not names:
        raise DriftError("Name at least one column to compare.")
    if not 0 < drift_share <= 1:
        raise DriftError(
            "The share of drifted columns that makes the table drift is in (0, 1], "
            f"not {drift_share!r}."
        )
    missing = {
        side: [n for n in names if n not in data]
        for side, data in (("reference", reference), ("current period", current))
    }
    problems = [
        f"the {side} has no column {', '.join(map(repr, cols))}"
        for side, cols in missing.items()
        if cols
    ]
    unknown = [n for n in names if n not in kinds]
    if unknown:
        problems.append(f"no kind is given for {', '.join(map(repr, unknown))}")
    if problems:
        raise DriftError("Cannot compare: " + "; ".join(problems) + ".")
    rules = rules or {}

    def one(name: str) -> ColumnDrift:
        return column_drift(
            name, reference[name], current[name], kind=kinds[name], rule=rules.get(name)
        )

    # NumPy's sorts and Arrow's counts release the GIL: columns run side by side on the
    # machine's cores. map() keeps the columns' order and raises the first column's error.
    workers = min(len(names), os.cpu_count() or 1)
    if workers == 1:
        return DatasetDrift(tuple(map(one, names)), float(drift_share))
    with ThreadPoolExecutor(workers) as pool:
        return DatasetDrift(tuple(pool.map(one, names)), float(drift_share))
