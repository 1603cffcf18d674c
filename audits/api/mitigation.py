"""API for mitigation options: ask for ThresholdOptimizer on a failing audit, poll the result.

The result's serializers only describe the stored JSON for the schema (as
``audits.api.shapes`` does for audits); the API passes it through unchanged.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from audits import selectors as audit_selectors
from audits.api.shapes import AuditedEvaluationSerializer
from audits.models import Mitigation
from audits.services.mitigation import mitigation_request
from portal import access
from portal.api.schema import json_of
from portal.api.views import ApiViewSet
from projects.api.datasets import JOB_FIELDS


class MitigationOperationSerializer(serializers.Serializer):
    probability = serializers.FloatField(help_text="How often the group's rows get this rule.")
    operator = serializers.CharField(help_text="'>' selects scores above the threshold.")
    threshold = serializers.FloatField(
        allow_null=True, help_text="null when infinite: see selects."
    )
    selects = serializers.CharField(help_text="above, below, all or none")


class MitigationRuleSerializer(serializers.Serializer):
    operations = MitigationOperationSerializer(many=True)
    p_ignore = serializers.FloatField(
        allow_null=True,
        help_text="Equalized odds only: how often the score is ignored and the decision is "
        "a draw, positive with probability prediction_constant.",
    )
    prediction_constant = serializers.FloatField(allow_null=True)


class MitigationOutcomeSerializer(serializers.Serializer):
    option = serializers.CharField(help_text="original, demographic_parity or equalized_odds")
    selection_rate = serializers.FloatField()
    true_positive_rate = serializers.FloatField()
    false_positive_rate = serializers.FloatField()
    rule = MitigationRuleSerializer(
        allow_null=True, help_text="The group's thresholds; null for the model as evaluated."
    )


class MitigationGroupSerializer(serializers.Serializer):
    group = serializers.CharField()
    rows = serializers.IntegerField()
    positives = serializers.IntegerField()
    outcomes = MitigationOutcomeSerializer(many=True, help_text="One per option, in order.")


class MitigationOptionSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="original, demographic_parity or equalized_odds")
    label = serializers.CharField()
    accuracy = serializers.FloatField()
    demographic_parity_difference = serializers.FloatField()
    equalized_odds_difference = serializers.FloatField()
    selected = serializers.IntegerField(help_text="Rows predicted positive.")


class MitigationFeatureSerializer(serializers.Serializer):
    feature = serializers.CharField()
    options = MitigationOptionSerializer(many=True)
    groups = MitigationGroupSerializer(many=True)


class MitigationSkippedSerializer(serializers.Serializer):
    feature = serializers.CharField()
    reason = serializers.CharField()


class MitigatedAuditSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    result_sha256 = serializers.CharField()


class MitigationResultSerializer(serializers.Serializer):
    """fairlearn's ThresholdOptimizer per sensitive feature of the audit: empty (``{}``)
    until the run has succeeded."""

    rows = serializers.IntegerField(required=False)
    positive_label = serializers.CharField(required=False)
    method = serializers.CharField(required=False)
    fairlearn_version = serializers.CharField(required=False)
    objective = serializers.CharField(required=False)
    grid_size = serializers.IntegerField(required=False)
    random_state = serializers.IntegerField(required=False)
    features = MitigationFeatureSerializer(many=True, required=False)
    skipped = MitigationSkippedSerializer(many=True, required=False)
    notes = serializers.ListField(child=serializers.CharField(), required=False)
    audit = MitigatedAuditSerializer(required=False)
    evaluation = AuditedEvaluationSerializer(required=False)
    model = serializers.CharField(required=False)
    config_version = serializers.IntegerField(required=False)
    sensitive_sources = serializers.DictField(
        child=serializers.CharField(),
        required=False,
        help_text="feature -> where its values were read from",
    )


class MitigationSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(
        view_name="api-audit-mitigation", lookup_field="audit_id", lookup_url_kwarg="pk"
    )
    audit = serializers.PrimaryKeyRelatedField(read_only=True)
    requested_by = serializers.CharField(
        source="requested_by.username", default=None, allow_null=True, read_only=True
    )
    result = json_of(MitigationResultSerializer, read_only=True)

    class Meta:
        model = Mitigation
        fields = ["url", "id", "audit", *JOB_FIELDS, "requested_by", "result"]
        read_only_fields = fields


class MitigationViewSet(ApiViewSet):
    serializer_class = MitigationSerializer
    queryset = Mitigation.objects.none()

    def retrieve(self, request, pk: int):
        """The audit's newest mitigation options (or the newest failed try); 404 until
        someone asks for them."""
        mitigation = audit_selectors.mitigation_get(request.user, pk, self.token)
        return Response(MitigationSerializer(mitigation, context={"request": request}).data)

    @extend_schema(request=None, responses={202: MitigationSerializer, 200: MitigationSerializer})
    def create(self, request, pk: int):
        """Run ThresholdOptimizer on a failing audit's evaluation; poll the URL.

        Only for an audit whose verdict is fail or insufficient evidence (409 otherwise),
        of a classifier (400 ``regression``) whose predictions came with scores (400
        ``no_scores``). The same audit gives the same options: asking again answers 200
        with the existing ones."""
        audit = audit_selectors.audit_get(request.user, pk, self.token)
        access.require_project_perm(request.user, audit.project, access.CHANGE, self.token)
        mitigation, created = mitigation_request(actor=request.user, audit=audit, token=self.token)
        body = MitigationSerializer(mitigation, context={"request": request}).data
        return self.located(body, status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)
