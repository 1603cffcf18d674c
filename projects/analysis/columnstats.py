"""Per-column accumulators for :mod:`projects.analysis.profile`, one record batch at a time.

Each keeps a fixed amount of memory however many rows it sees; ``result()`` returns the
fields of a :class:`~projects.analysis.profile.ColumnProfile` as a dict. No Django import here.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from projects.analysis.sketches import HyperLogLog, Reservoir, hash_values

PERCENTILES = (("p05", 0.05), ("p25", 0.25), ("p50", 0.50), ("p75", 0.75), ("p95", 0.95))
#: Non-missing values per numeric column kept whole; quantiles are exact up to this many.
EXACT_VALUES = 100_000
#: Distinct values per column counted exactly; past this the count is a HyperLogLog estimate.
EXACT_DISTINCT = 10_000
#: Widest span (max - min + 1) of an integer column counted value by value, exactly.
SPAN = 1 << 16
#: Heavy-hitter candidates kept for a categorical column past ``EXACT_DISTINCT``.
CANDIDATES = 1_000
#: Most values a sensitive feature, or a label read as classes, may have.
CLASS_LIMIT = 1_000


def _json_value(value):
    """A label or group value as JSON: bool, int, str and finite float pass, the rest as text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)


def _floats(arr: pa.Array) -> np.ndarray:
    """The column as float64 with NaN for missing (zero-copy for float64 without nulls)."""
    if not pa.types.is_float64(arr.type):
        arr = pc.cast(arr, pa.float64(), safe=False)
    return arr.to_numpy(zero_copy_only=False)


def _value_counts(arr: pa.Array) -> pa.Table:
    """Non-missing values of ``arr`` with their counts (NaN counts as missing)."""
    counted = pc.value_counts(arr)
    table = pa.table({"value": counted.field("values"), "count": counted.field("counts")})
    if pa.types.is_floating(arr.type):
        return table.filter(pc.invert(pc.is_nan(table["value"])))  # also drops the null
    return table.filter(pc.is_valid(table["value"]))


def _merge_counts(left: pa.Table | None, right: pa.Table) -> pa.Table:
    if left is None or left.num_rows == 0:
        return right
    if right.num_rows == 0:
        return left
    summed = pa.concat_tables([left, right]).group_by("value").aggregate([("count", "sum")])
    return pa.table({"value": summed["value"], "count": summed["count_sum"]})


def _prune(table: pa.Table, size: int) -> pa.Table:
    """Misra-Gries: subtract the (size + 1)-th largest count from all, keep what stays positive.

    An item whose true frequency exceeds n / (size + 1) always survives.
    """
    if table.num_rows <= size:
        return table
    counts = table["count"].to_numpy()
    cut = np.partition(counts, -(size + 1))[-(size + 1)]
    kept = table.filter(pa.array(counts > cut))
    return pa.table({"value": kept["value"], "count": pc.subtract(kept["count"], int(cut))})


def _nan_count(arr: pa.Array) -> int:
    if pa.types.is_floating(arr.type):
        return int(pc.sum(pc.is_nan(arr)).as_py() or 0)
    return 0


class Distinct:
    """Distinct values: exact up to ``EXACT_DISTINCT``, then a HyperLogLog."""

    def __init__(self) -> None:
        self.exact: pa.Array | None = None
        self.pending: list[pa.Array] = []
        self.pending_size = 0
        self.hll: HyperLogLog | None = None

    def add(self, arr: pa.Array) -> None:
        if self.hll is not None:
            # The sketch ignores repeats, so hashing every value costs less than deduplicating.
            self.hll.add(hash_values(arr))
            return
        self.seed(pc.unique(arr))

    def seed(self, uniques: pa.Array) -> None:
        """Add values known to be distinct among themselves."""
        self.pending.append(uniques)
        self.pending_size += len(uniques)
        # Merge the batches' unique values into the set only once they outnumber it, so the
        # cost stays proportional to the data rather than to the set size times the batches.
        if self.pending_size > max(0 if self.exact is None else len(self.exact), 1 << 14):
            self._merge()

    def _merge(self) -> None:
        parts = ([self.exact] if self.exact is not None else []) + self.pending
        self.pending, self.pending_size = [], 0
        if not parts:
            return
        merged = pc.unique(pa.concat_arrays(parts))
        if pa.types.is_floating(merged.type):
            merged = merged.filter(pc.invert(pc.is_nan(merged)))
        elif merged.null_count:
            merged = pc.drop_null(merged)
        if len(merged) <= EXACT_DISTINCT:
            self.exact = merged
            return
        self.hll = HyperLogLog()
        self.hll.add(hash_values(merged))
        self.exact = None

    def result(self) -> tuple[int, bool]:
        if self.hll is None:
            self._merge()
        if self.hll is not None:
            return self.hll.estimate(), False
        return (0 if self.exact is None else len(self.exact)), True


