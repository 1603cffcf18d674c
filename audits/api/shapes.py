"""The shapes of the JSON that audits, baseline runs and approval packs store, for the API
schema. These serializers only describe; the API passes the stored JSON through unchanged.

An audit's result is made by ``audits.analysis.audit_job.audit_columns`` (with the
dataclasses of ``audits.analysis.fairness``) and ``audits.services.fairness``; a baseline
run's by ``audits.analysis.baselines.BaselineResult.to_dict``; a pack's snapshot by
``audits.snapshot.pack_state`` and ``audits.services.packs.pack_request``.
"""

from __future__ import annotations

from rest_framework import serializers

from portal.api.schema import json_of

NUMBER_OR_NULL = {"allow_null": True}
#: A class label as the data spells it: text, a number or a boolean.
LABEL = {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]}


class AuditValueSerializer(serializers.Serializer):
    value = serializers.FloatField(**NUMBER_OR_NULL)
    reason = serializers.CharField(required=False, help_text="Why the value is undefined.")
    interval = serializers.ListField(
        child=serializers.FloatField(),
        min_length=2,
        max_length=2,
        required=False,
        help_text="Wilson score interval at the audit's confidence.",
    )


class AuditGroupSerializer(serializers.Serializer):
    feature = serializers.CharField()
    name = serializers.CharField()
    count = serializers.IntegerField()
    share = serializers.FloatField()
    metrics = serializers.DictField(child=AuditValueSerializer())
    confusion = serializers.DictField(
        child=serializers.IntegerField(), help_text="tp, fp, tn, fn; empty for regression."
    )


class AuditDisparitySerializer(serializers.Serializer):
    metric = serializers.CharField()
    difference = AuditValueSerializer()
    ratio = AuditValueSerializer()
    groups_compared = serializers.ListField(child=serializers.CharField())
    groups_excluded = serializers.DictField(
        child=serializers.CharField(), help_text="group -> why it was left out"
    )


class AuditFeatureSerializer(serializers.Serializer):
    feature = serializers.CharField(help_text="A sensitive feature, or an intersection.")
    groups = AuditGroupSerializer(many=True)
    disparities = serializers.DictField(child=AuditDisparitySerializer())
    summary = serializers.DictField(child=AuditValueSerializer())
    summary_excluded = serializers.DictField(
        child=serializers.DictField(child=serializers.CharField()),
        required=False,
        help_text="headline -> group -> why it was left out of that headline and its verdict",
    )


class AuditThresholdsSerializer(serializers.Serializer):
    demographic_parity_difference = serializers.FloatField(**NUMBER_OR_NULL)
    equalized_odds_difference = serializers.FloatField(**NUMBER_OR_NULL)
    min_recall = serializers.FloatField(**NUMBER_OR_NULL)
    max_fnr_gap = serializers.FloatField(**NUMBER_OR_NULL)
    min_group_size = serializers.IntegerField()
    max_interval_width = serializers.FloatField()


class AuditVerdictSerializer(serializers.Serializer):
    threshold = serializers.CharField()
    feature = serializers.CharField()
    status = serializers.CharField(help_text="pass, fail or insufficient_evidence")
    value = serializers.FloatField(**NUMBER_OR_NULL)
    limit = serializers.FloatField()
    groups_compared = serializers.ListField(child=serializers.CharField())
    groups_excluded = serializers.DictField(child=serializers.CharField())
    explanation = serializers.CharField()


class ClassReportRowSerializer(serializers.Serializer):
    label = serializers.CharField()
    support = serializers.IntegerField()
    predicted = serializers.IntegerField()
    precision = AuditValueSerializer()
    recall = AuditValueSerializer()
    f1 = AuditValueSerializer()
    flagged = serializers.BooleanField(help_text="Rarer than the configured minimum support.")


class ClassReportSerializer(serializers.Serializer):
    rare_classes = serializers.ListField(child=serializers.CharField())
    min_support = serializers.IntegerField()
    classes = ClassReportRowSerializer(many=True)


class AuditedEvaluationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sha256 = serializers.CharField()


class AuditThresholdSettingSerializer(serializers.Serializer):
    limit = serializers.FloatField(**NUMBER_OR_NULL)
    rationale = serializers.CharField(allow_blank=True)


class AuditSettingsSerializer(serializers.Serializer):
    """A configuration version's settings (``AuditConfig.as_dict``)."""

    sensitive_features = serializers.ListField(child=serializers.CharField())
    intersections = serializers.ListField(
        child=serializers.ListField(child=serializers.CharField())
    )
    positive_label = serializers.CharField(allow_blank=True)
    metrics = serializers.ListField(child=serializers.CharField())
    thresholds = serializers.DictField(child=AuditThresholdSettingSerializer())
    confidence = serializers.FloatField()
    min_class_support = serializers.IntegerField()


