"""Shapes of the deployments API."""

from __future__ import annotations

from rest_framework import serializers

from deployments import selectors
from deployments.analysis.catalog import MAX_NAME
from deployments.analysis.points import MAX_LABEL_VALUE
from deployments.models import (
    Alert,
    AlertDelivery,
    AlertWebhook,
    Analysis,
    Deployment,
    DeploymentPlan,
    DriftCheck,
    MetricBatch,
    PlanSignOff,
    Rollout,
    RolloutMove,
)
from deployments.services.rollouts import plan_steps
from portal.inputs import validate_json_value
from projects import selectors as project_selectors
from projects.api.datasets import JOB_FIELDS
from projects.api.signoffs import SIGNATURE_FIELDS, SignatureSerializer


def _username(source: str) -> serializers.CharField:
    return serializers.CharField(source=source, default=None, allow_null=True, read_only=True)


class AnalysisSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-analysis-detail")
    rollout = serializers.PrimaryKeyRelatedField(read_only=True)
    summary = serializers.CharField(source="checks.summary", read_only=True)
    checks = serializers.ListField(
        source="checks.checks",
        child=serializers.DictField(),
        read_only=True,
        help_text="Each check: name, metric, statistic, comparator, threshold, unit, observed, "
        "count, source, origin, status (pass / fail / inconclusive) and reason.",
    )
    requested_by = _username("requested_by.username")

    class Meta:
        model = Analysis
        fields = [
            "url",
            "id",
            "rollout",
            "step",
            "traffic",
            "window_start",
            "window_end",
            "outcome",
            "summary",
            "checks",
            "inputs",
            "sha256",
            "requested_by",
            "created_at",
        ]
        read_only_fields = fields


class MoveSerializer(serializers.ModelSerializer):
    actor = _username("actor.username")
    analysis = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = RolloutMove
        fields = [
            "action",
            "step",
            "traffic",
            "live_environment",
            "reason",
            "analysis",
            "actor",
            "token_prefix",
            "created_at",
        ]
        read_only_fields = fields


class RolloutSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-rollout-detail")
    deployment = serializers.PrimaryKeyRelatedField(read_only=True)
    plan = serializers.HyperlinkedRelatedField(view_name="api-plan-detail", read_only=True)
    steps = serializers.SerializerMethodField()
    started_by = _username("started_by.username")
    moves = MoveSerializer(many=True, read_only=True)
    analyses = AnalysisSerializer(many=True, read_only=True)

    class Meta:
        model = Rollout
        fields = [
            "url",
            "id",
            "deployment",
            "plan",
            "pattern",
            "status",
            "step",
            "traffic",
            "steps",
            "live_environment",
            "step_started_at",
            "started_by",
            "started_at",
            "finished_at",
            "moves",
            "analyses",
        ]
        read_only_fields = fields

    def get_steps(self, rollout: Rollout) -> list[dict]:
        """The plan's steps: traffic share (percent) and analysis window (minutes)."""
        return [
            {"traffic": s.traffic, "window_minutes": s.window_minutes}
            for s in plan_steps(rollout.plan.content)
        ]


class PlanSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-plan-detail")
    deployment = serializers.PrimaryKeyRelatedField(read_only=True)
    created_by = _username("created_by.username")
    signed = serializers.SerializerMethodField()
    changes = serializers.SerializerMethodField()

    class Meta:
        model = DeploymentPlan
        fields = [
            "url",
            "id",
            "deployment",
            "version",
            "content",
            "content_sha256",
            "note",
            "created_by",
            "created_at",
            "signed",
            "changes",
        ]
        read_only_fields = fields

    def get_signed(self, plan: DeploymentPlan) -> dict:
        """Whether both roles approved this version, fresh, and who or what is missing."""
        summary = project_selectors.signoff_summary(plan)
        return {"passed": summary.passed, "detail": summary.detail, "missing": summary.missing}

    def get_changes(self, plan: DeploymentPlan) -> list[str]:
        """What changed from the version before."""
        return selectors.plan_changes(plan)


