"""Deployments: how a model version is served, the signed plan, rollouts and live metrics."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from portal.jobs import Job
from portal.records import WriteOnce
from projects.models.signing import Signature, SignedDocument


class Deployment(models.Model):
    """Putting one model version of a project into service in one environment."""

    project = models.ForeignKey(
        "projects.Project", on_delete=models.PROTECT, related_name="deployments"
    )
    model_version = models.ForeignKey(
        "projects.ModelVersion", on_delete=models.PROTECT, related_name="deployments"
    )
    name = models.CharField(max_length=100)
    environment = models.CharField(max_length=60, default="production")
    #: The project's cycle (prototyping → monitoring and back) this deployment belongs to.
    cycle = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("deployment", args=[self.pk])


class DeploymentToken(models.Model):
    """Binds an API token (metrics scope) to one deployment: its exporters push that
    deployment's live metrics with it and can do nothing else (portal.access)."""

    token = models.OneToOneField(
        "projects.ApiToken",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="deployment_binding",
    )
    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="tokens")

    def __str__(self) -> str:
        return f"{self.token} for {self.deployment}"


class DeploymentPlan(SignedDocument):
    """One version of a deployment's plan (deployments.analysis.plan); a change is a new
    version, never an edit."""

    write_once_message = "A deployment plan cannot be changed; save a new version."

    project = models.ForeignKey(
        "projects.Project", on_delete=models.PROTECT, related_name="deployment_plans"
    )
    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="plans")
    #: The cleaned plan (deployments.analysis.plan.clean_plan).
    content = models.JSONField()

    class Meta:
        ordering = ["deployment", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "version"], name="plan_version_once")
        ]

    def __str__(self) -> str:
        return f"plan v{self.version}"

    def get_absolute_url(self) -> str:
        return reverse("deployment-plan", args=[self.pk])


class PlanSignOff(Signature):
    """A sign-off of one deployment plan version."""

    document_field = "plan"

    plan = models.ForeignKey(DeploymentPlan, on_delete=models.PROTECT, related_name="signoffs")

    class Meta(Signature.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "signed_by"],
                condition=models.Q(revoked_at__isnull=True),
                name="plan_signoff_once_per_person",
            )
        ]


class Rollout(models.Model):
    """Moving traffic to the deployment's model step by step, as its signed plan says."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        FINISHED = "finished", "Finished"
        ROLLED_BACK = "rolled_back", "Rolled back"
        ABORTED = "aborted", "Aborted"

    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="rollouts")
    plan = models.ForeignKey(DeploymentPlan, on_delete=models.PROTECT, related_name="rollouts")
    pattern = models.CharField(max_length=20)
    status = models.CharField(max_length=20, choices=Status, default=Status.ACTIVE)
    #: Index of the current step in the plan's steps (0 for patterns with one).
    step = models.PositiveSmallIntegerField(default=0)
    #: Share of traffic (percent) the new model serves now; 0 in shadow.
    traffic = models.FloatField(default=0)
    #: Blue-green: the environment serving traffic now.
    live_environment = models.CharField(max_length=60, blank=True)
    #: When the current step began: its analysis window starts here.
    step_started_at = models.DateTimeField(default=timezone.now)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-started_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["deployment"],
                condition=models.Q(status="active"),
                name="one_active_rollout",
            )
        ]

    def __str__(self) -> str:
        return f"rollout {self.pk} ({self.get_status_display().lower()})"

    def get_absolute_url(self) -> str:
        return reverse("deployment", args=[self.deployment_id]) + f"#rollout-{self.pk}"


class Analysis(WriteOnce):
    """One judgement of a rollout step's window of live metrics, stored whole and hashed."""

    write_once_message = "An analysis cannot be changed; run a new one."

    class Outcome(models.TextChoices):
        PASS = "pass", "Pass"
        FAIL = "fail", "Fail"
        INCONCLUSIVE = "inconclusive", "Inconclusive"

    rollout = models.ForeignKey(Rollout, on_delete=models.PROTECT, related_name="analyses")
    step = models.PositiveSmallIntegerField()
    traffic = models.FloatField()
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    outcome = models.CharField(max_length=20, choices=Outcome)
    #: deployments.analysis.window.Analysis.as_dict(): every check with its numbers.
    checks = models.JSONField()
    #: Where each metric came from: pushed points or a Prometheus query, and how many.
    inputs = models.JSONField(default=dict)
    #: sha256 of the canonical JSON of the window, inputs and checks.
    sha256 = models.CharField(max_length=64)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "analyses"

    def __str__(self) -> str:
        return f"analysis {self.pk} ({self.outcome})"

    def get_absolute_url(self) -> str:
        return reverse("deployment", args=[self.rollout.deployment_id]) + f"#analysis-{self.pk}"


