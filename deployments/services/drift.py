"""Drift checks: a production period's data against the reference, as a job."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq
from django.db import transaction

from deployments import selectors
from deployments.analysis.drift import (
    CATEGORICAL,
    CHISQUARE,
    DEFAULT_DRIFT_SHARE,
    JENSENSHANNON,
    KS,
    NUMERIC,
    PSI,
    WASSERSTEIN,
    DriftError,
    Rule,
    check_rule,
    dataset_drift,
)
from deployments.models import Deployment, DriftCheck
from deployments.services.alerts import drift_alerts
from portal.exceptions import ApplicationError
from portal.jobs import Progress, job_enqueue, job_run
from portal.storage import parquet_source
from projects.analysis.criteria import content_sha256
from projects.models import DatasetVersion
from projects.services.datasets import version_require_ready
from projects.services.events import event_record, job_failed_record

if TYPE_CHECKING:
    from projects.models import ApiToken

#: The monitoring spec's names of the tests (deployments.analysis.catalog.DRIFT_TESTS).
SPEC_TESTS = {
    "ks": KS,
    "chi2": CHISQUARE,
    "wasserstein": WASSERSTEIN,
    "jensen_shannon": JENSENSHANNON,
    "psi": PSI,
}
#: How a profiled column's kind is compared; dates and other kinds are not.
COMPARED = {"numeric": NUMERIC, "categorical": CATEGORICAL, "boolean": CATEGORICAL}


#: A text column with distinct values in at least this share of its rows is an identifier.
IDENTIFIER_SHARE = 0.95


def _identifiers(version: DatasetVersion) -> list[str]:
    return [
        c["name"]
        for c in (version.profile or {}).get("columns", [])
        if c.get("kind") == "categorical"
        and c.get("count")
        and c.get("distinct", 0) >= IDENTIFIER_SHARE * c["count"]
    ]


def _columns(reference: DatasetVersion, current: DatasetVersion, asked: list[str]) -> list[dict]:
    """The columns to compare with their kinds, or why they cannot be."""
    ref = {c["name"]: c["kind"] for c in reference.schema}
    cur = {c["name"]: c["kind"] for c in current.schema}
    dtypes = {c["name"]: c.get("dtype", "") for c in current.schema}
    dataset = reference.dataset
    if asked:
        unknown = [c for c in asked if c not in ref]
        if unknown:
            raise ApplicationError(
                f"The reference has no column {', '.join(map(repr, unknown))}.",
                code="unknown_column",
            )
        names = list(dict.fromkeys(asked))
    else:
        # Personal data is never compared; the label rarely comes with production data;
        # identifiers (text with a different value in nearly every row) always "drift".
        skipped = {dataset.label_column, *dataset.personal_data_columns, *_identifiers(reference)}
        names = [n for n, kind in ref.items() if kind in COMPARED and n not in skipped]
    not_comparable = [n for n in names if ref[n] not in COMPARED]
    if not_comparable:
        raise ApplicationError(
            f"Only numeric, text and true/false columns are compared, not "
            f"{', '.join(f'{n!r} ({ref[n]})' for n in not_comparable)}.",
            code="unknown_column",
        )
    if not names:
        raise ApplicationError("The reference has no column to compare.", code="unknown_column")
    missing = [n for n in names if n not in cur]
    if missing:
        raise ApplicationError(
            f"The current period has no column {', '.join(map(repr, missing))} of the "
            "reference: upload it with the reference's columns, or name the columns to compare.",
            code="columns_mismatch",
        )
    # A column with no value at all is read as the null type.
    empty = [n for n in names if dtypes[n] == "null"]
    if empty:
        raise ApplicationError(
            f"The current period's column {', '.join(map(repr, empty))} has no values (all "
            "missing): fix the export, or leave the column out.",
            code="empty_column",
        )
    changed = [n for n in names if COMPARED.get(cur[n]) != COMPARED[ref[n]]]
    if changed:
        raise ApplicationError(
            "The type of "
            + ", ".join(f"{n!r} changed ({ref[n]} in the reference, {cur[n]} now)" for n in changed)
            + ": fix the data or leave the column out.",
            code="column_type_changed",
        )
    return [{"name": n, "kind": COMPARED[ref[n]]} for n in names]


def _rules(deployment: Deployment, columns: list[dict]) -> dict[str, dict]:
    """The monitoring spec's test for each compared column (a plan gives a column one)."""
    plan = selectors.plan_current(deployment)
    spec = (plan.content.get("monitoring") or {}).get("drift", []) if plan else []
    kinds = {c["name"]: c["kind"] for c in columns}
    rules: dict[str, dict] = {}
    for test in spec:
        column = test["column"]
        if column not in kinds:
            continue
        rule = Rule(SPEC_TESTS[test["test"]], float(test["threshold"]))
        try:
            check_rule(column, kinds[column], rule)
        except DriftError as exc:
            raise ApplicationError(
                f"Plan v{plan.version}'s monitoring spec: {exc}", code="invalid_rule"
            ) from None
        rules[column] = {"method": rule.method, "threshold": rule.threshold}
    return rules


