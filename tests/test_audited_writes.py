"""Audited models change only through code that also appends an event.

``QuerySet.update``, ``bulk_create``, ``bulk_update`` and raw ``UPDATE``/``DELETE`` SQL
skip ``save()`` and anything built on it, so each use on an audited model must be
listed below with the reason it is not an unaudited change (usually: the event is
appended in the same transaction). A new one fails this test, naming its line.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.apps import apps

from portal.records import AppendOnlyError
from projects.models import Event

ROOT = Path(__file__).resolve().parents[1]
SKIPPED_DIRS = {"tests", "migrations", "build", "node_modules", "var", "__pycache__"}
AUDITED_APPS = ("projects", "audits", "deployments", "portal")

#: Models of those apps whose changes are not audit events, and why.
NOT_AUDITED = {
    "EventHead": "the chain's tip, moved only by event_record in the append's transaction",
    "AlertDelivery": "attempts at telling a webhook of an alert change; the change is the event",
    "MetricRollup": "sums of pushed points, recomputed from them; the push is on record",
    "RollupDue": "the worker's list of rollups to recompute, emptied as it does them",
    "Lease": "which beat process sends the schedule: coordination, not anyone's act",
}

#: (file, text on the line, reason) for every bulk write that is allowed.
ALLOWED = [
    (
        "portal/beat.py",
        ".update(holder=holder, expires_at=until)",
        "the beat lease (a Lease row, not audited) taken or renewed",
    ),
    ("portal/storage.py", "options.update(", "a dict of pyarrow's S3 options, not a queryset"),
    (
        "deployments/services/drift.py",
        "DriftCheck.objects.filter(pk=check.pk).update(",
        "followed by the drift_check.finished event in the same store()",
    ),
    (
        "deployments/services/production.py",
        "ProductionPeriod.objects.filter(pk=period.pk).update(points=count, estimate=",
        "followed by the production_period.metrics_derived event in the same store()",
    ),
    (
        "deployments/services/production.py",
        "ProductionPeriod.objects.filter(pk=period.pk).update(realized=",
        "labels that came before the period, recomputed from the label batches on record; "
        "the production_period.metrics_derived event follows in the same store()",
    ),
    (
        "deployments/services/performance.py",
        "LabelBatch.objects.filter(pk=batch.pk).update(result=",
        "followed by the label_batch.joined event in the same store()",
    ),
    (
        "deployments/services/performance.py",
        "ProductionPeriod.objects.filter(pk=period.pk).update(realized=",
        "a period's realized performance, recomputed from the label batches on record; "
        "the label_batch.joined event follows in the same store()",
    ),
    (
        "deployments/services/alerts.py",
        ").update(attempts=delivery.attempts + 1)",
        "an AlertDelivery's attempt count: a log of sending, not an audited change",
    ),
    (
        "portal/jobs.py",
        "model.objects.filter(pk=pk).update(published_at=",
        "bookkeeping of when the broker took the task; the job's state does not change",
    ),
    (
        "portal/jobs.py",
        ".update(status=Job.Status.FAILED",
        "on_failure appends the job's failure event in the same transaction",
    ),
    (
        "portal/jobs.py",
        "if not owned.update(",
        "progress and heartbeat of a running job: not a decision, not audited",
    ),
    (
        "portal/jobs.py",
        "if not self.owned.update(heartbeat_at=",
        "the pulse of a running delivery: not a decision, not audited",
    ),
    (
        "portal/jobs.py",
        "done = owned.update(",
        "the work's store() appends its finish event in the same transaction",
    ),
    (
        "audits/services/baselines.py",
        "BaselineRun.objects.filter(pk=run.pk).update(",
        "followed by the baseline_run.finished event in the same store()",
    ),
    (
        "audits/services/fairness.py",
        "stored.update(",
        "an AuditRun's result, followed by the audit.finished event in the same store()",
    ),
    (
        "audits/services/mitigation.py",
        "Mitigation.objects.filter(pk=mitigation.pk).update(",
        "a Mitigation's result, followed by the mitigation.finished event in the same store()",
    ),
    (
        "audits/services/monitoring_reports.py",
        "MonitoringReport.objects.filter(pk=report.pk).update(",
        "followed by the monitoring_report.rendered event in the same store()",
    ),
    (
        "deployments/demo.py",
        "Alert.objects.filter(pk=alert.pk).update(",
        "demo history: the incident's alert keeps the incident's times; its events are "
        "recorded as the demo loads",
    ),
    (
        "deployments/demo.py",
        "MonitoringReview.objects.filter(pk=review.pk).update(",
        "demo history: the month's periodic review keeps its day; its event is recorded as "
        "the demo loads",
    ),
    (
        "projects/demo.py",
        "DriftCheck.objects.filter(pk=check.pk).update(",
        "demo history: a weekly check keeps its week's day; its events are recorded as the "
        "demo loads",
    ),
    (
        "audits/services/packs.py",
        "ApprovalPack.objects.filter(pk=pack.pk).update(",
        "followed by the pack.rendered event in the same store()",
    ),
    (
        "projects/services/datasets.py",
        "DatasetVersion.objects.filter(pk=version.pk).update(",
        "followed by the dataset_version.profiled event in the same store()",
    ),
    (
        "projects/services/datasets.py",
        "Dataset.objects.filter(pk=dataset.pk).exclude(",
        "a dataset's first profiled version makes it available; the same profiled event",
    ),
    (
        "projects/services/evaluations.py",
        "Evaluation.objects.filter(pk=evaluation.pk).update(",
        "followed by the evaluation.computed event in the same store()",
    ),
    (
        "projects/services/exports.py",
        "EventExport.objects.filter(pk=export.pk).update(",
        "followed by the export.finished event in the same store()",
    ),
    (
        "projects/services/teams.py",
        "Team.objects.filter(pk=team.pk).update(",
        "followed by the team.updated event (before and after) in the same transaction",
    ),
    (
        "projects/services/tokens.py",
        "ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(",
        "followed by the token.revoked event in the same transaction",
    ),
    (
        "projects/services/tokens.py",
        "ApiToken.objects.filter(pk=token.pk).update(last_used_at=",
        "last use, at most once a minute: bookkeeping, not a change of rights",
    ),
    (
        "projects/analysis/signoffs.py",
        "names.update(",
        "a dict of descriptions (the pure core holds no models)",
    ),
    (
        "benchmarks/approval_pack.py",
        "out.update(",
        "a dict of timings, not a model",
    ),
    (
        "deployments/services/metrics.py",
        "MetricPoint.objects.bulk_create(",
        "a pushed batch's points: the write-once MetricBatch row is their record, not an event",
    ),
    (
        "deployments/services/release_tools/flagger.py",
        "payload.update(",
        "a dict, the event's payload, not a model",
    ),
    (
        "benchmarks/metric_ingest.py",
        "MetricBatch.objects.bulk_create(",
        "the benchmark's throwaway database",
    ),
    (
        "benchmarks/metric_ingest.py",
        'cursor.execute("TRUNCATE deployments_metricpoint',
        "the benchmark's throwaway database, emptied between rounds",
    ),
]

# QuerySet.update takes keyword arguments only: a call with a positional argument (a
# dict, a set, a hash) is not one. A call whose arguments start on the next line counts.
ORM_UPDATE = re.compile(r"\.update\(\s*(\w+\s*=|\*\*|$)")
BULK = re.compile(r"\.bulk_(create|update)\(")
MODEL_ON_LINE = re.compile(r"\b([A-Z]\w*)\.objects\b")
RAW_SQL = re.compile(r"\b(?:UPDATE|DELETE\s+FROM|TRUNCATE(?:\s+TABLE)?)\s+\"?(\w+)", re.I)


def audited_models() -> dict[str, str]:
    """Class name -> table of every model whose changes are audited."""
    found = {}
    for model in apps.get_models():
        if model._meta.app_label in AUDITED_APPS and model.__name__ not in NOT_AUDITED:
            found[model.__name__] = model._meta.db_table
    return found


def bulk_writes(path: str, text: str, audited: dict[str, str]) -> list[tuple[int, str]]:
    """(line number, line) of each bulk write in ``text`` that may touch an audited model:
    on a named audited model, or on a queryset whose model the line does not name."""
    all_models = {m.__name__ for m in apps.get_models()}
    tables = set(audited.values())
    hits = []
    for number, line in enumerate(text.splitlines(), 1):
        code = line.split("#", 1)[0]
        if ORM_UPDATE.search(code) or BULK.search(code):
            named = MODEL_ON_LINE.search(code)
            if named and named.group(1) in all_models and named.group(1) not in audited:
                continue  # a model outside the audit (its own reason is in NOT_AUDITED)
            hits.append((number, line.strip()))
        elif any(m.group(1).lower() in tables for m in RAW_SQL.finditer(line)):
            hits.append((number, line.strip()))
    return hits


def source_files() -> list[Path]:
    files = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if any(part.startswith(".") or part in SKIPPED_DIRS for part in parts[:-1]):
            continue
        if parts[0].endswith(".egg-info"):
            continue
        files.append(path)
    return files


def _allowed(path: str, line: str) -> bool:
    return any(path == file and snippet in line for file, snippet, _ in ALLOWED)


def test_bulk_writes_on_audited_models_are_listed_with_a_reason():
    audited = audited_models()
    unlisted, used = [], set()
    for path in source_files():
        name = path.relative_to(ROOT).as_posix()
        for number, line in bulk_writes(name, path.read_text(), audited):
            if _allowed(name, line):
                used.update((f, s) for f, s, _ in ALLOWED if f == name and s in line)
            else:
                unlisted.append(f"{name}:{number}: {line}")
    assert unlisted == [], (
        "bulk writes that skip the audit trail; append an event in the same transaction, "
        "or list them in ALLOWED with the reason:\n" + "\n".join(unlisted)
    )
    stale = [f"{f}: {s}" for f, s, _ in ALLOWED if (f, s) not in used]
    assert stale == [], "ALLOWED entries that match no line any more:\n" + "\n".join(stale)


def test_every_exception_names_a_model_and_every_reason_is_given():
    names = {m.__name__ for m in apps.get_models()}
    assert set(NOT_AUDITED) <= names
    assert all(reason.strip() for _, _, reason in ALLOWED)


@pytest.mark.parametrize(
    "line",
    [
        "Event.objects.bulk_create(rows)",
        "SignOff.objects.filter(pk=1).update(decision='approve')",
        "rows.update(",
        "Project.objects.bulk_update(projects, ['stage'])",
        'cursor.execute("UPDATE projects_event SET verb = %s", [verb])',
        "cursor.execute('delete from audits_riskitem')",
    ],
)
def test_the_scan_finds_bulk_writes(line):
    assert bulk_writes("x.py", f"def f():\n    {line}\n", audited_models()) == [(2, line)]


@pytest.mark.parametrize(
    "line",
    [
        "sha.update(chunk)",
        "body.update(checks)",
        "EventHead.objects.filter(pk=head.pk).update(seq=1)",
        "# Event.objects.bulk_create(rows) would break the chain",
        '"""Rows are locked FOR NO KEY UPDATE (no_key=True)."""',
    ],
)
def test_the_scan_leaves_other_calls_alone(line):
    assert bulk_writes("x.py", f"{line}\n", audited_models()) == []


def _event(seq: int) -> Event:
    return Event(chain="portal", seq=seq, verb="forged", prev_hash=f"p{seq}", hash=f"h{seq}")


def test_events_cannot_be_bulk_created_or_bulk_updated(db):
    with pytest.raises(AppendOnlyError):
        Event.objects.bulk_create([_event(1)])
    with pytest.raises(AppendOnlyError):
        Event.objects.all().bulk_create([_event(2)])
    with pytest.raises(AppendOnlyError):
        Event.objects.bulk_update([_event(3)], ["verb"])
    assert not Event.objects.filter(verb="forged").exists()