class PlanWriteSerializer(serializers.Serializer):
    content = serializers.DictField(
        validators=[validate_json_value],
        help_text="The whole plan: serving, deployment_type, pattern, checks, prometheus, "
        "monitoring (see docs/deployments.md).",
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=500)


class DeploymentSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-deployment-detail")
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    model_version = serializers.PrimaryKeyRelatedField(read_only=True)
    created_by = _username("created_by.username")
    plan = serializers.SerializerMethodField()
    rollout = serializers.SerializerMethodField()
    cycle = serializers.IntegerField(
        read_only=True, help_text="The project's cycle this deployment was planned in."
    )

    class Meta:
        model = Deployment
        fields = [
            "url",
            "id",
            "project",
            "name",
            "environment",
            "cycle",
            "model_version",
            "created_by",
            "created_at",
            "plan",
            "rollout",
        ]
        read_only_fields = fields

    def get_plan(self, deployment: Deployment) -> str | None:
        """The current plan version."""
        plan = selectors.plan_current(deployment)
        return self._url("api-plan-detail", plan)

    def get_rollout(self, deployment: Deployment) -> str | None:
        """The newest rollout (under way or ended)."""
        return self._url("api-rollout-detail", selectors.rollout_newest(deployment))

    def _url(self, view: str, obj) -> str | None:
        if obj is None:
            return None
        from django.urls import reverse

        return self.context["request"].build_absolute_uri(reverse(view, args=[obj.pk]))


class DeploymentWriteSerializer(serializers.Serializer):
    model_version = serializers.IntegerField(help_text="The candidate model version's id.")
    name = serializers.CharField(required=False, allow_blank=True, max_length=100)
    environment = serializers.CharField(required=False, allow_blank=True, max_length=60)


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class PromoteSerializer(ReasonSerializer):
    step = serializers.IntegerField(
        required=False,
        min_value=0,
        help_text="The step you mean to promote (from the rollout's `step`); a promotion "
        "that finds the rollout elsewhere is refused.",
    )


class PromotionSerializer(serializers.Serializer):
    rollout = RolloutSerializer()
    analysis = AnalysisSerializer()


class PointSerializer(serializers.Serializer):
    """For the schema; points are checked by deployments.analysis.points."""

    name = serializers.CharField(max_length=MAX_NAME)
    value = serializers.FloatField()
    timestamp = serializers.CharField(
        max_length=40, help_text="ISO 8601 with a time zone, or Unix seconds."
    )
    labels = serializers.DictField(
        child=serializers.CharField(max_length=MAX_LABEL_VALUE),
        required=False,
        validators=[validate_json_value],
    )


class MetricsWriteSerializer(serializers.Serializer):
    idempotency_key = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        help_text="The same key when you retry the batch (or the Idempotency-Key header).",
    )
    points = PointSerializer(many=True)


class MetricBatchSerializer(serializers.ModelSerializer):
    deployment = serializers.PrimaryKeyRelatedField(read_only=True)
    pushed_by = _username("pushed_by.username")

    class Meta:
        model = MetricBatch
        fields = [
            "id",
            "deployment",
            "idempotency_key",
            "body_sha256",
            "points",
            "pushed_by",
            "token_prefix",
            "created_at",
        ]
        read_only_fields = fields