class SpanCounts:
    """Exact counts per value of integers within ``SPAN`` of each other.

    Ages, years, counts and codes usually fit: their quantiles, histogram and distinct
    count then come out exact at the cost of one ``bincount`` per batch.
    """

    def __init__(self) -> None:
        self.base = 0
        self.counts = np.zeros(0, dtype=np.int64)

    def add(self, ints: np.ndarray) -> bool:
        """Count ``ints``; False (counting nothing) when they would widen the span too far."""
        if ints.size == 0:
            return True
        low, high = int(ints.min()), int(ints.max())
        if self.counts.size:
            low, high = min(low, self.base), max(high, self.base + self.counts.size - 1)
        if high - low >= SPAN:
            return False
        if low != self.base or high - low + 1 > self.counts.size:
            grown = np.zeros(high - low + 1, dtype=np.int64)
            grown[self.base - low : self.base - low + self.counts.size] = self.counts
            self.base, self.counts = low, grown
        self.counts += np.bincount((ints - low).astype(np.intp), minlength=self.counts.size)
        return True

    def values(self) -> tuple[np.ndarray, np.ndarray]:
        """The values seen, ascending, as float64, and how often each was seen."""
        seen = np.flatnonzero(self.counts)
        return (seen + self.base).astype(np.float64), self.counts[seen]


def _quantiles_of_counts(values: np.ndarray, counts: np.ndarray) -> list[float]:
    """numpy's linear quantiles of the multiset ``values`` x ``counts``, without expanding it."""
    ends = np.cumsum(counts)  # ends[i]: how many items are <= values[i]
    n = int(ends[-1])
    out = []
    for _, p in PERCENTILES:
        h = (n - 1) * p
        below = math.floor(h)
        a = values[np.searchsorted(ends, below, side="right")]
        b = values[np.searchsorted(ends, min(below + 1, n - 1), side="right")]
        t = h - below
        # The same two-sided interpolation as numpy's _lerp.
        out.append(float(b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t))
    return out


