"""Demo deployments for the local run command: a canary under way, and one finished.

Built through the services with past times, as the pipeline of docs/deployments.md would
have walked them: the rollout starts hours (or days) ago, each step's points are pushed
with timestamps inside the step's window, and each promotion is asked for a minute after
the window closed. A refused promotion stores its analysis before it raises.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
from django.utils import timezone

from deployments.models import Deployment, Rollout
from deployments.services.metrics import metrics_push
from deployments.services.plans import deployment_create, plan_save
from deployments.services.rollouts import (
    PromotionRefused,
    plan_steps,
    rollout_promote,
    rollout_start,
)
from projects import selectors as project_selectors
from projects.models import Project
from projects.services.signoffs import signoff_record

#: The collections scorer: replaces a scorecard, walked in the default canary steps.
COLLECTIONS_PLAN = {
    "serving": {
        "mode": "realtime",
        "location": "cloud",
        "compute": {"cpu_cores": 2, "gpu": "", "memory_mb": 2048},
        "latency_ms": {"p50": 60, "p95": 150, "p99": 300},
        "throughput": {"qps": 20},
        "logging": {
            "what": "Account hash, model version, predicted amount and latency",
            "retention_days": 90,
            "personal_data": "Account ids are hashed before they are logged.",
        },
        "security_notes": "Called by the dialler over the internal network only.",
    },
    "deployment_type": {"kind": "replace_ml", "replaces": "Recovery scorecard 2021"},
    "pattern": {
        "kind": "canary",
        "steps": [
            {"traffic": 1, "window_minutes": 30},
            {"traffic": 5, "window_minutes": 30},
            {"traffic": 25, "window_minutes": 60},
            {"traffic": 50, "window_minutes": 60},
            {"traffic": 100, "window_minutes": 60},
        ],
    },
    "checks": [
        {"metric": "null_output_rate", "statistic": "mean", "comparator": "<=", "threshold": 0.01}
    ],
    "monitoring": {
        "metrics": [
            {"name": "latency_ms", "statistic": "p95", "comparator": "<=", "threshold": 150},
            {"name": "error_rate", "comparator": "<=", "threshold": 0.01},
            {"name": "missing_value_rate", "comparator": "<=", "threshold": 0.05},
            {"name": "null_output_rate", "comparator": "<=", "threshold": 0.01},
        ],
        "drift": [{"column": "income", "test": "psi", "threshold": 0.2}],
        "alerts": [
            {"name": "Scorer slow", "metric": "latency_ms", "severity": "page"},
            {"name": "Income drifts", "metric": "drift:income", "severity": "ticket"},
        ],
        "notify": ["credit_engineer", "collections-oncall@example.com"],
        "review_cadence_days": 30,
    },
}

#: Autocomplete ranking: a new capability in the search box, fast and busy.
AUTOCOMPLETE_PLAN = {
    "serving": {
        "mode": "realtime",
        "location": "cloud",
        "compute": {"cpu_cores": 4, "gpu": "", "memory_mb": 4096},
        "latency_ms": {"p50": 20, "p95": 40, "p99": 80},
        "throughput": {"qps": 300},
        "logging": {
            "what": "Query prefix length, suggestions shown and picked, latency",
            "retention_days": 30,
            "personal_data": "No query text is logged.",
        },
    },
    "deployment_type": {"kind": "new_capability"},
    "pattern": {
        "kind": "canary",
        "steps": [
            {"traffic": 1, "window_minutes": 15},
            {"traffic": 5, "window_minutes": 15},
            {"traffic": 25, "window_minutes": 30},
            {"traffic": 50, "window_minutes": 30},
            {"traffic": 100, "window_minutes": 60},
        ],
    },
    "monitoring": {
        "metrics": [
            {"name": "latency_ms", "statistic": "p95", "comparator": "<=", "threshold": 40},
            {"name": "input_length", "statistic": "mean", "comparator": "<=", "threshold": 40},
            {"name": "switch_to_typing_rate", "comparator": "<=", "threshold": 0.3},
        ],
        "alerts": [
            {"name": "Suggestions slow", "metric": "latency_ms", "severity": "page"},
            {"name": "Picks slipping", "metric": "decay", "severity": "ticket"},
        ],
        "notify": ["search_engineer"],
        "review_cadence_days": 14,
        # Whether a shopper picks a suggestion is known within the session.
        "performance": {"metric": "roc_auc", "max_drop": 0.05, "min_labels": 200},
    },
}


def canary_under_way(project: Project, *, owner, engineer) -> Rollout:
    """1 % and 5 % passed; the promotion from 25 % was refused a minute ago, at the end of
    the step's window: one request in eight waited on a saturated connection pool, so the
    p95 and p99 latency missed their targets. The step's points fill the window the
    deployment's page shows (the last 60 minutes) as the demo starts."""
    deployment = _signed_deployment(project, owner, engineer, COLLECTIONS_PLAN)
    # Each step runs its window, and its promotion comes a minute after the window closes.
    walked = sum(step.window_minutes + 1 for step in plan_steps(COLLECTIONS_PLAN)[:3])
    return _walk(
        deployment,
        engineer,
        started=timezone.now() - timedelta(minutes=walked + 1),
        latency_ms=45,
        slow_at=25,
        seed=25,
    )


