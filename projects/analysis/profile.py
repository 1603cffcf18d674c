"""A data profile built one record batch at a time, in memory that does not grow with rows.

:class:`ProfileBuilder` takes arrow record batches (from :mod:`projects.analysis.tabular`)
and keeps, per column (the accumulators are in :mod:`projects.analysis.columnstats`):

- numeric: count, missing (null or NaN, as in pandas), min, max, and mean and variance
  merged batch by batch with Chan's formula (numerically stable: it agrees with a two-pass
  computation to ~1e-12). Integers within a span of ``SPAN`` values (ages, years, counts,
  codes) are counted value by value, so their quantiles, histogram and distinct count are
  exact at any length. Other columns keep a :class:`~projects.analysis.sketches.Reservoir`:
  every value up to ``EXACT_VALUES`` (quantiles exact), a uniform sample of that size
  beyond, whose quantiles are within ``sqrt(ln(2 / delta) / (2 * EXACT_VALUES))`` in rank
  with probability ``1 - delta`` (0.6 percentile points at delta = 0.001). Distinct values
  are counted exactly up to ``EXACT_DISTINCT``, then by HyperLogLog (relative standard
  error 0.4%, under 1% throughout);
- categorical / boolean: exact value counts up to ``EXACT_DISTINCT`` distinct values;
  beyond that a HyperLogLog for the distinct count and a Misra-Gries summary of
  ``CANDIDATES`` heavy hitters, whose counts a second pass over the converted Parquet file
  makes exact. Every value more frequent than 1 / (``CANDIDATES`` + 1) of the rows is
  among them, so the reported top values and their counts are exact whenever the top
  values are at least that frequent;
- datetime / other: count, missing, distinct (exact, then HyperLogLog).

Histogram edges follow numpy (``bins`` equal bins from min to max), so they need the final
min and max: a column kept only as a sample is binned in that second pass
(``second_pass_columns`` / ``second_pass``), and its counts are exact too. Label and
sensitive-feature counts are always exact. No Django import here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from projects.analysis.columnstats import (
    CategoricalStats,
    ClassCounts,
    NumericStats,
    OtherStats,
)
from projects.analysis.csvscan import DEFAULT_LIMITS, ReadLimits


@dataclass(frozen=True)
class ProfileOptions:
    """What to profile and how to read the file.

    ``encoding`` and ``delimiter`` apply to CSV (``delimiter=None`` detects comma,
    semicolon, tab or pipe). ``batch_bytes`` is the size of the CSV chunks parsed at a time;
    memory follows it, not the file. 1 MiB measured best: larger chunks parse a little
    faster but the parser's scratch memory grows about tenfold with them. ``limits`` caps
    what the file may expand to, its rows and its line length.
    """

    label_column: str | None = None
    sensitive_columns: tuple[str, ...] = ()
    encoding: str = "utf-8"
    delimiter: str | None = None
    rare_class_share: float = 0.01
    small_group_size: int = 30
    top_categories: int = 10
    histogram_bins: int = 20
    batch_bytes: int = 1 << 20
    limits: ReadLimits = DEFAULT_LIMITS


@dataclass(frozen=True)
class ColumnProfile:
    name: str
    kind: str
    dtype: str
    count: int
    missing: int
    missing_share: float
    distinct: int
    distinct_exact: bool
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None
    quantiles: dict[str, float] | None = None
    quantiles_exact: bool = True
    histogram: tuple[tuple[float, float, int], ...] | None = None
    top: tuple[tuple[str, int], ...] | None = None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "dtype": self.dtype,
            "count": self.count,
            "missing": self.missing,
            "missing_share": _finite(self.missing_share),
            "distinct": self.distinct,
            "distinct_exact": self.distinct_exact,
            "min": _finite(self.min),
            "max": _finite(self.max),
            "mean": _finite(self.mean),
            "std": _finite(self.std),
            "quantiles": (
                None
                if self.quantiles is None
                else {key: _finite(value) for key, value in self.quantiles.items()}
            ),
            "quantiles_exact": self.quantiles_exact,
            "histogram": (
                None
                if self.histogram is None
                else [[_finite(lo), _finite(hi), n] for lo, hi, n in self.histogram]
            ),
            "top": None if self.top is None else [[value, n] for value, n in self.top],
        }


@dataclass(frozen=True)
class Profile:
    """The profile of a whole file.

    ``label`` (None without a label column) is ``{"column", "kind", "classes", "missing",
    "single_class"}``. A label is read as classes (``kind`` "categorical", ``classes`` a
    list of ``{"value", "count", "share", "rare"}``, most frequent first, shares of the
    labelled rows) unless it is a regression target: a float column with fractional values,
    or a numeric column with more than ``CLASS_LIMIT`` values. Then ``kind`` is "numeric"
    and ``classes`` None. A text label with more values than that is refused as bad data.
    ``groups`` maps each sensitive column to ``{"value", "count", "share", "small"}`` per
    value (shares of all rows), with missing values last as value None.
    """

    rows: int
    columns: tuple[ColumnProfile, ...]
    label: dict | None
    groups: dict[str, list]

    @property
    def schema(self) -> list[dict]:
        return [{"name": c.name, "kind": c.kind, "dtype": c.dtype} for c in self.columns]

    def to_dict(self) -> dict:
        return {
            "rows": self.rows,
            "columns": [column.to_dict() for column in self.columns],
            "label": _json_safe(self.label),
            "groups": _json_safe(self.groups),
        }


def column_kind(dtype: pa.DataType) -> str:
    if pa.types.is_dictionary(dtype):
        return column_kind(dtype.value_type)
    if pa.types.is_boolean(dtype):
        return "boolean"
    if pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        return "numeric"
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or _is_string_view(dtype):
        return "categorical"
    if pa.types.is_timestamp(dtype) or pa.types.is_date(dtype) or pa.types.is_time(dtype):
        return "datetime"
    return "other"


def _is_string_view(dtype: pa.DataType) -> bool:
    return pa.types.is_string_view(dtype)


def _finite(value: float | None) -> float | None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return value


def _json_safe(value):
    if isinstance(value, float):
        return _finite(value)
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


class ProfileBuilder:
    """Feed record batches of one fixed schema to ``update``; ``finish`` returns the profile."""

    def __init__(self, schema: pa.Schema, options: ProfileOptions) -> None:
        self.schema = schema
        self.options = options
        self.rows = 0
        self.kinds = [column_kind(field.type) for field in schema]
        self.stats: list[NumericStats | CategoricalStats | OtherStats] = []
        for index, kind in enumerate(self.kinds):
            if kind == "numeric":
                integer = pa.types.is_integer(schema.field(index).type)
                self.stats.append(NumericStats(seed=index, integer=integer))
            elif kind in ("categorical", "boolean"):
                self.stats.append(CategoricalStats())
            else:
                self.stats.append(OtherStats())
        watched = [options.label_column] if options.label_column else []
        watched += [c for c in options.sensitive_columns if c not in watched]
        self.classes = {name: ClassCounts(schema.field(name).type) for name in watched}

    def update(self, batch: pa.RecordBatch) -> None:
        self.rows += batch.num_rows
        with np.errstate(invalid="ignore", over="ignore"):
            for column, stats in zip(batch.columns, self.stats, strict=True):
                stats.update(column)
            for name, counts in self.classes.items():
                counts.update(batch.column(name))

    def too_many_values(self) -> str | None:
        """The first label or sensitive column past ``CLASS_LIMIT`` values that must not be."""
        for name, counts in self.classes.items():
            if not counts.too_many:
                continue
            is_label = name == self.options.label_column
            if not is_label or column_kind(counts.dtype) != "numeric":
                return name
        return None

    def second_pass_columns(self) -> list[str]:
        return [
            field.name
            for field, stats in zip(self.schema, self.stats, strict=True)
            if isinstance(stats, NumericStats | CategoricalStats) and stats.needs_second_pass()
        ]

    def second_pass(self, batch: pa.RecordBatch) -> None:
        for name, arr in zip(batch.schema.names, batch.columns, strict=True):
            stats = self.stats[self.schema.get_field_index(name)]
            if isinstance(stats, NumericStats):
                stats.second_pass(arr, self.options.histogram_bins)
            elif isinstance(stats, CategoricalStats):
                stats.second_pass(arr)

    def finish(self) -> Profile:
        opts = self.options
        columns = []
        # Infinite values give NaN means and spreads, as in pandas: not worth a warning.
        with np.errstate(invalid="ignore", over="ignore"):
            for field, kind, stats in zip(self.schema, self.kinds, self.stats, strict=True):
                name, dtype = field.name, str(field.type)
                if isinstance(stats, NumericStats):
                    fields = stats.result(name, dtype, self.rows, opts.histogram_bins)
                elif isinstance(stats, CategoricalStats):
                    fields = stats.result(name, kind, dtype, self.rows, opts.top_categories)
                else:
                    fields = stats.result(name, kind, dtype, self.rows)
                columns.append(ColumnProfile(**fields))
        groups = {
            name: self._groups(self.classes[name])
            for name in opts.sensitive_columns
            if name in self.classes
        }
        label = self._label() if opts.label_column else None
        return Profile(rows=self.rows, columns=tuple(columns), label=label, groups=groups)

    def _label(self) -> dict:
        name = self.options.label_column
        counts = self.classes[name]
        if counts.too_many or counts.fractional:
            return {
                "column": name,
                "kind": "numeric",
                "classes": None,
                "missing": counts.missing,
                "single_class": False,
            }
        ranked = counts.ranked()
        labelled = sum(n for _, n in ranked)
        classes = [
            {
                "value": value,
                "count": n,
                "share": n / labelled,
                "rare": n / labelled < self.options.rare_class_share,
            }
            for value, n in ranked
        ]
        return {
            "column": name,
            "kind": "categorical",
            "classes": classes,
            "missing": counts.missing,
            "single_class": len(classes) == 1,
        }

    def _groups(self, counts: ClassCounts) -> list[dict]:
        entries: Iterable[tuple[object, int]] = counts.ranked()
        if counts.missing:
            entries = [*entries, (None, counts.missing)]
        return [
            {
                "value": value,
                "count": n,
                "share": n / self.rows if self.rows else 0.0,
                "small": n < self.options.small_group_size,
            }
            for value, n in entries
        ]