class NumericStats:
    def __init__(self, seed: int, integer: bool = False) -> None:
        self.count = self.missing = 0
        self.mean = self.m2 = 0.0
        self.low, self.high = math.inf, -math.inf
        self.span: SpanCounts | None = SpanCounts() if integer else None
        self.values = Reservoir(EXACT_VALUES, seed=seed)
        self.distinct = Distinct()
        self.hist: np.ndarray | None = None

    def update(self, arr: pa.Array) -> None:
        present = pc.drop_null(arr) if arr.null_count else arr
        self.missing += arr.null_count
        if pa.types.is_floating(present.type) or pa.types.is_integer(present.type):
            values = present.to_numpy().astype(np.float64, copy=False)
        else:
            values = _floats(present)
        total = float(values.sum())
        if math.isnan(total):  # NaN (possible in Parquet input) counts as missing, as in pandas
            nan = np.isnan(values)
            self.missing += int(np.count_nonzero(nan))
            values = values[~nan]
            total = float(values.sum())
        n = values.size
        if n == 0:
            return
        # Chan et al.: merge this batch's mean and sum of squared deviations into the totals.
        batch_mean = total / n
        centred = values - batch_mean
        # Not np.dot: BLAS would wake its own threads, which spin on every small batch.
        batch_m2 = float(np.square(centred, out=centred).sum())
        count = self.count + n
        delta = batch_mean - self.mean
        self.mean += delta * n / count
        self.m2 += batch_m2 + delta * delta * self.count * n / count
        self.count = count
        self.low = min(self.low, float(values.min()))
        self.high = max(self.high, float(values.max()))
        if self.span is not None:
            if self.span.add(present.to_numpy()):
                return
            self._leave_span(present.type)
        self.values.add(values)
        self.distinct.add(present)

    def _leave_span(self, dtype: pa.DataType) -> None:
        """The integers spread too wide to count one by one: carry on with the sketches."""
        assert self.span is not None
        values, counts = self.span.values()
        self.values.start_from_counts(values, counts)
        self.distinct.seed(pa.array(values.astype(np.int64)).cast(dtype))
        self.span = None

    def needs_second_pass(self) -> bool:
        return self.span is None and not self.values.exact and self._binnable()

    def _binnable(self) -> bool:
        return self.count > 0 and math.isfinite(self.low) and math.isfinite(self.high)

    def second_pass(self, arr: pa.Array, bins: int) -> None:
        x = _floats(arr)
        x = x[~np.isnan(x)]
        counts, _ = np.histogram(x, bins=bins, range=(self.low, self.high))
        self.hist = counts if self.hist is None else self.hist + counts

    def result(self, name: str, dtype: str, rows: int, bins: int) -> dict:
        if self.span is not None:
            values, counts = self.span.values()
            distinct, distinct_exact = values.size, True
        else:
            distinct, distinct_exact = self.distinct.result()
        base = dict(
            name=name,
            kind="numeric",
            dtype=dtype,
            count=self.count,
            missing=self.missing,
            missing_share=self.missing / rows if rows else 0.0,
            distinct=distinct,
            distinct_exact=distinct_exact,
        )
        if self.count == 0:
            return base
        edges_range = (self.low, self.high)
        if self.span is not None:
            quantiles = _quantiles_of_counts(values, counts)
            weighted, edges = np.histogram(values, bins=bins, range=edges_range, weights=counts)
            hist = weighted.astype(np.int64)
        else:
            sample = self.values.sample()
            quantiles = np.quantile(sample, [p for _, p in PERCENTILES]).tolist()
            hist, edges = self.hist, None
            if self._binnable():
                if hist is None:  # every value is in the reservoir: bin it directly
                    hist, edges = np.histogram(sample, bins=bins, range=edges_range)
                else:
                    edges = np.histogram_bin_edges(sample, bins=bins, range=edges_range)
        histogram = None
        if self._binnable() and hist is not None and edges is not None:
            histogram = tuple(
                (float(edges[i]), float(edges[i + 1]), int(hist[i])) for i in range(len(hist))
            )
        return dict(
            **base,
            min=self.low,
            max=self.high,
            mean=self.mean,
            std=math.sqrt(self.m2 / (self.count - 1)) if self.count > 1 else None,
            quantiles={key: float(q) for (key, _), q in zip(PERCENTILES, quantiles, strict=True)},
            quantiles_exact=self.span is not None or self.values.exact,
            histogram=histogram,
        )


class ExactCounts:
    """Exact value counts while there are at most ``limit`` distinct values.

    Values are looked up in the set known so far (``index_in``) and tallied with
    ``bincount``; only values not seen before go through a hash table of their own.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.known: pa.Array | None = None
        self.counts = np.zeros(0, dtype=np.int64)
        self.too_many = False

    def update(self, arr: pa.Array) -> bool:
        """Count ``arr``'s non-missing values; False once there are too many distinct ones."""
        if self.too_many:
            return False
        if self.known is None:
            first = _drop_missing(pc.unique(arr))
            if len(first) > self.limit:
                self.too_many = True
                return False
            self.known = first
        index = pc.index_in(arr, value_set=self.known)
        unseen = index.null_count - arr.null_count
        if unseen > 0:
            fresh = _drop_missing(pc.unique(arr.filter(pc.is_null(index))))
            if len(self.known) + len(fresh) > self.limit:
                self.too_many = True  # the counts so far stay, for the caller to carry on
                return False
            self.known = pa.concat_arrays([self.known, fresh])
            index = pc.index_in(arr, value_set=self.known)
        size = len(self.known)
        tally = np.bincount(pc.fill_null(index, size).to_numpy(), minlength=size + 1)
        self.counts = np.pad(self.counts, (0, size - self.counts.size)) + tally[:size]
        return True

    def table(self) -> pa.Table:
        """Values and counts, most frequent first, ties by value."""
        if self.known is None or len(self.known) == 0:
            return pa.table({"value": pa.array([], pa.null()), "count": pa.array([], pa.int64())})
        table = pa.table({"value": self.known, "count": pa.array(self.counts)})
        table = table.filter(pc.greater(table["count"], 0))
        return table.sort_by([("count", "descending"), ("value", "ascending")])


