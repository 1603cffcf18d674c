"""A deployment's monitoring dashboard: its metrics over a day, a week or a month read from
the per-minute or per-hour rollups, the monitoring spec's targets and the periods its
alerts fired drawn on them, drift checks as a heatmap, and the alerts still open.

Charts are the same SVGs the deployment page and the reports draw
(:mod:`deployments.analysis.charts`, :mod:`deployments.analysis.drift_charts`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.utils import timezone

from deployments import selectors
from deployments.analysis.catalog import CATALOG, KINDS
from deployments.analysis.charts import Target, chart_description, window_chart_svg
from deployments.analysis.drift_charts import drift_heatmap_svg, heatmap_description
from deployments.analysis.performance_charts import (
    PeriodPerformance,
    performance_chart_svg,
    performance_description,
)
from deployments.analysis.rollups import Bucket, resolution_for, rollup_series
from deployments.models import Alert, Deployment, DriftCheck, MetricPoint, MetricRollup
from deployments.services.performance import ASSUMPTIONS, performance_spec, period_decay

#: The periods a dashboard shows, by the key in its address.
RANGES = {
    "6h": timedelta(hours=6),
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
DEFAULT_RANGE = "7d"
KIND_TITLES = {"software": "Service", "input": "Inputs", "output": "Outputs", "other": "Other"}
#: Drift checks shown in the heatmap, newest last.
MAX_CHECKS = 30
#: Metrics derived per column of a production period: a rollup mixes the columns, so they
#: are shown per column from their points (one per period), not charted.
PER_COLUMN = {
    "input.missing_share": "missing",
    "input.mean": "mean",
    "input.text_length": "length",
}
PER_COLUMN_PERIODS = 6
#: Production periods come weekly or so: their chart spans at least this much.
PERFORMANCE_SPAN = timedelta(days=30)
MAX_PERIODS = 60


@dataclass(frozen=True)
class PerformancePanel:
    """The watched metric over the production periods: the record, its chart and words."""

    record: dict
    svg: str
    description: str
    assumptions: tuple[str, ...] = ASSUMPTIONS


@dataclass(frozen=True)
class Chart:
    metric: str
    label: str
    kind: str
    unit: str
    svg: str
    description: str
    points: int


@dataclass(frozen=True)
class Dashboard:
    range: str
    start: datetime
    end: datetime
    resolution: int
    groups: list[tuple[str, list[Chart]]]
    heatmap: str
    heatmap_text: str
    checks: int
    open_alerts: list[Alert] = field(default_factory=list)
    #: Every alert that fired or was still open in the period, newest first.
    alerts: list[Alert] = field(default_factory=list)
    performance: PerformancePanel | None = None
    #: The production periods' inputs per column: (period ends, [(column, [cells])]).
    by_column: tuple[list[datetime], list[tuple[str, list[dict]]]] = ((), ())

    @property
    def per(self) -> str:
        return "minute" if self.resolution == 60 else "hour"


def read_buckets(
    deployment: Deployment, names: list[str], start: datetime, end: datetime, width: int
) -> dict[str, list[Bucket]]:
    """Each metric's rollups of ``width`` seconds from the bucket holding ``start`` to
    ``end``, in time order."""
    first = datetime.fromtimestamp(start.timestamp() // width * width, UTC)
    rows = (
        MetricRollup.objects.filter(
            deployment=deployment,
            name__in=names,
            resolution=width,
            bucket__gte=first,
            bucket__lt=end,
        )
        .order_by("name", "bucket")
        .values_list("name", "bucket", "count", "total", "minimum", "maximum", "p50", "p95", "p99")
    )
    found: dict[str, list[Bucket]] = {}
    for name, bucket, *stats in rows:
        found.setdefault(name, []).append(Bucket(bucket.timestamp(), *stats))
    return found


def _shaded(deployment: Deployment, watched: dict[str, str], start: datetime, end: datetime):
    """Per metric, the periods an alert of the spec watching it fired: (start, end, what)."""
    periods: dict[str, list[tuple[float, float, str]]] = {}
    alerts = deployment.alerts.filter(fired_at__lt=end).exclude(resolved_at__lt=start)
    for alert in alerts.filter(source=Alert.Source.SPEC):
        metric = watched.get(alert.rule)
        if metric is None:
            continue
        over = alert.resolved_at or end
        what = f"Alert {alert.rule} firing from {alert.fired_at:%Y-%m-%d %H:%M} UTC"
        what += f" to {over:%Y-%m-%d %H:%M} UTC" if alert.resolved_at else ", still open"
        periods.setdefault(metric, []).append((alert.fired_at.timestamp(), over.timestamp(), what))
    return periods


def _charts(deployment: Deployment, start: datetime, end: datetime, width: int, now: datetime):
    plan = selectors.plan_current(deployment)
    spec = (plan.content.get("monitoring") or {}) if plan else {}
    watched = {a["name"]: a["metric"] for a in spec.get("alerts", [])}
    shaded = _shaded(deployment, watched, start, end)
    pushed = set(
        MetricRollup.objects.filter(
            deployment=deployment, resolution=width, bucket__gte=start, bucket__lt=end
        )
        .order_by()
        .values_list("name", flat=True)
        .distinct()
    )
    # One chart per monitored (metric, statistic) with its targets; then what else was pushed.
    wanted: dict[tuple[str, str], dict] = {}
    for entry in spec.get("metrics", []):
        key = (entry["name"], entry["statistic"])
        wanted.setdefault(key, {"kind": entry["kind"], "unit": entry["unit"], "targets": []})
        wanted[key]["targets"].append(
            Target(
                label=f"{entry['statistic']} {entry['name']}",
                comparator=entry["comparator"],
                threshold=entry["threshold"],
                unit=entry["unit"],
            )
        )
    monitored = {name for name, _ in wanted}
    for name in sorted(pushed - monitored - {"input.category_share", *PER_COLUMN}):
        info = CATALOG.get(name)
        statistic = info.statistic if info else "mean"
        kind = info.kind if info else "other"
        wanted[name, statistic] = {"kind": kind, "unit": info.unit if info else "", "targets": []}
    buckets = read_buckets(deployment, sorted({name for name, _ in wanted}), start, end, width)
    groups: dict[str, list[Chart]] = {}
    for (name, statistic), about in wanted.items():
        series = rollup_series(name, buckets.get(name, []), statistic, width)
        per = "minute" if width == 60 else "hour"
        label = f"{name} ({statistic} per {per})"
        svg = window_chart_svg(
            series,
            about["targets"],
            window_start=start,
            window_end=end,
            title=label,
            unit=about["unit"],
            now=now,
            shaded=shaded.get(name, ()),
            per=(per, statistic),
        )
        text = chart_description(
            series,
            about["targets"],
            window_start=start,
            window_end=end,
            label=label,
            unit=about["unit"],
            per=(per, statistic),
        )
        groups.setdefault(about["kind"], []).append(
            Chart(name, label, about["kind"], about["unit"], svg, text, series.points)
        )
    order = [*KINDS, "other"]
    return [(KIND_TITLES[kind], groups[kind]) for kind in order if kind in groups]


def _heatmap(deployment: Deployment, start: datetime, end: datetime) -> tuple[str, str, int]:
    checks = list(
        deployment.drift_checks.filter(
            status=DriftCheck.Status.SUCCEEDED, finished_at__gte=start, finished_at__lt=end
        ).order_by("-finished_at")[:MAX_CHECKS]
    )[::-1]
    columns: list[str] = []
    cells = []
    for check in checks:
        by_column = {c["column"]: c for c in (check.result or {}).get("columns", [])}
        columns += [c for c in by_column if c not in columns]
        cells.append((f"{check.finished_at:%d %b}", by_column))
    return drift_heatmap_svg(columns, cells), heatmap_description(columns, cells), len(checks)


def performance_record(deployment: Deployment, start: datetime, end: datetime) -> dict | None:
    """The spec's watched metric over the periods ending from ``start`` to ``end``, as
    JSON (dashboard and report snapshot alike); None when the spec watches no performance."""
    spec = performance_spec(deployment)
    if not spec:
        return None
    metric = spec["metric"]
    periods = list(
        deployment.production_periods.filter(period_end__gt=start, period_end__lte=end)
        .select_related("dataset_version")
        .order_by("-period_end")[:MAX_PERIODS]
    )[::-1]
    rows, reference = [], None
    for period in periods:
        guessed = ((period.estimate or {}).get("metrics") or {}).get(metric) or {}
        done = period.realized or {}
        labelled = done.get("labelled", 0)
        value = (done.get("metrics") or {}).get(metric) if labelled else None
        known = (done.get("reference") or (period.estimate or {}).get("reference") or {}).get(
            metric
        )
        reference = known if known is not None else reference
        verdict = period_decay(period, spec)
        rows.append(
            {
                "id": period.pk,
                "period": str(period),
                "start": period.period_start.isoformat(),
                "end": period.period_end.isoformat(),
                "rows": period.dataset_version.rows,
                "estimated": guessed.get("value"),
                "lower": guessed.get("lower"),
                "upper": guessed.get("upper"),
                "estimate_error": (period.estimate or {}).get("error", ""),
                "realized": value,
                "labelled": labelled,
                "realized_error": done.get("error", ""),
                "basis": verdict.basis if verdict else "",
                "verdict": ("decayed" if verdict.decayed else "within") if verdict else "",
                "groups": done.get("groups", []) if labelled else [],
                "groups_note": done.get("groups_note", ""),
            }
        )
    return {
        "metric": metric,
        "max_drop": spec["max_drop"],
        "min_labels": spec.get("min_labels", 1),
        "reference": reference,
        "limit": reference - spec["max_drop"] if reference is not None else None,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "rows": rows,
        # The audit's group metrics of the newest period with labels.
        "groups": next((r for r in reversed(rows) if r["groups"]), None),
    }


def performance_drawing(record: dict, *, width: int = 560) -> PerformancePanel:
    """The chart and its words for a :func:`performance_record`."""
    drawn = [
        PeriodPerformance(
            start=datetime.fromisoformat(r["start"]).timestamp(),
            end=datetime.fromisoformat(r["end"]).timestamp(),
            estimated=r["estimated"],
            lower=r["lower"],
            upper=r["upper"],
            realized=r["realized"],
            labelled=r["labelled"],
        )
        for r in record["rows"]
    ]
    arguments = {
        "metric": record["metric"],
        "reference": record["reference"],
        "limit": record["limit"],
        "window_start": datetime.fromisoformat(record["start"]),
        "window_end": datetime.fromisoformat(record["end"]),
    }
    title = f"{record['metric']}: estimated and realized per production period"
    return PerformancePanel(
        record=record,
        svg=performance_chart_svg(drawn, title=title, width=width, **arguments),
        description=performance_description(drawn, **arguments),
    )


def inputs_by_column(deployment: Deployment, start: datetime, end: datetime):
    """The newest periods' per-column input metrics: the period ends (oldest first) and,
    per column, a cell per period mapping each metric's short name to its value."""
    # Points with a column: those a period derived (a client may push the names bare).
    points = MetricPoint.objects.filter(
        deployment=deployment,
        name__in=list(PER_COLUMN),
        timestamp__gte=start,
        timestamp__lt=end,
        labels__has_key="column",
    )
    moments = sorted(set(points.values_list("timestamp", flat=True)))[-PER_COLUMN_PERIODS:]
    table: dict[str, dict[datetime, dict]] = {}
    for name, labels, at, value in points.filter(timestamp__in=moments).values_list(
        "name", "labels", "timestamp", "value"
    ):
        column = (labels or {}).get("column", "")
        table.setdefault(column, {}).setdefault(at, {})[PER_COLUMN[name]] = value
    rows = [
        (column, [cells.get(at, {}) for at in moments]) for column, cells in sorted(table.items())
    ]
    return moments, rows