class AuditResultSerializer(serializers.Serializer):
    """An audit's result: empty (``{}``) until the audit has succeeded. A classification
    audit has thresholds, verdicts and a class report; a regression audit, and a
    classification audit with every threshold off, report numbers only (``status`` is
    ``reported``)."""

    kind = serializers.CharField(required=False, help_text="classification or regression")
    status = serializers.CharField(
        required=False, help_text="pass, fail, insufficient_evidence or reported"
    )
    rows = serializers.IntegerField(required=False)
    features = AuditFeatureSerializer(many=True, required=False)
    notes = serializers.ListField(child=serializers.CharField(), required=False)
    positive_label = serializers.CharField(required=False, help_text="Classification only.")
    confidence = serializers.FloatField(required=False, help_text="Classification only.")
    thresholds = AuditThresholdsSerializer(required=False, help_text="Classification only.")
    verdicts = AuditVerdictSerializer(many=True, required=False, help_text="Classification only.")
    class_report = ClassReportSerializer(required=False, help_text="Classification only.")
    min_group_size = serializers.IntegerField(required=False, help_text="Regression only.")
    evaluation = AuditedEvaluationSerializer(required=False)
    model = serializers.CharField(required=False)
    config_version = serializers.IntegerField(required=False)
    config = AuditSettingsSerializer(required=False)
    sensitive_sources = serializers.DictField(
        child=serializers.CharField(),
        required=False,
        help_text="feature -> where its values were read from",
    )


class BaselineMetricSerializer(serializers.Serializer):
    mean = serializers.FloatField(**NUMBER_OR_NULL)
    std = serializers.FloatField(**NUMBER_OR_NULL)
    values = serializers.ListField(
        child=serializers.FloatField(**NUMBER_OR_NULL), help_text="One per fold."
    )


class BaselineModelSerializer(serializers.Serializer):
    model = serializers.CharField()
    label = serializers.CharField()
    fit_seconds = serializers.FloatField(**NUMBER_OR_NULL)
    metrics = serializers.DictField(child=BaselineMetricSerializer())


class BaselineClassCountSerializer(serializers.Serializer):
    label = json_of(LABEL, help_text="The class as the data spells it.")
    rows = serializers.IntegerField()


class BaselineResultSerializer(serializers.Serializer):
    """A baseline run's result: empty (``{}``) until the run has succeeded."""

    task = serializers.CharField(required=False, help_text="classification or regression")
    rows_total = serializers.IntegerField(required=False)
    rows_dropped = serializers.IntegerField(required=False)
    rows_used = serializers.IntegerField(required=False)
    sampled = serializers.BooleanField(required=False)
    folds = serializers.IntegerField(required=False)
    seed = serializers.IntegerField(required=False)
    features = serializers.ListField(child=serializers.CharField(), required=False)
    dropped_columns = serializers.DictField(
        child=serializers.CharField(), required=False, help_text="column -> why it was left out"
    )
    class_counts = BaselineClassCountSerializer(many=True, required=False)
    models = BaselineModelSerializer(many=True, required=False)


class PackSoftwareSerializer(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.CharField()


class PackMetaSerializer(serializers.Serializer):
    requested_by = serializers.CharField()
    stage = serializers.CharField()
    requested_at = serializers.DateTimeField()
    site_url = serializers.CharField(allow_blank=True)
    software = PackSoftwareSerializer(
        many=True,
        required=False,
        help_text="Versions of Stagegate and its libraries when the snapshot was taken "
        "(absent from packs taken before they were recorded).",
    )


class PackStateSerializer(serializers.Serializer):
    """Everything the pack shows; its hash is the pack's ``state_sha256``."""

    project = serializers.DictField(help_text="slug, name, team, task_type, description, people.")
    gate = serializers.DictField(help_text="The deployment gate: target, passed, checks.")
    criteria = serializers.DictField(
        allow_null=True, help_text="The current criteria, assessed, with their sign-offs."
    )
    signoffs = serializers.ListField(child=serializers.DictField())
    candidate = serializers.DictField(
        allow_null=True, help_text="The candidate model and its newest evaluation."
    )
    datasets = serializers.ListField(child=serializers.DictField())
    lineage = serializers.DictField(allow_null=True, help_text="nodes and edges")
    baselines = serializers.DictField(help_text="recorded, names, comparison")
    audit = serializers.DictField(
        allow_null=True, help_text="The candidate's audit: verdict, result and reviews."
    )
    risks = serializers.ListField(child=serializers.DictField())
    measurements = serializers.ListField(child=serializers.DictField())
    deployment = serializers.DictField(
        allow_null=True,
        help_text="The candidate's deployment once it has one: plan (content, version, "
        "sha256, sign-off), versions, signoffs, the gate into monitoring, and rollouts with "
        "their moves and analyses.",
    )


class PackSnapshotSerializer(serializers.Serializer):
    """The project's case when the pack was asked for; its hash is ``snapshot_sha256``."""

    state = PackStateSerializer()
    meta = PackMetaSerializer()
    charts = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text="Pushed points of the analysed rollout windows the pack charts (analysis, "
        "start, end, and per metric its targets and time-bucketed series); not part of the "
        "state (absent from packs taken before they were drawn).",
    )