class RolloutMove(WriteOnce):
    """One step of a rollout's history: who moved it where, why, on which analysis."""

    write_once_message = "A rollout's history cannot be changed."

    class Action(models.TextChoices):
        START = "start", "Started"
        PROMOTE = "promote", "Promoted"
        SWITCH = "switch", "Switched"
        FINISH = "finish", "Finished"
        ROLLBACK = "rollback", "Rolled back"
        ABORT = "abort", "Aborted"

    rollout = models.ForeignKey(Rollout, on_delete=models.PROTECT, related_name="moves")
    action = models.CharField(max_length=20, choices=Action)
    step = models.PositiveSmallIntegerField()
    traffic = models.FloatField()
    live_environment = models.CharField(max_length=60, blank=True)
    reason = models.TextField(blank=True)
    analysis = models.ForeignKey(
        Analysis, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    #: The token's prefix when a pipeline or release tool moved it.
    token_prefix = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} at {self.traffic:g} %"


class MetricBatch(WriteOnce):
    """One pushed batch of live metric points; its idempotency key makes a retry harmless."""

    write_once_message = "A metric batch cannot be changed; push a new one."

    deployment = models.ForeignKey(
        Deployment, on_delete=models.PROTECT, related_name="metric_batches"
    )
    idempotency_key = models.CharField(max_length=100)
    #: sha256 of the canonical points: the same key with other points is refused.
    body_sha256 = models.CharField(max_length=64)
    points = models.PositiveIntegerField()
    pushed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    token_prefix = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["deployment", "idempotency_key"], name="metric_batch_once"
            )
        ]

    def __str__(self) -> str:
        return f"batch {self.idempotency_key} ({self.points} points)"


