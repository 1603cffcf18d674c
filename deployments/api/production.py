"""API for production periods: what a deployment saw over a span of time, and the metrics
derived from it."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from deployments import selectors
from deployments.models import Deployment, LabelBatch, ProductionPeriod
from deployments.services.performance import label_batch_create
from deployments.services.production import production_period_create
from portal import access
from portal.api.views import ApiViewSet
from projects import selectors as project_selectors
from projects.api.datasets import JOB_FIELDS


class ProductionPeriodSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-production-period-detail")
    deployment = serializers.PrimaryKeyRelatedField(read_only=True)
    dataset_version = serializers.PrimaryKeyRelatedField(read_only=True)
    created_by = serializers.CharField(
        source="created_by.username", default=None, allow_null=True, read_only=True
    )
    points = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="Metric points derived from the period's rows, once the job has run; each "
        "is timestamped at the period's end and pushed as batch period-<id>.",
    )
    estimate = serializers.JSONField(
        read_only=True,
        help_text="Performance estimated from the scores before labels arrive (confidence-"
        "based, as NannyML's CBPE): the reference evaluation, and per metric the value, its "
        "confidence band and alert thresholds; or an error saying why there is none. It "
        "assumes calibrated scores and no concept shift.",
    )
    realized = serializers.JSONField(
        read_only=True,
        help_text="Performance from the labels joined so far: labelled rows, metrics, "
        "confusion matrix, the reference evaluation's metrics, and group metrics per "
        "sensitive column.",
    )

    class Meta:
        model = ProductionPeriod
        fields = [
            "url",
            "id",
            "deployment",
            "dataset_version",
            "period_start",
            "period_end",
            "score_column",
            "id_column",
            "threshold",
            "created_by",
            *JOB_FIELDS,
            "points",
            "estimate",
            "realized",
        ]
        read_only_fields = fields


class ZonedDateTimeField(serializers.DateTimeField):
    """A time that must carry its zone: a naive one is passed on as such, for the service
    to refuse by name, not read in the server's zone."""

    def enforce_timezone(self, value):
        if value.tzinfo is None:
            return value
        return super().enforce_timezone(value)


class ProductionPeriodWriteSerializer(serializers.Serializer):
    dataset_version = serializers.IntegerField(
        help_text="The period's data: a profiled version of a production_sample dataset."
    )
    period_start = ZonedDateTimeField(help_text="With its zone, e.g. 2026-12-01T00:00:00Z.")
    period_end = ZonedDateTimeField(help_text="After the start, not in the future.")
    score_column = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text="The model's score or prediction column. Default: score, y_score, "
        "prediction or y_pred, the first the data has.",
    )
    id_column = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text="The column that names each prediction, which delayed labels are joined "
        "on. Default: prediction_id, request_id or row_id, the first the data has.",
    )
    threshold = serializers.FloatField(
        required=False, help_text="A score at or above it is positive (0.5)."
    )


class ProductionPeriodViewSet(ApiViewSet):
    serializer_class = ProductionPeriodSerializer
    queryset = Deployment.objects.none()

    @extend_schema(responses=ProductionPeriodSerializer(many=True))
    def list(self, request, pk: int):
        """The deployment's production periods, newest first."""
        deployment = selectors.deployment_get(request.user, pk, self.token)
        page = self.paginate_queryset(selectors.production_periods_of(deployment))
        data = ProductionPeriodSerializer(page, many=True, context={"request": request}).data
        return self.get_paginated_response(data)

    @extend_schema(
        request=ProductionPeriodWriteSerializer, responses={202: ProductionPeriodSerializer}
    )
    def create(self, request, pk: int):
        """Record a period and the dataset version that holds its rows (uploaded first
        through datasets/{id}/versions/); a worker derives its input and output metrics.
        Poll the returned URL."""
        deployment = selectors.deployment_get(request.user, pk, self.token)
        access.require_project_perm(request.user, deployment.project, access.CHANGE, self.token)
        data = ProductionPeriodWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        period = production_period_create(
            actor=request.user,
            deployment=deployment,
            version=project_selectors.version_get(
                request.user, fields["dataset_version"], self.token
            ),
            period_start=fields["period_start"],
            period_end=fields["period_end"],
            score_column=fields.get("score_column", ""),
            id_column=fields.get("id_column", ""),
            threshold=fields.get("threshold"),
            token=self.token,
        )
        body = ProductionPeriodSerializer(period, context={"request": request}).data
        return self.located(body, status.HTTP_202_ACCEPTED)

    @extend_schema(responses=ProductionPeriodSerializer)
    def retrieve(self, request, pk: int):
        period = selectors.production_period_get(request.user, pk, self.token)
        return Response(ProductionPeriodSerializer(period, context={"request": request}).data)


class LabelBatchSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-label-batch-detail")
    deployment = serializers.PrimaryKeyRelatedField(read_only=True)
    dataset_version = serializers.PrimaryKeyRelatedField(read_only=True)
    created_by = serializers.CharField(
        source="created_by.username", default=None, allow_null=True, read_only=True
    )
    result = serializers.JSONField(
        read_only=True,
        help_text="Once joined: rows, matched and unmatched ids (the first 20 unmatched "
        "named), rows without an id or a label, ids repeated in the batch, and the labelled "
        "rows per production period.",
    )

    class Meta:
        model = LabelBatch
        fields = [
            "url",
            "id",
            "deployment",
            "dataset_version",
            "id_column",
            "label_column",
            "created_by",
            *JOB_FIELDS,
            "result",
        ]
        read_only_fields = fields


class LabelBatchWriteSerializer(serializers.Serializer):
    dataset_version = serializers.IntegerField(
        help_text="The labels: a profiled version of a production_sample dataset."
    )
    id_column = serializers.CharField(
        max_length=200, help_text="The column of prediction ids, as the periods name them."
    )
    label_column = serializers.CharField(max_length=200, help_text="The column of true labels.")


class LabelBatchViewSet(ApiViewSet):
    serializer_class = LabelBatchSerializer
    queryset = Deployment.objects.none()

    @extend_schema(responses=LabelBatchSerializer(many=True))
    def list(self, request, pk: int):
        """The deployment's label batches, newest first."""
        deployment = selectors.deployment_get(request.user, pk, self.token)
        page = self.paginate_queryset(selectors.label_batches_of(deployment))
        data = LabelBatchSerializer(page, many=True, context={"request": request}).data
        return self.get_paginated_response(data)

    @extend_schema(request=LabelBatchWriteSerializer, responses={202: LabelBatchSerializer})
    def create(self, request, pk: int):
        """Join delayed labels (uploaded first through datasets/{id}/versions/) by
        prediction id to the deployment's production periods; a worker counts the ids that
        match no prediction and recomputes each touched period's realized performance."""
        deployment = selectors.deployment_get(request.user, pk, self.token)
        access.require_project_perm(request.user, deployment.project, access.CHANGE, self.token)
        data = LabelBatchWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        batch = label_batch_create(
            actor=request.user,
            deployment=deployment,
            version=project_selectors.version_get(
                request.user, fields["dataset_version"], self.token
            ),
            id_column=fields["id_column"],
            label_column=fields["label_column"],
            token=self.token,
        )
        body = LabelBatchSerializer(batch, context={"request": request}).data
        return self.located(body, status.HTTP_202_ACCEPTED)

    @extend_schema(responses=LabelBatchSerializer)
    def retrieve(self, request, pk: int):
        batch = selectors.label_batch_get(request.user, pk, self.token)
        return Response(LabelBatchSerializer(batch, context={"request": request}).data)
