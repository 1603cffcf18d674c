"""Trained baselines: cross-validated scores of three simple models on a table.

:func:`run_baselines` answers "how well do off-the-shelf models do on this
data?", the bar a project's own model should clear. It fits a prior/mean
dummy, a linear model and gradient-boosted trees with k-fold cross-validation
and scores every fold with :func:`projects.analysis.metrics.compute_metrics`,
so baseline and project numbers share one metric implementation and its
conventions (positive class, averaging, log-loss clipping).

Choices worth knowing:

* Rows whose target is missing are dropped and counted. Above ``row_cap``
  rows a sample is drawn with the seed: per class for classification (each
  class within one row of its share, but never below one row per fold),
  simple random for regression.
* Features are every column but the target and ``exclude``. Date/time columns
  and columns without any value are dropped and listed in ``dropped_columns``.
  Numbers are numeric features; text, categorical and boolean columns are
  categorical features (compared as text).
* Linear models see median-imputed, standardized numbers and one-hot
  categories (most frequent value imputed, at most ``ONE_HOT_MAX_CATEGORIES``
  columns per feature, unseen values ignored). The linear regression is a
  ridge regression (alpha 1), which stays stable when one-hot columns are
  collinear. Gradient-boosted trees see raw numbers (they handle missing
  values) and ordinal-coded categories as native categorical features.
* Folds are stratified for classification, plain for regression, both
  shuffled with the seed. A metric's ``std`` is the population standard
  deviation across folds (``ddof=0``, numpy's default); its mean and std are
  None unless every fold defines it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from projects.analysis.metrics import (
    CLASSIFICATION,
    CLASSIFICATION_METRICS,
    REGRESSION,
    REGRESSION_METRICS,
    TASKS,
    MetricError,
    compute_metrics,
    detect_task,
)

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator

DUMMY = "dummy"
LINEAR = "linear"
GRADIENT_BOOSTING = "gradient_boosting"
MODELS = (DUMMY, LINEAR, GRADIENT_BOOSTING)
MODEL_LABELS = {
    CLASSIFICATION: {
        DUMMY: "Majority class",
        LINEAR: "Logistic regression",
        GRADIENT_BOOSTING: "Gradient-boosted trees",
    },
    REGRESSION: {
        DUMMY: "Mean",
        LINEAR: "Linear regression",
        GRADIENT_BOOSTING: "Gradient-boosted trees",
    },
}

#: One-hot columns per categorical feature; rarer values share one column.
ONE_HOT_MAX_CATEGORIES = 30
#: Native categorical support in the trees allows fewer than 255 categories.
ORDINAL_MAX_CATEGORIES = 250


class BaselineError(ValueError):
    """The data cannot be used for baselines; the message is for a person."""


@dataclass(frozen=True)
class MetricSummary:
    """One metric across folds: mean, population std (ddof=0) and each fold's value."""

    mean: float | None
    std: float | None
    values: tuple[float | None, ...] = ()


@dataclass(frozen=True)
class ModelResult:
    model: str
    label: str
    metrics: dict[str, MetricSummary]
    fit_seconds: float  # mean fit time per fold