def drift_check_request(
    *,
    actor,
    deployment: Deployment,
    reference: DatasetVersion,
    current: DatasetVersion,
    columns: list[str] | None = None,
    drift_share: float | None = None,
    token: ApiToken | None = None,
    scheduled: bool = False,
) -> DriftCheck:
    """Queue the comparison of ``current`` (a production period) with ``reference``;
    ``scheduled`` when the monitoring spec's cadence asked for it, not a person."""
    project = deployment.project
    for version, what in ((reference, "reference"), (current, "current period")):
        if version.dataset.project_id != project.pk:
            raise ApplicationError(
                f"The {what} (dataset version {version.pk}) belongs to another project.",
                code="invalid_version",
            )
        version_require_ready(version)
    if reference.pk == current.pk:
        raise ApplicationError(
            "The reference and the current period are the same version: compare a production "
            "period with the data the model was trained or validated on.",
            code="same_version",
        )
    share = DEFAULT_DRIFT_SHARE if drift_share is None else float(drift_share)
    if not 0 < share <= 1:
        raise ApplicationError(
            f"drift_share is the share of drifted columns that makes the table drift, in "
            f"(0, 1]; not {drift_share!r}.",
            code="invalid",
        )
    compared = _columns(reference, current, list(columns or []))
    rules = _rules(deployment, compared)
    with transaction.atomic():
        check = DriftCheck.objects.create(
            deployment=deployment,
            reference=reference,
            current=current,
            columns=compared,
            rules=rules,
            drift_share=share,
            requested_by=actor,
        )
        event_record(
            actor=actor,
            verb="drift_check.requested",
            target=check,
            project=project,
            token=token,
            payload={
                "deployment": deployment.pk,
                "reference": reference.pk,
                "current": current.pk,
                "columns": [c["name"] for c in compared],
                "rules": rules,
                "drift_share": share,
                **({"scheduled": True} if scheduled else {}),
            },
        )
        job_enqueue(check)
        return check


def _read(version: DatasetVersion, names: list[str]) -> dict:
    with parquet_source(version.parquet) as path:
        schema = pq.read_schema(path)
        # Text columns as dictionaries: counted by index, never one string object per row.
        text = [n for n in names if pa.types.is_string(schema.field(n).type)]
        table = pq.read_table(path, columns=names, read_dictionary=text)
    return {name: table.column(name) for name in names}


def _drift_work(check: DriftCheck, progress: Progress):
    names = [c["name"] for c in check.columns]
    progress(5, "Reading the reference")
    reference = _read(check.reference, names)
    progress(35, "Reading the current period")
    current = _read(check.current, names)
    progress(65, f"Comparing {len(names)} columns")
    try:
        result = dataset_drift(
            reference,
            current,
            kinds={c["name"]: c["kind"] for c in check.columns},
            rules={column: Rule(**rule) for column, rule in check.rules.items()},
            drift_share=check.drift_share,
        )
    except DriftError as exc:
        raise ApplicationError(str(exc), code="bad_data") from None
    body = result.as_dict()
    digest = content_sha256([body])

    def store() -> None:
        DriftCheck.objects.filter(pk=check.pk).update(
            result=body, result_sha256=digest, share=result.share, drifted=result.drifted
        )
        # The spec's drift alerts fire (or resolve) with the result.
        drift_alerts(DriftCheck.objects.select_related("deployment__project").get(pk=check.pk))
        event_record(
            actor=check.requested_by,
            verb="drift_check.finished",
            target=check,
            project=check.deployment.project,
            payload={
                "result_sha256": digest,
                "drifted": result.drifted,
                "drifted_columns": [c.column for c in result.columns if c.drifted],
                "share": result.share,
            },
        )

    return store


def drift_check_run(*, check_id: int) -> None:
    job_run(DriftCheck, check_id, _drift_work, on_failure=job_failed_record("drift_check.failed"))
