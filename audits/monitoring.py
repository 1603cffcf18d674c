"""What a deployment's monitoring showed over a period, as plain JSON for a report.

:func:`monitoring_state` reads the monitoring spec of the deployment's current plan, each
monitored metric's per-hour (or per-minute, for a few hours) rollups with the buckets that
missed its target, the drift checks and alerts of the period with who handled them, and
the decisions people took on the project meanwhile. The monitoring report is laid out
from it alone, so the PDF can be traced to this data.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from deployments import selectors as deployment_selectors
from deployments.analysis.catalog import CATALOG
from deployments.analysis.rollups import resolution_for, rollup_series
from deployments.analysis.window import holds
from deployments.dashboard import performance_record, read_buckets
from deployments.models import Deployment, DriftCheck
from deployments.services.alerts import alert_record
from projects import selectors

#: Events that record a person's decision (verb, or the start of one).
DECISION_VERBS = (
    "project.transitioned",
    "rollout.",
    "plan.",
    "deployment_plan.signed",
    "criteria.",
    "alert.acknowledged",
    "alert.resolved",
    "audit.reviewed",
    "measurement.recorded",
    "risk.",
)
MAX_DECISIONS = 300
#: Statistics whose target holds over the spec's window, not over one bucket.
PER_WINDOW = ("count", "sum")


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def drift_record(check: DriftCheck, *, columns: bool = True) -> dict[str, Any]:
    """A drift check: its verdict and (with ``columns``) each column's test."""
    result = check.result or {}
    record = {
        "id": check.pk,
        "at": _when(check.finished_at or check.created_at),
        "status": check.status,
        "share": check.share,
        "drift_share": check.drift_share,
        "drifted": check.drifted,
    }
    if columns:
        record["columns"] = [
            {
                "column": c["column"],
                "method": c["method"],
                "statistic": c["statistic"],
                "threshold": c["threshold"],
                "drifted": c["drifted"],
                "psi": c["psi"],
            }
            for c in result.get("columns", [])
        ]
    return record


def metrics_period(start: datetime, end: datetime) -> tuple[datetime, datetime, int]:
    """The whole minutes or hours a period's metrics are read over: its rollups' buckets
    from the one holding ``start`` to the one holding the period's last moment."""
    width = resolution_for((end - start).total_seconds())
    first = start.timestamp() // width * width
    last = -(-end.timestamp() // width) * width
    return datetime.fromtimestamp(first, UTC), datetime.fromtimestamp(last, UTC), width


def _metrics(deployment: Deployment, spec: dict, start: datetime, end: datetime) -> list[dict]:
    start, end, width = metrics_period(start, end)
    names = sorted({m["name"] for m in spec.get("metrics", [])})
    buckets = read_buckets(deployment, names, start, end, width)
    out = []
    for entry in spec.get("metrics", []):
        name, statistic = entry["name"], entry["statistic"]
        series = rollup_series(name, buckets.get(name, []), statistic, width)
        # A bucket is judged as a window is: on at least min_points points. A count or a
        # sum is agreed over the spec's window, not per bucket: those are not judged here.
        judged = statistic not in PER_WINDOW
        missed = [
            t
            for t, v, n in zip(series.times, series.values, series.counts, strict=True)
            if judged
            and n >= entry["min_points"]
            and not holds(v, entry["comparator"], entry["threshold"])
        ]
        info = CATALOG.get(name)
        out.append(
            {
                "name": name,
                "label": info.label if info else name,
                "kind": entry["kind"],
                "unit": entry["unit"],
                "statistic": statistic,
                "comparator": entry["comparator"],
                "threshold": entry["threshold"],
                "resolution": width,
                "points": series.points,
                "buckets": len(series.values),
                "window_minutes": entry["window_minutes"],
                "min_points": entry["min_points"],
                "missed": len(missed) if judged else None,
                "first_missed": _when(datetime.fromtimestamp(missed[0] - width / 2, UTC))
                if missed
                else None,
                "worst": (max if entry["comparator"] in ("<=", "<") else min)(series.values)
                if series.values
                else None,
                "series": {
                    "times": list(series.times),
                    "values": list(series.values),
                    "lows": list(series.lows),
                    "highs": list(series.highs),
                    "counts": list(series.counts),
                },
            }
        )
    return out


def _decisions(deployment: Deployment, start: datetime, end: datetime) -> list[dict]:
    events = (
        selectors.project_events(deployment.project)
        .filter(created_at__gte=start, created_at__lt=end)
        .order_by("created_at", "id")
    )
    out = []
    for event in events.iterator():
        if not event.verb.startswith(DECISION_VERBS):
            continue
        payload = event.payload or {}
        out.append(
            {
                "at": _when(event.created_at),
                "who": event.actor_label,
                "verb": event.verb,
                "reason": str(payload.get("reason") or payload.get("rationale") or "")[:500],
            }
        )
        if len(out) == MAX_DECISIONS:
            break
    return out


def monitoring_state(deployment: Deployment, start: datetime, end: datetime) -> dict[str, Any]:
    """The deployment's monitoring over ``[start, end)``."""
    project = deployment.project
    first, last, width = metrics_period(start, end)
    plan = deployment_selectors.plan_current(deployment)
    spec = (plan.content.get("monitoring") or {}) if plan else {}
    checks = deployment.drift_checks.filter(
        status=DriftCheck.Status.SUCCEEDED, finished_at__gte=start, finished_at__lt=end
    ).order_by("finished_at", "pk")
    alerts = (
        deployment_selectors.alerts_of(deployment)
        .filter(fired_at__lt=end)
        .exclude(resolved_at__lt=start)
        .order_by("fired_at", "pk")
    )
    return {
        "deployment": {
            "id": deployment.pk,
            "name": deployment.name,
            "environment": deployment.environment,
            "model": str(deployment.model_version),
            "cycle": deployment.cycle,
            "project": {"slug": project.slug, "name": project.name, "stage": project.stage},
        },
        "period": {"start": _when(start), "end": _when(end)},
        "metrics_period": {"start": _when(first), "end": _when(last), "resolution": width},
        "plan": {"version": plan.version, "id": plan.pk} if plan else None,
        "spec": {
            "drift": spec.get("drift", []),
            "alerts": spec.get("alerts", []),
            "notify": spec.get("notify", []),
            "review_cadence_days": spec.get("review_cadence_days"),
        },
        "metrics": _metrics(deployment, spec, start, end),
        "drift_checks": [drift_record(c) for c in checks],
        "performance": performance_record(deployment, start, end),
        "alerts": [alert_record(a) for a in alerts],
        "decisions": _decisions(deployment, start, end),
    }