class MetricPoint(models.Model):
    """One live value of one metric (deployments.analysis.catalog), in UTC."""

    id = models.BigAutoField(primary_key=True)
    deployment = models.ForeignKey(
        Deployment, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    batch = models.ForeignKey(
        MetricBatch, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    name = models.CharField(max_length=60)
    timestamp = models.DateTimeField()
    value = models.FloatField()
    labels = models.JSONField(default=dict)

    class Meta:
        indexes = [
            models.Index(fields=["deployment", "name", "timestamp"], name="metric_window"),
        ]

    def __str__(self) -> str:
        return f"{self.name} = {self.value:g} at {self.timestamp:%Y-%m-%d %H:%M:%S}"


class MetricRollup(models.Model):
    """One metric of one deployment over one minute or hour: count, sum, extremes and
    percentiles, recomputed from the bucket's points (never added up), so a 30-day chart
    reads 720 rows per metric instead of millions of points."""

    class Resolution(models.IntegerChoices):
        MINUTE = 60, "Minute"
        HOUR = 3600, "Hour"

    id = models.BigAutoField(primary_key=True)
    deployment = models.ForeignKey(
        Deployment, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    name = models.CharField(max_length=60)
    resolution = models.PositiveIntegerField(choices=Resolution)
    bucket = models.DateTimeField()
    count = models.PositiveIntegerField()
    total = models.FloatField()
    minimum = models.FloatField()
    maximum = models.FloatField()
    p50 = models.FloatField()
    p95 = models.FloatField()
    p99 = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["deployment", "name", "resolution", "bucket"], name="metric_rollup_bucket"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} at {self.bucket:%Y-%m-%d %H:%M} ({self.count} points)"


class RollupDue(models.Model):
    """Stored points whose rollups are not yet recomputed: the hours each metric of one
    pushed batch touched, written in the push's transaction and removed once rolled up."""

    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="+")
    #: {metric name: [[first hour, last hour], ...]}: runs of touched hours, ISO 8601.
    spans = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"rollups due for {', '.join(self.spans)}"


class DriftCheck(Job):
    """A production period's data against the reference: each column's test and the
    table's verdict (deployments.analysis.drift), stored whole and hashed."""

    task_name = "deployments.drift_check"

    deployment = models.ForeignKey(
        Deployment, on_delete=models.PROTECT, related_name="drift_checks"
    )
    reference = models.ForeignKey(
        "projects.DatasetVersion", on_delete=models.PROTECT, related_name="+"
    )
    current = models.ForeignKey(
        "projects.DatasetVersion", on_delete=models.PROTECT, related_name="+"
    )
    #: The columns compared, each with its kind: [{"name", "kind"}].
    columns = models.JSONField(default=list)
    #: The monitoring spec's tests by column when the check was asked for.
    rules = models.JSONField(default=dict, blank=True)
    drift_share = models.FloatField()
    result = models.JSONField(default=dict, blank=True)
    result_sha256 = models.CharField(max_length=64, blank=True)
    share = models.FloatField(null=True, blank=True)
    drifted = models.BooleanField(null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"drift check {self.pk}"

    @property
    def started_by(self):
        return self.requested_by

    @property
    def project(self):
        return self.deployment.project


class Alert(models.Model):
    """Something in production past what the team agreed to watch: fired by a rule of the
    monitoring spec (a drift verdict) or by the team's own Alertmanager; acknowledged and
    resolved by people (or resolved when its source says it is over). One open alert per
    rule and deployment, while it fires."""

    class State(models.TextChoices):
        FIRING = "firing", "Firing"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"

    class Source(models.TextChoices):
        SPEC = "spec", "Monitoring spec"
        ALERTMANAGER = "alertmanager", "Alertmanager"

    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="alerts")
    source = models.CharField(max_length=20, choices=Source)
    #: The spec's alert name, or Alertmanager's alertname.
    rule = models.CharField(max_length=200)
    #: What makes two firings the same alert: the spec's name, or Alertmanager's fingerprint.
    key = models.CharField(max_length=300)
    severity = models.CharField(max_length=20, blank=True)
    summary = models.TextField()
    details = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=20, choices=State, default=State.FIRING)
    fired_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    #: None when the source resolved it (the drift is gone, Alertmanager said so).
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    resolve_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-fired_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["deployment", "key"],
                condition=~models.Q(state="resolved"),
                name="one_open_alert_per_rule",
            )
        ]

    def __str__(self) -> str:
        return f"alert {self.pk} ({self.rule}, {self.state})"

    @property
    def project(self):
        return self.deployment.project


class AlertWebhook(models.Model):
    """Where a deployment's alert changes are POSTed, signed with ``secret`` (HMAC-SHA256
    over the timestamp and the body, as Stripe and GitHub sign theirs)."""

    deployment = models.ForeignKey(
        Deployment, on_delete=models.PROTECT, related_name="alert_webhooks"
    )
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=100)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.url


