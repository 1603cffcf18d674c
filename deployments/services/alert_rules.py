"""The monitoring spec's metric-threshold and silence alerts, evaluated every minute by the
worker's beat over each deployment being monitored.

The statistics are those of the rollout analysis (pushed points, or the plan's Prometheus
queries, judged by ``deployments.analysis.window.judge``); deciding is pure
(``deployments.analysis.alert_rules``); firing and resolving go through
``deployments.services.alerts``, so every change is an event and is delivered.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db.models import F
from django.utils import timezone

from deployments import metrics, selectors
from deployments.analysis.alert_rules import (
    FIRE,
    RESOLVE,
    Decision,
    metric_decision,
    metric_rules,
    silence_decision,
    silence_rules,
)
from deployments.analysis.catalog import statistic_key
from deployments.analysis.window import MetricWindow, judge
from deployments.models import Alert, Deployment, MetricPoint
from deployments.services.alerts import alert_fire, alerts_resolve_open
from projects.models import Project

log = logging.getLogger(__name__)


def _watched() -> list[int]:
    """Deployments of this cycle of projects in the monitoring stage."""
    return list(
        Deployment.objects.filter(
            project__stage=Project.Stage.MONITORING, cycle=F("project__cycle")
        ).values_list("pk", flat=True)
    )


def alert_rules_evaluate(*, now: datetime | None = None) -> int:
    """Evaluate every watched deployment's rules; one failing deployment does not stop the
    others. The number of deployments evaluated."""
    now = now or timezone.now()
    done = 0
    for pk in _watched():
        try:
            deployment_alert_rules_evaluate(deployment_id=pk, now=now)
            done += 1
        except Exception:
            log.exception("Alert rules of deployment %s not evaluated.", pk)
    return done


def deployment_alert_rules_evaluate(*, deployment_id: int, now: datetime | None = None) -> None:
    """Fire or resolve each metric and silence alert of the deployment's current plan.
    Running it twice gives the same alerts: an open alert is not fired again."""
    deployment = Deployment.objects.select_related("project").get(pk=deployment_id)
    plan = selectors.plan_current(deployment)
    monitoring = (plan.content.get("monitoring") or {}) if plan else {}
    if not monitoring.get("alerts"):
        return
    now = now or timezone.now()
    by_metric = metric_rules(monitoring)
    by_silence = silence_rules(monitoring)
    if not by_metric and not by_silence:
        return
    open_keys = set(
        Alert.objects.filter(deployment=deployment)
        .exclude(state=Alert.State.RESOLVED)
        .values_list("key", flat=True)
    )
    windows = _windows(deployment, plan.content, by_metric, now)
    for rule in by_metric:
        results = [
            judge(
                w.check,
                windows.get((w.check.metric, w.check.statistic, w.window_minutes)),
                window_seconds=w.window_minutes * 60,
            )
            for w in rule.watched
        ]
        decision = metric_decision(rule, results, is_open=rule.key in open_keys)
        _apply(deployment, rule.name, rule.key, rule.severity, decision)
    for rule in by_silence:
        since = now - timedelta(minutes=rule.minutes)
        recent = MetricPoint.objects.filter(deployment=deployment, timestamp__gte=since)
        points = recent.count()
        last = None
        if not points:
            last = (
                MetricPoint.objects.filter(deployment=deployment, timestamp__lt=since)
                .order_by("-timestamp")
                .values_list("timestamp", flat=True)
                .first()
            )
        decision = silence_decision(rule, points, last, is_open=rule.key in open_keys)
        _apply(deployment, rule.name, rule.key, rule.severity, decision)


def _windows(
    deployment: Deployment, content: dict, rules: list, now: datetime
) -> dict[tuple[str, str, int], MetricWindow]:
    """Each watched entry's window ending now: pushed points, or the plan's Prometheus query
    (which may give the statistic at each moment, latency_ms:p95), as a rollout reads them."""
    lengths: dict[int, set[tuple[str, str]]] = {}
    for rule in rules:
        for w in rule.watched:
            lengths.setdefault(w.window_minutes, set()).add((w.check.metric, w.check.statistic))
    found = {}
    for minutes, wanted in lengths.items():
        start = now - timedelta(minutes=minutes)
        names = {name for name, _ in wanted}
        windows = metrics.pushed_windows(deployment, names, start, now)
        series = names | {statistic_key(name, stat) for name, stat in wanted}
        if (content.get("prometheus") or {}).get("queries"):
            windows.update(metrics.prometheus_windows(content, series, start, now))
        for name, stat in wanted:
            per_moment = windows.get(statistic_key(name, stat))
            window = per_moment if per_moment is not None else windows.get(name)
            found[name, stat, minutes] = window
    return found


def _apply(deployment: Deployment, name: str, key: str, severity: str, decision: Decision) -> None:
    if decision.action == FIRE:
        alert_fire(
            deployment=deployment,
            source=Alert.Source.SPEC,
            rule=name,
            key=key,
            severity=severity,
            summary=decision.text,
            details=dict(decision.details),
        )
    elif decision.action == RESOLVE:
        alerts_resolve_open(deployment, key, decision.text)
