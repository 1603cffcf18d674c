"""Monitoring reports: a deployment's period in production, laid out as a PDF by a worker."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from audits.models import MonitoringReport
from audits.monitoring import monitoring_state
from audits.services.packs import render_pdf, software_versions
from deployments.analysis.charts import MetricSeries, Target, chart_description, window_chart_svg
from deployments.analysis.drift_charts import drift_heatmap_svg, heatmap_description
from deployments.dashboard import performance_drawing
from deployments.models import Deployment
from deployments.services.rollups import rollups_refresh
from portal.exceptions import ApplicationError
from portal.jobs import Progress, job_enqueue, job_run
from portal.storage import storage_errors
from projects.analysis.criteria import content_sha256
from projects.services.events import event_record, job_failed_record

if TYPE_CHECKING:
    from projects.models import ApiToken

#: The longest period one report covers.
MAX_PERIOD = timedelta(days=366)
#: A period may end this far past now (clocks differ a little).
CLOCK_SKEW = timedelta(minutes=5)
#: Times a report can be about (and that convert to UTC without overflowing).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def _moment(value: Any, field: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except (ValueError, OverflowError):
            raise ApplicationError(
                f"{field}: {value[:40]!r} is not an ISO 8601 time (2026-11-01T00:00:00Z).",
                code="invalid_period",
            ) from None
    if not isinstance(value, datetime):
        raise ApplicationError(f"{field}: give an ISO 8601 time.", code="invalid_period")
    if value.tzinfo is None:
        raise ApplicationError(
            f"{field}: {value.isoformat()} has no time zone; add Z or an offset such as +00:00.",
            code="naive_timestamp",
        )
    if not EARLIEST <= value <= LATEST:
        raise ApplicationError(
            f"{field}: {value.isoformat()} is outside the years {EARLIEST.year} to "
            f"{LATEST.year - 1}.",
            code="invalid_period",
        )
    return value.astimezone(UTC)


def monitoring_report_request(
    *,
    actor,
    deployment: Deployment,
    period_start: Any,
    period_end: Any,
    token: ApiToken | None = None,
) -> MonitoringReport:
    """Take the period's snapshot and queue its rendering."""
    start = _moment(period_start, "period_start")
    end = _moment(period_end, "period_end")
    if end <= start:
        raise ApplicationError(
            "period_end comes before period_start; a period ends after it starts.",
            code="invalid_period",
        )
    if end - start > MAX_PERIOD:
        raise ApplicationError(
            f"A report covers at most {MAX_PERIOD.days} days; split the period.",
            code="invalid_period",
        )
    if end > timezone.now() + CLOCK_SKEW:
        raise ApplicationError(
            "period_end is in the future; report on a period that has ended (or ends now).",
            code="invalid_period",
        )
    # Points pushed moments ago may still wait for their rollups: the report counts them.
    rollups_refresh(deployment_id=deployment.pk)
    snapshot = {
        "state": monitoring_state(deployment, start, end),
        "meta": {
            "requested_by": actor.username if actor else None,
            "requested_at": timezone.now().isoformat(timespec="seconds"),
            "site_url": settings.SITE_URL,
            "software": software_versions(),
        },
    }
    with transaction.atomic():
        report = MonitoringReport.objects.create(
            deployment=deployment,
            period_start=start,
            period_end=end,
            snapshot=snapshot,
            snapshot_sha256=content_sha256([snapshot]),
            requested_by=actor,
        )
        event_record(
            actor=actor,
            verb="monitoring_report.requested",
            target=report,
            project=deployment.project,
            token=token,
            payload={
                "deployment": deployment.pk,
                "period_start": start.isoformat(),
                "period_end": end.isoformat(),
                "snapshot_sha256": report.snapshot_sha256,
            },
        )
        job_enqueue(report)
    return report


# --- Layout ---------------------------------------------------------------------------


def _epoch(text: str | None) -> float | None:
    return datetime.fromisoformat(text).timestamp() if text else None