def canary_finished(project: Project, *, owner, engineer) -> Rollout:
    """Walked to 100 % a month ago, every step passing: a month of monitoring follows."""
    deployment = _signed_deployment(project, owner, engineer, AUTOCOMPLETE_PLAN)
    return _walk(
        deployment,
        engineer,
        started=timezone.now() - timedelta(days=MONTH_DAYS + 1),
        latency_ms=12,
        slow_at=None,
        seed=100,
    )


#: The demo's month of monitoring, and the day (counted from its start) of its incident.
MONTH_DAYS = 30
INCIDENT_DAY = 11
#: Shoppers switch back to typing more often from mid-month: the suggestions fit less.
DRIFT_DAY = 15
#: The month's periodic review: the next falls due after the month, at the plan's 14 days.
REVIEW_DAY = 18
REVIEW_NOTES = (
    "First periodic review of the autocomplete in production. Latency: p95 held within the "
    "40 ms agreed all month but for the day-11 incident (14:00 to 16:30, connection pool "
    "saturated), acknowledged within 12 minutes and resolved by resizing the pool from 20 "
    "to 60 connections. Errors are back under 0.2 %. Since mid-month the switch-to-typing "
    "rate has crept from 18 % to about 20 % while query length is steady: the suggestions "
    "fit shoppers less well.\n"
    "Actions: search_engineer adds an alert on the connection pool's saturation to the "
    "monitoring spec; product analytics breaks the switch-to-typing rate down by category "
    "before the next review; if the weekly drift checks flag the inputs, we start a new "
    "cycle rather than wait for the next review."
)


def monitoring_month(deployment: Deployment, *, engineer) -> tuple[datetime, datetime]:
    """Thirty days of the live autocomplete, pushed a day at a time: latency every minute,
    throughput, errors, query length and the switch-to-typing rate every five minutes.
    On day 11 from 14:00 to 16:30 a saturated connection pool makes latency jump (the
    "Suggestions slow" alert fires, is acknowledged and resolved); from day 15 shoppers
    switch back to typing more often. Rollups are made here, as the worker would. On day
    18 the ML engineer records the month's periodic review (keep, with actions)."""
    from deployments.services.rollups import rollups_refresh

    rng = np.random.default_rng(30)
    end = timezone.now().replace(second=0, microsecond=0)
    start = end - timedelta(days=MONTH_DAYS)
    incident = (
        start.replace(hour=14, minute=0) + timedelta(days=INCIDENT_DAY),
        start.replace(hour=16, minute=30) + timedelta(days=INCIDENT_DAY),
    )
    for day in range(MONTH_DAYS):
        opened = start + timedelta(days=day)
        minutes = np.arange(24 * 60)
        moments = [opened + timedelta(minutes=int(m), seconds=20) for m in minutes]
        hours = np.array([(m.hour + m.minute / 60) for m in moments])
        busy = 0.6 + 0.4 * np.sin((hours - 6) / 24 * 2 * np.pi).clip(0)  # evenings are busy
        latency = rng.gamma(9, 1.4, minutes.size) * (0.8 + 0.4 * busy)
        slow = np.array([incident[0] <= m < incident[1] for m in moments])
        latency[slow] = rng.uniform(45, 120, slow.sum())
        points = [
            {"name": "latency_ms", "value": round(float(v), 2), "timestamp": m.isoformat()}
            for m, v in zip(moments, latency, strict=True)
        ]
        later = max(0.0, (day - DRIFT_DAY) / (MONTH_DAYS - DRIFT_DAY))
        for m, b, s in zip(moments[::5], busy[::5], slow[::5], strict=True):
            values = {
                "throughput_qps": 300 * b * rng.uniform(0.95, 1.05),
                "error_rate": rng.uniform(0.01, 0.03) if s else rng.uniform(0, 0.002),
                "input_length": rng.normal(11, 1.2),
                "switch_to_typing_rate": rng.normal(0.18 + 0.1 * later, 0.015),
            }
            points += [
                {"name": name, "value": round(float(v), 4), "timestamp": m.isoformat()}
                for name, v in values.items()
            ]
        metrics_push(
            actor=engineer,
            deployment=deployment,
            points=points,
            idempotency_key=f"month-day-{day}",
            now=opened + timedelta(days=1),
        )
    rollups_refresh(deployment_id=deployment.pk)
    reviewed = start.replace(hour=10, minute=0) + timedelta(days=REVIEW_DAY)
    periodic_review(deployment, reviewer=engineer, at=reviewed)
    return incident


