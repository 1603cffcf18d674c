"""Automatic baselines trained by workers, and the failure-mode risk register."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from audits.analysis.risks import CATEGORIES, severity, severity_band
from portal.jobs import Job
from portal.records import WriteOnce


class BaselineRun(Job):
    """Cross-validated dummy, linear and gradient-boosted baselines on a dataset version."""

    task_name = "audits.baseline_run"

    class Task(models.TextChoices):
        CLASSIFICATION = "classification", "Classification"
        REGRESSION = "regression", "Regression"

    dataset_version = models.ForeignKey(
        "projects.DatasetVersion", on_delete=models.PROTECT, related_name="baseline_runs"
    )
    target = models.CharField(max_length=200)
    #: Asked for by the person; blank means "detect from the target column".
    requested_task = models.CharField(max_length=20, choices=Task, blank=True)
    task = models.CharField(max_length=20, choices=Task, blank=True)
    row_cap = models.PositiveIntegerField()
    rows_used = models.PositiveBigIntegerField(null=True, blank=True)
    sampled = models.BooleanField(default=False)
    result = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"baseline run {self.pk} on {self.dataset_version}"

    @property
    def project(self):
        return self.dataset_version.dataset.project

    @property
    def started_by(self):
        return self.requested_by

    def get_absolute_url(self) -> str:
        return reverse("baseline-run-detail", args=[self.pk])


class RiskItem(models.Model):
    """One failure mode in a project's register: how likely, how bad, what is done about it."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        MITIGATED = "mitigated", "Mitigated"
        ACCEPTED = "accepted", "Accepted"

    project = models.ForeignKey("projects.Project", on_delete=models.PROTECT, related_name="risks")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    category = models.CharField(max_length=30, choices=CATEGORIES)
    likelihood = models.PositiveSmallIntegerField()
    impact = models.PositiveSmallIntegerField()
    mitigation = models.TextField(blank=True)
    owner = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=20, choices=Status, default=Status.OPEN)
    rationale = models.TextField(blank=True, help_text="Why an accepted risk is acceptable.")
    #: The starter-list entry it came from, so the list is pulled in once.
    starter_key = models.CharField(max_length=60, blank=True)
    #: Audit thresholds that watch this risk (names from audits.analysis.audit_config).
    audit_checks = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["project", "-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(likelihood__gte=1, likelihood__lte=5, impact__gte=1, impact__lte=5),
                name="risk_scale_1_to_5",
            ),
            models.CheckConstraint(
                condition=~Q(status="accepted") | ~Q(rationale=""),
                name="risk_accepted_with_rationale",
            ),
            models.UniqueConstraint(
                fields=["project", "starter_key"],
                condition=~Q(starter_key=""),
                name="risk_starter_once",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def severity(self) -> int:
        return severity(self.likelihood, self.impact)

    @property
    def severity_band(self) -> str:
        return severity_band(self.severity)


class AuditConfig(models.Model):
    """One version of what a project's fairness audits check; a change is a new version."""

    project = models.ForeignKey(
        "projects.Project", on_delete=models.PROTECT, related_name="audit_configs"
    )
    version = models.PositiveIntegerField()
    sensitive_features = models.JSONField(default=list)
    #: Lists of two or more sensitive features audited jointly.
    intersections = models.JSONField(default=list, blank=True)
    #: As written by a person ("1", "yes", ">50K"); blank means 1 for 0/1 labels.
    positive_label = models.CharField(max_length=200, blank=True)
    metrics = models.JSONField(default=list)
    #: name -> {"limit": number or null (off), "rationale": why this number}.
    thresholds = models.JSONField(default=dict)
    confidence = models.FloatField(default=0.95)
    min_class_support = models.PositiveIntegerField(default=30)
    note = models.CharField(max_length=500, blank=True, help_text="What changed and why.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["project", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["project", "version"], name="audit_config_version_once")
        ]

    def __str__(self) -> str:
        return f"audit configuration v{self.version}"

    def as_dict(self) -> dict:
        return {
            "sensitive_features": self.sensitive_features,
            "intersections": self.intersections,
            "positive_label": self.positive_label,
            "metrics": self.metrics,
            "thresholds": self.thresholds,
            "confidence": self.confidence,
            "min_class_support": self.min_class_support,
        }


class AuditRun(Job):
    """A fairness and slice audit of one evaluation under one configuration version."""

    task_name = "audits.audit_run"

    class Verdict(models.TextChoices):
        PASS = "pass", "Pass"
        FAIL = "fail", "Fail"
        INSUFFICIENT = "insufficient_evidence", "Insufficient evidence"
        REPORTED = "reported", "Reported (no thresholds apply)"

    evaluation = models.ForeignKey(
        "projects.Evaluation", on_delete=models.PROTECT, related_name="audits"
    )
    config = models.ForeignKey(AuditConfig, on_delete=models.PROTECT, related_name="runs")
    kind = models.CharField(max_length=20, blank=True)
    verdict = models.CharField(max_length=30, choices=Verdict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    #: sha256 of the canonical JSON of ``result``: what a review approves.
    result_sha256 = models.CharField(max_length=64, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Running the same audit twice gives one result; a failed try may be retried.
            models.UniqueConstraint(
                fields=["evaluation", "config"],
                condition=~Q(status="failed"),
                name="audit_run_once",
            )
        ]

    def __str__(self) -> str:
        return f"audit {self.pk} of {self.evaluation.model_version}"

    @property
    def project(self):
        return self.config.project

    @property
    def started_by(self):
        return self.requested_by

    def get_absolute_url(self) -> str:
        return reverse("audit-detail", args=[self.pk])


class Mitigation(Job):
    """fairlearn's ThresholdOptimizer run on a failing audit's evaluation: accuracy and
    disparity before and after, per group thresholds, under demographic parity and under
    equalized odds. Options for the team to weigh; nothing about the audit changes."""

    task_name = "audits.mitigation_run"

    audit = models.ForeignKey(AuditRun, on_delete=models.PROTECT, related_name="mitigations")
    #: As :func:`audits.analysis.mitigation.mitigation_columns` makes it, with what it read.
    result = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            # The same audit gives the same options: asking again reuses them; a failed try
            # may be retried.
            models.UniqueConstraint(
                fields=["audit"], condition=~Q(status="failed"), name="mitigation_once"
            )
        ]

    def __str__(self) -> str:
        return f"mitigation {self.pk} of audit {self.audit_id}"

    @property
    def project(self):
        return self.audit.config.project

    @property
    def started_by(self):
        return self.requested_by

    def get_absolute_url(self) -> str:
        return reverse("audit-detail", args=[self.audit_id]) + "#mitigation"


class AuditReview(WriteOnce):
    """An auditor's decision on an audit run, bound to the exact result it read."""

    # A review is a signature: a new decision is a new review.
    write_once_message = "An audit review cannot be changed; record a new review."

    class Decision(models.TextChoices):
        APPROVE = "approve", "Approve"
        REQUEST_CHANGES = "request_changes", "Request changes"
        REJECT = "reject", "Reject"

    audit = models.ForeignKey(AuditRun, on_delete=models.PROTECT, related_name="reviews")
    decision = models.CharField(max_length=20, choices=Decision)
    rationale = models.TextField()
    result_sha256 = models.CharField(max_length=64)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=~Q(rationale=""), name="audit_review_rationale")
        ]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} by {self.reviewer}"