def _charts(state: dict[str, Any]) -> list[dict[str, Any]]:
    # Charts span the whole buckets the metrics were read over.
    span = state.get("metrics_period") or state["period"]
    start = datetime.fromisoformat(span["start"])
    end = datetime.fromisoformat(span["end"])
    watched = {a["name"]: a["metric"] for a in state["spec"]["alerts"]}
    periods: dict[str, list[tuple[float, float, str]]] = {}
    for alert in state["alerts"]:
        metric = watched.get(alert["rule"]) if alert["source"] == "spec" else None
        if metric is not None:
            fired = _epoch(alert["fired_at"])
            over = _epoch(alert["resolved_at"]) or end.timestamp()
            periods.setdefault(metric, []).append((fired, over, f"Alert {alert['rule']} firing"))
    charts = []
    for metric in state["metrics"]:
        s = metric["series"]
        series = MetricSeries(
            metric["name"],
            tuple(s["times"]),
            tuple(s["values"]),
            tuple(s["lows"]),
            tuple(s["highs"]),
            tuple(s["counts"]),
        )
        target = Target(
            label=f"{metric['statistic']} {metric['name']}",
            comparator=metric["comparator"],
            threshold=metric["threshold"],
            unit=metric["unit"],
        )
        per = "minute" if metric["resolution"] == 60 else "hour"
        label = f"{metric['name']} ({metric['statistic']} per {per})"
        charts.append(
            {
                **metric,
                "title": label,
                "svg": window_chart_svg(
                    series,
                    [target],
                    window_start=start,
                    window_end=end,
                    title=label,
                    unit=metric["unit"],
                    width=640,
                    shaded=periods.get(metric["name"], ()),
                    per=(per, metric["statistic"]),
                ),
                "description": chart_description(
                    series,
                    [target],
                    window_start=start,
                    window_end=end,
                    label=label,
                    unit=metric["unit"],
                    per=(per, metric["statistic"]),
                ),
            }
        )
    return charts


def report_context(snapshot: dict[str, Any], report_id: int, snapshot_sha256: str) -> dict:
    state = snapshot["state"]
    columns: list[str] = []
    cells = []
    for check in state["drift_checks"]:
        by_column = {c["column"]: c for c in check["columns"]}
        columns += [c for c in by_column if c not in columns]
        cells.append((datetime.fromisoformat(check["at"]).strftime("%d %b"), by_column))
    handled = [a for a in state["alerts"] if a["acknowledged_at"] or a["resolved_at"]]
    return {
        "s": state,
        "meta": snapshot["meta"],
        "report_id": report_id,
        "snapshot_sha256": snapshot_sha256,
        "charts": _charts(state),
        "heatmap": drift_heatmap_svg(columns, cells, width=640) if cells else "",
        "heatmap_text": heatmap_description(columns, cells),
        "drifted_checks": sum(1 for c in state["drift_checks"] if c["drifted"]),
        "missed_metrics": [m for m in state["metrics"] if m["missed"]],
        "handled_alerts": len(handled),
        # Snapshots from before performance was watched hold no such key.
        "performance": performance_drawing(state["performance"], width=640)
        if state.get("performance")
        else None,
    }


def report_html(snapshot: dict[str, Any], report_id: int, snapshot_sha256: str) -> str:
    return render_to_string(
        "packs/monitoring_report.html", report_context(snapshot, report_id, snapshot_sha256)
    )


def _render_work(report: MonitoringReport, progress: Progress):
    progress(5, "Laying out the report")
    html = report_html(report.snapshot, report.pk, report.snapshot_sha256)
    progress(20, "Rendering the PDF")
    refused: list[str] = []
    pdf, pages = render_pdf(html, refused)
    digest = hashlib.sha256(pdf).hexdigest()

    def store() -> None:
        name = f"monitoring-report-{report.pk}-{digest[:12]}.pdf"
        with storage_errors(name):
            report.pdf.save(name, ContentFile(pdf), save=False)
        MonitoringReport.objects.filter(pk=report.pk).update(
            html=html, pdf=report.pdf.name, pdf_sha256=digest, pdf_bytes=len(pdf), pages=pages
        )
        event_record(
            actor=report.requested_by,
            verb="monitoring_report.rendered",
            target=report,
            project=report.deployment.project,
            payload={"pdf_sha256": digest, "pages": pages, "refused_urls": refused},
        )

    return store


def monitoring_report_render(*, report_id: int) -> None:
    job_run(
        MonitoringReport,
        report_id,
        _render_work,
        on_failure=job_failed_record("monitoring_report.failed"),
    )