def _drop_missing(arr: pa.Array) -> pa.Array:
    if pa.types.is_floating(arr.type):
        return arr.filter(pc.invert(pc.is_nan(arr)))  # drops nulls too
    return pc.drop_null(arr) if arr.null_count else arr


class CategoricalStats:
    def __init__(self) -> None:
        self.count = self.missing = 0
        self.exact: ExactCounts | None = ExactCounts(EXACT_DISTINCT)
        self.candidates: pa.Table | None = None  # Misra-Gries summary past the limit
        self.recount: pa.Table | None = None  # exact counts of the candidates (second pass)
        self.hll: HyperLogLog | None = None

    def update(self, arr: pa.Array) -> None:
        self.missing += arr.null_count
        self.count += len(arr) - arr.null_count
        if self.exact is not None:
            if self.exact.update(arr):
                return
            # Too many values to count exactly: carry the counts so far into the sketch and
            # the heavy-hitter summary, then go on with those.
            seen = self.exact.table()
            self.exact = None
            self.hll = HyperLogLog()
            self.hll.add(hash_values(seen["value"].combine_chunks()))
            self.candidates = _prune(seen, CANDIDATES)
        assert self.hll is not None
        counted = _value_counts(arr)
        self.hll.add(hash_values(counted["value"].combine_chunks()))
        self.candidates = _prune(_merge_counts(self.candidates, counted), CANDIDATES)

    def needs_second_pass(self) -> bool:
        return self.hll is not None

    def second_pass(self, arr: pa.Array) -> None:
        assert self.candidates is not None
        wanted = arr.filter(pc.is_in(arr, value_set=self.candidates["value"].combine_chunks()))
        self.recount = _merge_counts(self.recount, _value_counts(wanted))

    def result(self, name: str, kind: str, dtype: str, rows: int, top: int) -> dict:
        if self.exact is not None:
            ranked = self.exact.table()
            distinct, exact = ranked.num_rows, True
        else:
            assert self.hll is not None
            distinct, exact = self.hll.estimate(), False
            recount = self.recount
            if recount is None:
                recount = _value_counts(pa.array([], pa.string()))
            ranked = recount.sort_by([("count", "descending"), ("value", "ascending")])
        ranked = ranked.slice(0, top)
        best = tuple(
            (str(v), int(n))
            for v, n in zip(ranked["value"].to_pylist(), ranked["count"].to_pylist(), strict=True)
        )
        return dict(
            name=name,
            kind=kind,
            dtype=dtype,
            count=self.count,
            missing=self.missing,
            missing_share=self.missing / rows if rows else 0.0,
            distinct=distinct,
            distinct_exact=exact,
            top=best,
        )


class OtherStats:
    """Datetime and other flat types: counts and distinct values only."""

    def __init__(self) -> None:
        self.count = self.missing = 0
        self.distinct = Distinct()

    def update(self, arr: pa.Array) -> None:
        self.missing += arr.null_count
        self.count += len(arr) - arr.null_count
        if not pa.types.is_null(arr.type):
            self.distinct.add(arr)

    def result(self, name: str, kind: str, dtype: str, rows: int) -> dict:
        distinct, exact = self.distinct.result()
        return dict(
            name=name,
            kind=kind,
            dtype=dtype,
            count=self.count,
            missing=self.missing,
            missing_share=self.missing / rows if rows else 0.0,
            distinct=distinct,
            distinct_exact=exact,
        )


class ClassCounts:
    """Exact counts of a label or sensitive column, given up past ``CLASS_LIMIT`` values."""

    def __init__(self, dtype: pa.DataType) -> None:
        self.dtype = dtype
        self.exact = ExactCounts(CLASS_LIMIT)
        self.missing = 0
        self.fractional = False  # a float label with non-whole values is a regression target

    @property
    def too_many(self) -> bool:
        return self.exact.too_many

    def update(self, arr: pa.Array) -> None:
        self.missing += arr.null_count + _nan_count(arr)
        if self.exact.update(arr) and pa.types.is_floating(self.dtype) and not self.fractional:
            values = self.exact.known.to_numpy() if self.exact.known is not None else np.zeros(0)
            self.fractional = bool(np.any(values != np.floor(values)))

    def ranked(self) -> list[tuple[object, int]]:
        ranked = self.exact.table()
        return [
            (_json_value(v), int(n))
            for v, n in zip(ranked["value"].to_pylist(), ranked["count"].to_pylist(), strict=True)
        ]