class PlanSignOffSerializer(SignatureSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-plan-signoff-detail")
    plan = serializers.HyperlinkedRelatedField(view_name="api-plan-detail", read_only=True)
    version = serializers.IntegerField(source="plan.version", read_only=True)

    class Meta:
        model = PlanSignOff
        fields = ["url", "id", "plan", *SIGNATURE_FIELDS]
        read_only_fields = fields


class DriftCheckSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-drift-check-detail")
    deployment = serializers.PrimaryKeyRelatedField(read_only=True)
    reference = serializers.PrimaryKeyRelatedField(read_only=True)
    current = serializers.PrimaryKeyRelatedField(read_only=True)
    requested_by = _username("requested_by.username")
    columns = serializers.JSONField(read_only=True, help_text="The columns compared: name, kind.")
    rules = serializers.JSONField(
        read_only=True, help_text="The monitoring spec's test per column: method, threshold."
    )
    result = serializers.JSONField(
        read_only=True,
        help_text="Once finished: each column's method, statistic, threshold, verdict, PSI, "
        "counts and histogram; the share of drifted columns and the table's verdict.",
    )

    class Meta:
        model = DriftCheck
        fields = [
            "url",
            "id",
            "deployment",
            "reference",
            "current",
            "columns",
            "rules",
            "drift_share",
            "requested_by",
            *JOB_FIELDS,
            "share",
            "drifted",
            "result_sha256",
            "result",
        ]
        read_only_fields = fields


class DriftCheckWriteSerializer(serializers.Serializer):
    reference = serializers.IntegerField(
        help_text="The dataset version the model was trained or validated on."
    )
    current = serializers.IntegerField(help_text="The production period's dataset version.")
    columns = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        max_length=500,
        help_text="Default: every numeric, text and true/false column of the reference but "
        "the label and personal data.",
    )
    drift_share = serializers.FloatField(
        required=False, help_text="The share of drifted columns that makes the table drift (0.5)."
    )


class AlertDeliverySerializer(serializers.ModelSerializer):
    webhook = serializers.CharField(
        source="webhook.url", read_only=True, allow_null=True, help_text="None for an e-mail."
    )
    recipient = serializers.CharField(
        read_only=True, help_text="The e-mail address; blank for a webhook."
    )

    class Meta:
        model = AlertDelivery
        fields = [
            "id",
            "webhook",
            "recipient",
            "change",
            "status",
            "attempts",
            "last_status_code",
            "last_error",
            "next_attempt_at",
            "delivered_at",
            "created_at",
        ]
        read_only_fields = fields


class AlertSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-alert-detail")
    deployment = serializers.PrimaryKeyRelatedField(read_only=True)
    acknowledged_by = _username("acknowledged_by.username")
    resolved_by = _username("resolved_by.username")
    details = serializers.JSONField(
        read_only=True,
        help_text=(
            "Alertmanager's labels and annotations, the drift check, or the metric's checks "
            "with their observed values; notify_skipped: who could not be e-mailed and why."
        ),
    )
    deliveries = AlertDeliverySerializer(many=True, read_only=True)

    class Meta:
        model = Alert
        fields = [
            "url",
            "id",
            "deployment",
            "source",
            "rule",
            "severity",
            "summary",
            "details",
            "state",
            "fired_at",
            "acknowledged_at",
            "acknowledged_by",
            "resolved_at",
            "resolved_by",
            "resolve_reason",
            "deliveries",
        ]
        read_only_fields = fields


class AlertResolveSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class AlertWebhookSerializer(serializers.ModelSerializer):
    created_by = _username("created_by.username")

    class Meta:
        model = AlertWebhook
        fields = ["id", "url", "active", "created_by", "created_at"]
        read_only_fields = fields


class AlertWebhookCreatedSerializer(AlertWebhookSerializer):
    secret = serializers.CharField(
        read_only=True,
        help_text="Shown this once: the receiver checks each request's Stagegate-Signature "
        "with it.",
    )

    class Meta(AlertWebhookSerializer.Meta):
        fields = [*AlertWebhookSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class AlertWebhookWriteSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=500, help_text="An http or https address.")


class AlertmanagerAnswerSerializer(serializers.Serializer):
    fired = serializers.IntegerField()
    firing_already = serializers.IntegerField()
    resolved = serializers.IntegerField()
    not_open = serializers.IntegerField()