@dataclass(frozen=True)
class BaselineResult:
    task: str
    rows_total: int
    rows_used: int
    sampled: bool
    folds: int
    seed: int
    features: tuple[str, ...]
    models: tuple[ModelResult, ...]
    rows_dropped: int = 0  # rows without a target value
    dropped_columns: dict[str, str] | None = None  # column -> why it was left out
    class_counts: dict[Any, int] | None = None  # rows used per class, in label order

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe copy: NaN and infinities become None."""
        return {
            "task": self.task,
            "rows_total": self.rows_total,
            "rows_dropped": self.rows_dropped,
            "rows_used": self.rows_used,
            "sampled": self.sampled,
            "folds": self.folds,
            "seed": self.seed,
            "features": list(self.features),
            "dropped_columns": dict(self.dropped_columns or {}),
            "class_counts": [
                {"label": _json_label(label), "rows": rows}
                for label, rows in (self.class_counts or {}).items()
            ],
            "models": [
                {
                    "model": result.model,
                    "label": result.label,
                    "fit_seconds": _finite(result.fit_seconds),
                    "metrics": {
                        name: {
                            "mean": _finite(summary.mean),
                            "std": _finite(summary.std),
                            "values": [_finite(value) for value in summary.values],
                        }
                        for name, summary in result.metrics.items()
                    },
                }
                for result in self.models
            ],
        }


def run_baselines(
    frame: pd.DataFrame,
    target: str,
    *,
    task: str | None = None,
    folds: int = 5,
    seed: int = 0,
    row_cap: int | None = 200_000,
    exclude: Sequence[str] = (),
    progress: Callable[[float, str], None] | None = None,
    chosen: RowChoice | None = None,
) -> BaselineResult:
    """Cross-validate the three baseline models on ``frame`` to predict ``target``.

    ``task`` defaults to :func:`detect_task` on the target. ``exclude`` names
    columns that must not be features (personal data, identifiers); names not
    in the frame are ignored. ``progress`` is called after every model and
    fold with the fraction done and a sentence such as "Gradient-boosted
    trees, fold 3 of 5". Raises :class:`BaselineError` when the data cannot
    support the run.
    """
    if not isinstance(folds, int) or folds < 2:
        raise BaselineError("Cross-validation needs at least 2 folds.")
    if row_cap is not None and row_cap < folds:
        raise BaselineError(f"A row cap of {row_cap} is too small for {folds} folds.")
    if target not in frame.columns:
        raise BaselineError(f"There is no column named {target!r} in the data.")
    if frame.columns.duplicated().any():
        duplicate = frame.columns[frame.columns.duplicated()][0]
        raise BaselineError(f"The column name {duplicate!r} appears more than once.")

    if chosen is None:
        choice = choose_rows(
            frame[target], target, task=task, folds=folds, seed=seed, row_cap=row_cap
        )
        positions = choice.positions
    else:  # the caller read only the chosen rows of a larger table
        choice, positions = chosen, np.arange(len(frame))
    task = choice.task
    features, numeric, dropped_columns = _feature_frame(frame, target, exclude)
    y = _target_values(frame[target].iloc[positions], target, task)
    features = features.iloc[positions].reset_index(drop=True)
    rows_total, sampled = choice.rows_total, choice.sampled

    class_counts = None
    if task == CLASSIFICATION:
        used_classes, used_counts = np.unique(y, return_counts=True)
        class_counts = {
            label.item() if isinstance(label, np.generic) else label: int(count)
            for label, count in zip(used_classes, used_counts, strict=True)
        }
        splitter: KFold | StratifiedKFold = StratifiedKFold(
            n_splits=folds, shuffle=True, random_state=seed
        )
    else:
        splitter = KFold(n_splits=folds, shuffle=True, random_state=seed)
    splits = list(splitter.split(features, y))

    categorical = [name for name in features.columns if name not in numeric]
    labels = MODEL_LABELS[task]
    metric_names = CLASSIFICATION_METRICS if task == CLASSIFICATION else REGRESSION_METRICS
    total = len(MODELS) * folds
    results = []
    for model_index, model in enumerate(MODELS):
        fold_metrics: list[dict[str, float | None]] = []
        fit_times = []
        for fold, (train, test) in enumerate(splits, start=1):
            estimator = build_model(model, task, numeric, categorical, seed)
            started = time.perf_counter()
            estimator.fit(features.iloc[train], y[train])
            fit_times.append(time.perf_counter() - started)
            fold_metrics.append(_score(estimator, task, features.iloc[test], y[test]))
            if progress is not None:
                done = model_index * folds + fold
                progress(done / total, f"{labels[model]}, fold {fold} of {folds}")
        results.append(
            ModelResult(
                model=model,
                label=labels[model],
                metrics={
                    name: _summarize([values[name] for values in fold_metrics])
                    for name in metric_names
                },
                fit_seconds=float(np.mean(fit_times)),
            )
        )

    return BaselineResult(
        task=task,
        rows_total=rows_total,
        rows_used=int(y.size),
        sampled=sampled,
        folds=folds,
        seed=seed,
        features=tuple(features.columns),
        models=tuple(results),
        rows_dropped=choice.rows_dropped,
        dropped_columns=dropped_columns,
        class_counts=class_counts,
    )


@dataclass(frozen=True)
class RowChoice:
    """Which rows a run uses: those with a target, sampled down to the row cap."""

    task: str
    positions: np.ndarray  # sorted positions in the table the target column came from
    rows_total: int
    rows_dropped: int
    sampled: bool


def choose_rows(
    column: pd.Series,
    target: str,
    *,
    task: str | None = None,
    folds: int = 5,
    seed: int = 0,
    row_cap: int | None = 200_000,
) -> RowChoice:
    """The rows :func:`run_baselines` uses, from the target column alone.

    A caller holding a large table reads just this column, then only the chosen rows,
    and passes those with ``chosen=`` this choice: the result is the one the whole
    table would give, without holding it in memory."""
    rows_total = len(column)
    has_target = column.notna().to_numpy()
    if not has_target.any():
        raise BaselineError(f"The target column {target!r} has no values.")
    present = np.flatnonzero(has_target)
    y_column = column[has_target]
    if task is None:
        task = detect_task(y_column)
    if task not in TASKS:
        raise BaselineError(f"Unknown task {task!r}; expected one of {', '.join(TASKS)}.")
    y = _target_values(y_column, target, task)
    if y.size < folds:
        raise BaselineError(
            f"Only {y.size} rows have a target value, fewer than the {folds} folds; "
            "use fewer folds or more data."
        )
    rng = np.random.default_rng(seed)
    cap = y.size if row_cap is None else row_cap
    sampled = y.size > cap
    keep = np.arange(y.size)
    if task == CLASSIFICATION:
        codes, counts = _check_classes(y, target, folds)
        if sampled:
            keep = _stratified_sample(codes, cap, np.minimum(counts, folds), rng)
    elif sampled:
        keep = np.sort(rng.choice(y.size, size=cap, replace=False))
    return RowChoice(
        task=task,
        positions=present[keep],
        rows_total=rows_total,
        rows_dropped=int(rows_total - y.size),
        sampled=sampled,
    )


def build_model(
    model: str, task: str, numeric: Sequence[str], categorical: Sequence[str], seed: int
) -> BaseEstimator:
    """A fresh, unfitted estimator for one baseline (a Pipeline for the trained ones)."""
    classify = task == CLASSIFICATION
    if model == DUMMY:
        # Dummies ignore the features, so they need no preprocessing.
        return DummyClassifier(strategy="prior") if classify else DummyRegressor(strategy="mean")
    if model == LINEAR:
        parts = []
        if numeric:
            scale = Pipeline(
                [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
            )
            parts.append(("numeric", scale, list(numeric)))
        if categorical:
            encode = Pipeline(
                [
                    ("impute", SimpleImputer(strategy="most_frequent")),
                    (
                        "one_hot",
                        OneHotEncoder(
                            handle_unknown="ignore", max_categories=ONE_HOT_MAX_CATEGORIES
                        ),
                    ),
                ]
            )
            parts.append(("categorical", encode, list(categorical)))
        estimator = LogisticRegression(max_iter=1000) if classify else Ridge(alpha=1.0)
        return Pipeline([("prepare", ColumnTransformer(parts)), ("model", estimator)])
    if model == GRADIENT_BOOSTING:
        parts = []
        if numeric:
            parts.append(("numeric", "passthrough", list(numeric)))
        if categorical:
            ordinal = OrdinalEncoder(
                handle_unknown="use_encoded_value",
                unknown_value=np.nan,
                encoded_missing_value=np.nan,
                max_categories=ORDINAL_MAX_CATEGORIES,
            )
            parts.append(("categorical", ordinal, list(categorical)))
        # The transformer puts numeric columns first, so the mask follows that order.
        mask = [False] * len(numeric) + [True] * len(categorical) if categorical else None
        trees_class = HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor
        trees = trees_class(categorical_features=mask, random_state=seed)
        return Pipeline([("prepare", ColumnTransformer(parts)), ("model", trees)])
    raise BaselineError(f"Unknown model {model!r}; expected one of {', '.join(MODELS)}.")


# --- helpers --------------------------------------------------------------------------


def _feature_frame(
    frame: pd.DataFrame, target: str, exclude: Sequence[str]
) -> tuple[pd.DataFrame, list[str], dict[str, str]]:
    """Feature columns as float or text (numbers first), their numeric names, and drops."""
    excluded = set(exclude) | {target}
    numeric: dict[str, pd.Series] = {}
    categorical: dict[str, pd.Series] = {}
    dropped: dict[str, str] = {}
    for name in frame.columns:
        if name in excluded:
            continue
        column = frame[name]
        label = str(name)
        if (
            pd.api.types.is_datetime64_any_dtype(column)
            or pd.api.types.is_timedelta64_dtype(column)
            or isinstance(column.dtype, pd.PeriodDtype)
        ):
            dropped[label] = "date or time column"
        elif column.isna().all():
            dropped[label] = "no values"
        elif pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            # float64 turns nullable NA into NaN, which the imputer and the trees expect.
            numeric[label] = column.astype("float64")
        else:
            # Text keeps mixed-type columns sortable for the encoders; missing stays NaN.
            text = column.astype("string")
            categorical[label] = text.astype(object).where(text.notna(), np.nan)
    if len(numeric) + len(categorical) != len(set(numeric) | set(categorical)):
        raise BaselineError("Two feature columns have the same name once written as text.")
    if not numeric and not categorical:
        detail = f" ({len(dropped)} dropped as unusable)" if dropped else ""
        raise BaselineError(
            f"No feature columns are left besides the target {target!r} and the excluded "
            f"columns{detail}."
        )
    features = pd.DataFrame({**numeric, **categorical}, index=frame.index)
    return features, list(numeric), dropped


def _target_values(column: pd.Series, target: str, task: str) -> np.ndarray:
    if task == REGRESSION:
        if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
            raise BaselineError(
                f"The target {target!r} does not hold numbers, so it cannot be used for regression."
            )
        values = column.to_numpy(dtype=np.float64)
        if not np.all(np.isfinite(values)):
            raise BaselineError(f"The target {target!r} has infinite values.")
        return values
    if pd.api.types.is_bool_dtype(column):
        return column.to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(column):
        values = column.to_numpy(dtype=np.float64)
        if not np.all(values == np.floor(values)):
            raise BaselineError(
                f"The target {target!r} has fractional values, so it cannot be used for "
                "classification; choose regression."
            )
        return values.astype(np.int64)
    return column.astype("string").to_numpy(dtype=object)


def _check_classes(y: np.ndarray, target: str, folds: int) -> tuple[np.ndarray, np.ndarray]:
    """Class codes and counts, after checking stratified folds are possible."""
    classes, codes, counts = np.unique(y, return_inverse=True, return_counts=True)
    if classes.size < 2:
        raise BaselineError(
            f"The target {target!r} has a single class ({classes[0]!r}); "
            "a classifier needs at least two."
        )
    rare = int(np.argmin(counts))
    if counts[rare] < folds:
        raise BaselineError(
            f"The class {classes[rare]!r} of {target!r} has only {counts[rare]} "
            f"row{'s' if counts[rare] != 1 else ''}, fewer than the {folds} folds, so "
            "stratified cross-validation cannot put it in every fold. Use fewer folds, or "
            "merge or drop that class."
        )
    return codes.reshape(-1), counts


def _stratified_sample(
    codes: np.ndarray, size: int, minimum: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Sorted row positions: ``size`` rows, each class near its share, none below ``minimum``."""
    counts = np.bincount(codes)
    if minimum.sum() > size:
        raise BaselineError(
            f"A row cap of {size} is too small to keep every one of the {counts.size} "
            "classes in every fold."
        )
    exact = size * counts / counts.sum()
    take = np.floor(exact).astype(np.int64)
    # Largest remainders get the rows left over, so each class is within one row of its share.
    leftover = size - int(take.sum())
    take[np.argsort(take - exact, kind="stable")[:leftover]] += 1
    # Rare classes keep one row per fold; the classes with most to spare give them up.
    short = np.maximum(minimum - take, 0)
    take += short
    for _ in range(int(short.sum())):
        take[np.argmax(take - minimum)] -= 1
    chosen = [
        rng.choice(np.flatnonzero(codes == code), size=int(n), replace=False)
        for code, n in enumerate(take)
    ]
    return np.sort(np.concatenate(chosen))


def _score(
    estimator: BaseEstimator, task: str, features: pd.DataFrame, y: np.ndarray
) -> dict[str, float | None]:
    predicted = estimator.predict(features)
    try:
        if task == REGRESSION:
            return compute_metrics(task, y, predicted)
        proba = estimator.predict_proba(features)
        classes = estimator.classes_
        # Binary metrics take the positive (larger, last) class's probability.
        score = proba[:, 1] if classes.size == 2 else proba
        return compute_metrics(task, y, predicted, score, labels=classes)
    except MetricError as exc:
        raise BaselineError(f"The predictions could not be scored: {exc}") from exc


def _summarize(values: list[float | None]) -> MetricSummary:
    if any(value is None for value in values):
        return MetricSummary(mean=None, std=None, values=tuple(values))
    array = np.asarray(values, dtype=np.float64)
    return MetricSummary(mean=float(np.mean(array)), std=float(np.std(array)), values=tuple(values))


def _finite(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def _json_label(label: Any) -> Any:
    return label if isinstance(label, str | int | float | bool) else str(label)