class ReviewRequest(WriteOnce):
    """A request for an audit's review, as a pull request asks for one: the first names a
    reviewer and a due date, and after "request changes" the team asks again when ready.
    The newest request is in force; one newer than the newest review puts the audit back in
    the auditors' inbox."""

    write_once_message = "A review request cannot be changed; ask again."

    audit = models.ForeignKey(AuditRun, on_delete=models.PROTECT, related_name="review_requests")
    #: Blank: any independent auditor of the project.
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    due_on = models.DateField(null=True, blank=True)
    note = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"review of audit {self.audit_id} asked by {self.requested_by}"


class ReviewComment(WriteOnce):
    """One message in an audit's review thread; a correction is a new message."""

    write_once_message = "A review comment cannot be changed; add a new one."

    audit = models.ForeignKey(AuditRun, on_delete=models.PROTECT, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [models.CheckConstraint(condition=~Q(body=""), name="review_comment_body")]

    def __str__(self) -> str:
        return f"comment by {self.author} on audit {self.audit_id}"


class PolicyException(WriteOnce):
    """A failing finding accepted for a time: what was found, the conditions (compensating
    controls) it is accepted under, who owns it and the last day it holds. Granted with the
    decision it belongs to (an auditor's approval of a failing audit) and never edited; after
    its expiry date the check it excused fails again."""

    write_once_message = "An exception cannot be changed; record a new decision."

    class Subject(models.TextChoices):
        AUDIT = "audit", "Fairness audit"
        RISK = "risk", "High risk accepted"
        CRITERION = "criterion", "Unmet criterion accepted"

    project = models.ForeignKey(
        "projects.Project", on_delete=models.PROTECT, related_name="exceptions"
    )
    subject = models.CharField(max_length=20, choices=Subject)
    #: The approval that this exception qualifies (for an audit).
    review = models.OneToOneField(
        AuditReview, on_delete=models.PROTECT, null=True, related_name="exception"
    )
    #: The high or critical risk a business owner accepted with this exception.
    risk = models.ForeignKey(
        RiskItem, on_delete=models.PROTECT, null=True, blank=True, related_name="exceptions"
    )
    #: The criteria version and the criterion ("metric/source") a business owner accepted
    #: unmet with this exception.
    criteria_version = models.ForeignKey(
        "projects.CriteriaVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="exceptions",
    )
    criterion = models.CharField(max_length=120, blank=True)
    finding = models.TextField()
    conditions = models.TextField()
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    #: The last day the exception holds.
    expires_on = models.DateField()
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["expires_on", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(finding="") & ~Q(conditions=""), name="exception_finding_conditions"
            ),
            models.CheckConstraint(
                condition=~Q(subject="audit") | Q(review__isnull=False),
                name="exception_audit_review",
            ),
            models.CheckConstraint(
                condition=~Q(subject="risk") | Q(risk__isnull=False),
                name="exception_risk_item",
            ),
            models.CheckConstraint(
                condition=~Q(subject="criterion")
                | (Q(criteria_version__isnull=False) & ~Q(criterion="")),
                name="exception_criterion",
            ),
        ]

    def __str__(self) -> str:
        return f"Exception {self.pk} until {self.expires_on}"

    def holds_on(self, day) -> bool:
        return day <= self.expires_on

    @property
    def holds(self) -> bool:
        return self.holds_on(timezone.localdate())

    def get_absolute_url(self) -> str:
        if self.subject == self.Subject.RISK:
            return reverse("risk-list", args=[self.project.slug]) + f"#risk-{self.risk_id}"
        if self.subject == self.Subject.CRITERION:
            return reverse("criteria-version", args=[self.criteria_version_id])
        return reverse("audit-detail", args=[self.review.audit_id])

    @property
    def about(self) -> str:
        """What it excuses, in a few words: "audit 4 (fail)", "risk “Target leakage”"."""
        if self.subject == self.Subject.RISK:
            return f"risk “{self.risk.title}”"
        if self.subject == self.Subject.CRITERION:
            return f"criterion {self.criterion} of criteria v{self.criteria_version.version}"
        return f"audit {self.review.audit_id} ({self.review.audit.get_verdict_display()})"