def periodic_review(deployment: Deployment, *, reviewer, at: datetime) -> None:
    """The month's review, recorded through the service and dated ``at``; its event is
    recorded as the demo loads."""
    from deployments.models import MonitoringReview
    from deployments.services.reviews import review_record

    review = review_record(
        actor=reviewer, deployment=deployment, outcome="actions", notes=REVIEW_NOTES
    )
    MonitoringReview.objects.filter(pk=review.pk).update(reviewed_at=at)


def latency_incident(deployment: Deployment, incident: tuple[datetime, datetime], *, engineer):
    """The alert of the incident: fired when it began, acknowledged 12 minutes later by the
    on-call engineer, resolved by them after the fix. The alert keeps the incident's times;
    its events are recorded as the demo loads."""
    from deployments.models import Alert
    from deployments.services.alerts import alert_acknowledge, alert_fire, alert_resolve

    alert, _ = alert_fire(
        deployment=deployment,
        source=Alert.Source.SPEC,
        rule="Suggestions slow",
        key="Suggestions slow",
        severity="page",
        summary="p95 latency_ms over 60 minutes is 108 ms, above the 40 ms agreed.",
    )
    alert_acknowledge(actor=engineer, alert=alert)
    alert_resolve(
        actor=engineer,
        alert=alert,
        reason="Connection pool resized from 20 to 60 connections; p95 back at 16 ms.",
    )
    Alert.objects.filter(pk=alert.pk).update(
        fired_at=incident[0] + timedelta(minutes=5),
        acknowledged_at=incident[0] + timedelta(minutes=17),
        resolved_at=incident[1] + timedelta(minutes=10),
    )
    return alert


def _signed_deployment(project: Project, owner, engineer, content: dict) -> Deployment:
    deployment = deployment_create(
        actor=engineer, project=project, model_version=project_selectors.candidate_model(project)
    )
    plan = plan_save(
        actor=engineer,
        deployment=deployment,
        content=content,
        note="Agreed with the business owner in the release review.",
    )
    for person, role in ((owner, "business_owner"), (engineer, "ml_engineer")):
        signoff_record(actor=person, document=plan, role=role, decision="approve")
    return deployment


def _walk(
    deployment: Deployment,
    engineer,
    *,
    started: datetime,
    latency_ms: float,
    slow_at: float | None,
    seed: int,
) -> Rollout:
    """Start at ``started`` and promote step after step, each on the points of its window,
    until the rollout finishes or a promotion is refused (at the ``slow_at`` % step)."""
    content = deployment.plans.get().content
    qps = content["serving"]["throughput"]["qps"]
    rng = np.random.default_rng(seed)
    rollout = rollout_start(
        actor=engineer, deployment=deployment, reason="Canary from CI", now=started
    )
    for number, step in enumerate(plan_steps(content)):
        opened = rollout.step_started_at
        closed = opened + timedelta(minutes=step.window_minutes)
        points = _points(
            rng,
            opened,
            closed,
            latency_ms=latency_ms,
            slow=step.traffic == slow_at,
            qps=qps * step.traffic / 100,
        )
        metrics_push(
            actor=engineer,
            deployment=deployment,
            points=points,
            idempotency_key=f"rollout-{rollout.pk}-step-{number}",
            now=closed,
        )
        try:
            rollout, _ = rollout_promote(
                actor=engineer,
                deployment=deployment,
                reason=f"Step {number + 1} analysed by CI",
                step=number,
                now=closed + timedelta(minutes=1),
            )
        except PromotionRefused:
            # The analysis is on record; the rollout waits at this step for a decision.
            return Rollout.objects.get(pk=rollout.pk)
    return rollout


def _points(
    rng: np.random.Generator,
    opened: datetime,
    closed: datetime,
    *,
    latency_ms: float,
    slow: bool,
    qps: float,
) -> list[dict]:
    """A latency sample every ten seconds of the window (when ``slow``, one in eight waits
    230-330 ms), and each minute the throughput just above ``qps``, errors, null outputs
    and missing inputs."""
    seconds = int((closed - opened).total_seconds())
    moments = [opened + timedelta(seconds=s) for s in range(5, seconds, 10)]
    latency = np.clip(rng.normal(latency_ms, latency_ms / 6, len(moments)), 1, None)
    if slow:
        stuck = rng.random(len(moments)) < 1 / 8
        latency[stuck] = rng.uniform(230, 330, stuck.sum())
    points = [
        {"name": "latency_ms", "value": round(float(value), 2), "timestamp": at.isoformat()}
        for at, value in zip(moments, latency, strict=True)
    ]
    for minute in range(seconds // 60):
        at = (opened + timedelta(minutes=minute, seconds=30)).isoformat()
        values = {
            "throughput_qps": qps * rng.uniform(1.02, 1.12),
            "error_rate": rng.uniform(0, 0.004),
            "null_output_rate": rng.uniform(0, 0.003),
            "missing_value_rate": rng.uniform(0.01, 0.03),
        }
        points += [
            {"name": name, "value": round(float(value), 4), "timestamp": at}
            for name, value in values.items()
        ]
    return points