def _performance(deployment: Deployment, start: datetime, end: datetime):
    record = performance_record(deployment, start, end)
    return performance_drawing(record) if record else None


def dashboard(deployment: Deployment, range_key: str, now: datetime | None = None) -> Dashboard:
    """The dashboard of ``deployment`` over the range ``range_key`` (see :data:`RANGES`)
    ending now."""
    now = now or timezone.now()
    span = RANGES.get(range_key, RANGES[DEFAULT_RANGE])
    range_key = range_key if range_key in RANGES else DEFAULT_RANGE
    width = resolution_for(span.total_seconds())
    # The range ends at the end of the current bucket, so the newest bucket shows whole.
    end = datetime.fromtimestamp((now.timestamp() // width + 1) * width, UTC)
    start = end - span
    heatmap, heatmap_text, checks = _heatmap(deployment, start, end)
    return Dashboard(
        range=range_key,
        start=start,
        end=end,
        resolution=width,
        groups=_charts(deployment, start, end, width, now),
        heatmap=heatmap,
        heatmap_text=heatmap_text,
        checks=checks,
        open_alerts=list(selectors.alerts_of(deployment).exclude(state=Alert.State.RESOLVED)),
        alerts=list(
            selectors.alerts_of(deployment).filter(fired_at__lt=end).exclude(resolved_at__lt=start)
        ),
        performance=_performance(deployment, min(start, end - PERFORMANCE_SPAN), end),
        by_column=inputs_by_column(deployment, start, end),
    )