def pack_upload_to(pack: ApprovalPack, filename: str) -> str:
    return f"packs/{pack.project_id}/{filename}"


class ApprovalPack(Job):
    """A PDF of the project's whole case, rendered by a worker from a stored JSON snapshot.

    The snapshot is taken when the pack is asked for; the HTML it was laid out from and the
    PDF's sha256 are stored with it, so the document can be traced to its data."""

    task_name = "audits.pack_render"

    project = models.ForeignKey(
        "projects.Project", on_delete=models.PROTECT, related_name="approval_packs"
    )
    snapshot = models.JSONField()
    #: sha256 of the whole snapshot (shown on the cover).
    snapshot_sha256 = models.CharField(max_length=64)
    #: sha256 of the snapshot's project state alone: the gate compares it with the state now.
    state_sha256 = models.CharField(max_length=64)
    html = models.TextField(blank=True)
    pdf = models.FileField(upload_to=pack_upload_to, max_length=300, blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    pdf_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    pages = models.PositiveIntegerField(null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            # One pack per project state: asking again reuses it (a failed one may be retried).
            models.UniqueConstraint(
                fields=["project", "state_sha256"],
                condition=~Q(status="failed"),
                name="pack_once_per_state",
            )
        ]

    def __str__(self) -> str:
        return f"approval pack {self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("pack-detail", args=[self.pk])

    @property
    def started_by(self):
        return self.requested_by


def report_upload_to(report: MonitoringReport, filename: str) -> str:
    return f"monitoring-reports/{report.deployment_id}/{filename}"


class MonitoringReport(Job):
    """A deployment's period in production as a PDF: its metrics against the spec's
    targets, drift checks, alerts and who handled them, and the decisions taken. Rendered
    by a worker from a JSON snapshot taken when it was asked for, stored with the HTML and
    the PDF's sha256, as approval packs are."""

    task_name = "audits.monitoring_report_render"

    deployment = models.ForeignKey(
        "deployments.Deployment", on_delete=models.PROTECT, related_name="monitoring_reports"
    )
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    snapshot = models.JSONField()
    snapshot_sha256 = models.CharField(max_length=64)
    html = models.TextField(blank=True)
    pdf = models.FileField(upload_to=report_upload_to, max_length=300, blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    pdf_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    pages = models.PositiveIntegerField(null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"monitoring report {self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("monitoring-report", args=[self.pk])

    @property
    def project(self):
        return self.deployment.project

    @property
    def started_by(self):
        return self.requested_by
