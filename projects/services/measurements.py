"""Business measurements: figures a business owner enters, with the evidence behind them."""

from __future__ import annotations

import hashlib
import math
from typing import TYPE_CHECKING

from django.db import transaction

from portal.exceptions import ApplicationError
from projects.analysis.attachments import ACCEPTED, KINDS, content_matches, display_name, suffix_of
from projects.analysis.criteria import CATALOG, CUSTOM_KEY
from projects.models import BusinessMeasurement, Project
from projects.services.events import event_record

if TYPE_CHECKING:
    from django.core.files.uploadedfile import UploadedFile

    from projects.models import ApiToken

#: Evidence files stay small: a screenshot, a spreadsheet, a PDF of a report.
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024


def attachment_check(attachment: UploadedFile) -> str:
    """The name to show for an evidence file, once its content is the kind its name says;
    400 for any other kind, or a file that is not (wholly) what it is named."""
    name = display_name(attachment.name or "")
    suffix = suffix_of(name)
    if suffix is None:
        raise ApplicationError(
            f"{name!r} is not a kind of file taken as evidence; attach {ACCEPTED}.",
            code="unsupported_format",
        )
    if attachment.size == 0:
        raise ApplicationError(f"{name!r} is empty.", code="empty_file")
    if not content_matches(attachment.file, suffix):
        raise ApplicationError(
            f"{name!r} is named as {KINDS[suffix]} but its content is not one (or holds "
            "something more); attach the file as it was saved.",
            code="content_mismatch",
        )
    return name


def measurement_record(
    *,
    actor,
    project: Project,
    metric: str,
    value: float,
    evidence: str,
    period: str = "",
    attachment: UploadedFile | None = None,
    token: ApiToken | None = None,
) -> BusinessMeasurement:
    """Store a business figure; the newest entry of a metric is the value criteria use."""
    metric = (metric or "").strip()
    spec = CATALOG.get(metric)
    if spec is not None and "business" not in spec.sources:
        raise ApplicationError(
            f"{spec.label} is measured from {spec.sources[0]}s, not entered by hand.",
            code="not_business_metric",
        )
    if spec is None and not (len(metric) <= 60 and CUSTOM_KEY.fullmatch(metric)):
        raise ApplicationError(
            f"{metric[:30]!r} is not a metric name: use the catalog's (e.g. conversion_rate) "
            "or lowercase words joined by underscores, at most 60 characters.",
            code="invalid_metric",
        )
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise ApplicationError("The value must be a finite number.", code="invalid_value")
    if spec is not None and spec.bounded and not 0 <= value <= 1:
        raise ApplicationError(
            f"{spec.label} is a share between 0 and 1, not {value:g}.", code="invalid_value"
        )
    evidence = (evidence or "").strip()
    if not evidence:
        raise ApplicationError(
            "Say where the figure comes from and how it was computed.", code="evidence_missing"
        )
    digest = name = ""
    if attachment is not None:
        if attachment.size > MAX_ATTACHMENT_BYTES:
            raise ApplicationError(
                f"The attachment is over {MAX_ATTACHMENT_BYTES // 2**20} MB.",
                code="attachment_too_large",
            )
        name = attachment_check(attachment)
        sha = hashlib.sha256()
        for chunk in attachment.chunks():
            sha.update(chunk)
        digest = sha.hexdigest()
    with transaction.atomic():
        entry = BusinessMeasurement.objects.create(
            project=project,
            metric=metric,
            value=float(value),
            period=(period or "").strip()[:100],
            evidence=evidence,
            attachment=attachment,
            attachment_name=name,
            attachment_sha256=digest,
            entered_by=actor,
        )
        event_record(
            actor=actor,
            verb="measurement.recorded",
            target=entry,
            project=project,
            token=token,
            payload={
                "metric": metric,
                "value": float(value),
                "period": entry.period,
                "evidence": evidence,
                "attachment_sha256": digest,
            },
        )
        return entry