class AlertDelivery(models.Model):
    """One alert change sent to one webhook: retried with exponential backoff by the
    worker, every attempt's outcome kept for the page."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    alert = models.ForeignKey(Alert, on_delete=models.PROTECT, related_name="deliveries")
    #: Where it goes: a webhook, or (without one) the e-mail address in ``recipient``.
    webhook = models.ForeignKey(
        AlertWebhook, on_delete=models.PROTECT, related_name="deliveries", null=True, blank=True
    )
    recipient = models.EmailField(max_length=254, blank=True)
    #: The alert's state this delivery tells of.
    change = models.CharField(max_length=20, choices=Alert.State)
    body = models.JSONField()
    status = models.CharField(max_length=20, choices=Status, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(webhook__isnull=False) & models.Q(recipient=""))
                | (models.Q(webhook__isnull=True) & ~models.Q(recipient="")),
                name="delivery_to_webhook_or_address",
            )
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} of {self.alert} ({self.status})"


class ProductionPeriod(Job):
    """A span of production time and the data the deployment saw in it: a dataset version
    of purpose production_sample, uploaded as any other. The job derives its input and
    output metrics (deployments.analysis.production) and stores them as metric points."""

    task_name = "deployments.production_metrics"

    deployment = models.ForeignKey(
        Deployment, on_delete=models.PROTECT, related_name="production_periods"
    )
    dataset_version = models.ForeignKey(
        "projects.DatasetVersion", on_delete=models.PROTECT, related_name="+"
    )
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    #: The model's score (or prediction) column; blank when the data holds none.
    score_column = models.CharField(max_length=200, blank=True)
    #: A score at or above it counts as positive.
    threshold = models.FloatField(default=0.5)
    #: The column that names each prediction, which delayed labels are joined on.
    id_column = models.CharField(max_length=200, blank=True)
    #: How many points were derived, once the job has run.
    points = models.PositiveIntegerField(null=True, blank=True)
    #: Performance estimated from the scores before labels arrive (the job writes it):
    #: the reference evaluation, and per metric the estimate with its band and thresholds;
    #: or why there is none.
    estimate = models.JSONField(default=dict, blank=True)
    #: Performance from the labels joined so far (label batches write it): labelled rows,
    #: the metrics, and the audit's group metrics over them.
    realized = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )

    class Meta:
        ordering = ["-period_end", "-pk"]
        constraints = [
            # One version is one period's data, for a deployment.
            models.UniqueConstraint(
                fields=["deployment", "dataset_version"], name="production_period_version_once"
            ),
            models.CheckConstraint(
                condition=models.Q(period_end__gt=models.F("period_start")),
                name="production_period_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.period_start:%Y-%m-%d %H:%M} to {self.period_end:%Y-%m-%d %H:%M}"

    @property
    def started_by(self):
        return self.created_by

    @property
    def project(self):
        return self.deployment.project

    @property
    def idempotency_key(self) -> str:
        """The key of the metric batch the job pushes: a rerun stores its points once."""
        return f"period-{self.pk}"


class LabelBatch(Job):
    """Delayed ground truth: a dataset version of prediction ids and their labels, joined
    by id to the rows of the deployment's production periods. The job counts and names the
    ids that match no prediction and recomputes the realized performance of each period
    it touches."""

    task_name = "deployments.label_batch"

    deployment = models.ForeignKey(
        Deployment, on_delete=models.PROTECT, related_name="label_batches"
    )
    dataset_version = models.ForeignKey(
        "projects.DatasetVersion", on_delete=models.PROTECT, related_name="+"
    )
    id_column = models.CharField(max_length=200)
    label_column = models.CharField(max_length=200)
    #: Rows, matched and unmatched ids (the first few named), periods touched.
    result = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["deployment", "dataset_version"], name="label_batch_version_once"
            )
        ]

    def __str__(self) -> str:
        return f"label batch {self.pk}"

    @property
    def started_by(self):
        return self.created_by

    @property
    def project(self):
        return self.deployment.project


class MonitoringReview(models.Model):
    """A periodic review of a live deployment, at the cadence the monitoring spec sets: who
    looked, when, what they concluded and why. Written once, never edited."""

    class Outcome(models.TextChoices):
        CONTINUE = "continue", "Keep in production"
        ACTIONS = "actions", "Keep, with actions"
        RETRAIN = "retrain", "Start a new cycle"

    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="reviews")
    #: The project's cycle when the review was recorded.
    cycle = models.PositiveIntegerField()
    outcome = models.CharField(max_length=20, choices=Outcome)
    notes = models.TextField()
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-reviewed_at", "-pk"]

    def __str__(self) -> str:
        return f"review {self.pk} of {self.deployment}"

    @property
    def project(self):
        return self.deployment.project
