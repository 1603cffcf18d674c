"""API for recorded baselines, model versions and their evaluations."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from portal import access
from portal.api.schema import json_of
from portal.api.views import ApiViewSet
from portal.inputs import LONG_TEXT_MAX, validate_json_value
from portal.uploads import refuse_too_large
from projects import selectors
from projects.api.datasets import JOB_FIELDS, upload_fields
from projects.api.shapes import METRICS, EvaluationMappingSerializer
from projects.models import Baseline, Evaluation, ModelVersion
from projects.services import evaluations


class BaselineSerializer(serializers.ModelSerializer):
    recorded_by = serializers.CharField(
        source="recorded_by.username", default=None, allow_null=True, read_only=True
    )

    class Meta:
        model = Baseline
        fields = [
            "id",
            "kind",
            "name",
            "metric",
            "value",
            "citation",
            "evidence",
            "recorded_by",
            "created_at",
        ]
        read_only_fields = ["id", "recorded_by", "created_at"]
        extra_kwargs = {"evidence": {"max_length": LONG_TEXT_MAX}}


class ModelSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-model-detail")
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    evaluations = serializers.HyperlinkedIdentityField(view_name="api-evaluation-list")
    is_candidate = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = [
            "url",
            "id",
            "project",
            "name",
            "version",
            "artifact_uri",
            "code_commit",
            "framework",
            "parameters",
            "created_at",
            "evaluations",
            "is_candidate",
        ]
        read_only_fields = ["url", "id", "project", "created_at", "evaluations", "is_candidate"]
        extra_kwargs = {"parameters": {"validators": [validate_json_value]}}
        validators = []  # uniqueness answers 409 in the service

    def get_is_candidate(self, model: ModelVersion) -> bool:
        """The version the team puts forward: the gate and the criteria judge it."""
        return model.project.candidate_model_id == model.pk


class EvaluationSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-evaluation-detail")
    model = serializers.PrimaryKeyRelatedField(source="model_version", read_only=True)
    dataset_version = serializers.PrimaryKeyRelatedField(read_only=True)
    mapping = json_of(EvaluationMappingSerializer, read_only=True)
    metrics = json_of(METRICS, read_only=True)

    class Meta:
        model = Evaluation
        fields = [
            "url",
            "id",
            "model",
            "dataset_version",
            "original_name",
            "format",
            "size_bytes",
            "sha256",
            "mapping",
            *JOB_FIELDS,
            "task",
            "rows",
            "metrics",
        ]
        read_only_fields = fields


class EvaluationDetailSerializer(EvaluationSerializer):
    comparison = serializers.SerializerMethodField()

    class Meta(EvaluationSerializer.Meta):
        fields = [*EvaluationSerializer.Meta.fields, "comparison"]
        read_only_fields = fields

    def get_comparison(self, evaluation: Evaluation) -> list[dict]:
        """Per metric: this model's value beside every baseline of the project."""
        return selectors.evaluation_comparison(evaluation)


class EvaluationUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="Predictions as CSV, gzip-compressed CSV or Parquet.")
    dataset_version = serializers.IntegerField(help_text="Id of the dataset version predicted.")
    y_true = serializers.CharField(max_length=200)
    y_pred = serializers.CharField(max_length=200)
    y_score = serializers.CharField(max_length=200, required=False, allow_blank=True)
    row_id = serializers.CharField(max_length=200, required=False, allow_blank=True)
    sensitive = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, default=list
    )


class BaselineViewSet(ApiViewSet):
    serializer_class = BaselineSerializer
    queryset = Baseline.objects.none()

    @extend_schema(responses=BaselineSerializer(many=True))
    def list(self, request, project_slug: str):
        project = access.access_project(request.user, project_slug, token=self.token)
        page = self.paginate_queryset(selectors.baselines_recorded(project))
        return self.get_paginated_response(BaselineSerializer(page, many=True).data)

    @extend_schema(request=BaselineSerializer, responses={201: BaselineSerializer})
    def create(self, request, project_slug: str):
        project = access.access_project(request.user, project_slug, access.CHANGE, self.token)
        data = BaselineSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        baseline = evaluations.baseline_record(
            actor=request.user, project=project, token=self.token, **data.validated_data
        )
        return Response(BaselineSerializer(baseline).data, status=status.HTTP_201_CREATED)


class ModelViewSet(ApiViewSet):
    serializer_class = ModelSerializer
    queryset = ModelVersion.objects.none()

    @extend_schema(responses=ModelSerializer(many=True))
    def list(self, request, project_slug: str):
        project = access.access_project(request.user, project_slug, token=self.token)
        page = self.paginate_queryset(project.models.order_by("name", "-created_at"))
        data = ModelSerializer(page, many=True, context={"request": request}).data
        return self.get_paginated_response(data)

    @extend_schema(request=ModelSerializer, responses={201: ModelSerializer})
    def create(self, request, project_slug: str):
        project = access.access_project(request.user, project_slug, access.CHANGE, self.token)
        data = ModelSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        model = evaluations.model_register(
            actor=request.user, project=project, token=self.token, **data.validated_data
        )
        body = ModelSerializer(model, context={"request": request}).data
        return self.located(body, status.HTTP_201_CREATED)

    def retrieve(self, request, pk: int):
        model = selectors.model_get(request.user, pk, self.token)
        return Response(ModelSerializer(model, context={"request": request}).data)

    @extend_schema(request=None, responses=ModelSerializer)
    def candidate(self, request, pk: int):
        """Mark this version as the project's candidate model."""
        model = selectors.model_get(request.user, pk, self.token)
        access.require_project_perm(request.user, model.project, access.CHANGE, self.token)
        model = evaluations.model_mark_candidate(actor=request.user, model=model, token=self.token)
        model.project.refresh_from_db()
        return Response(ModelSerializer(model, context={"request": request}).data)


class EvaluationViewSet(ApiViewSet):
    serializer_class = EvaluationSerializer
    queryset = Evaluation.objects.none()

    @extend_schema(responses=EvaluationSerializer(many=True))
    def list(self, request, pk: int):
        model = selectors.model_get(request.user, pk, self.token)
        page = self.paginate_queryset(model.evaluations.all())
        data = EvaluationSerializer(page, many=True, context={"request": request}).data
        return self.get_paginated_response(data)

    @extend_schema(
        request={"multipart/form-data": EvaluationUploadSerializer},
        responses={202: EvaluationSerializer},
    )
    def create(self, request, pk: int):
        """Upload predictions with their column mapping; a worker computes the metrics."""
        refuse_too_large(request)
        model = selectors.model_get(request.user, pk, self.token)
        access.require_project_perm(request.user, model.project, access.CHANGE, self.token)
        fields = upload_fields(request, EvaluationUploadSerializer)
        upload = fields.pop("file")
        dataset_version = selectors.version_get(
            request.user, fields.pop("dataset_version"), self.token
        )
        evaluation = evaluations.evaluation_upload(
            actor=request.user,
            model=model,
            dataset_version=dataset_version,
            upload=upload,
            mapping=fields,
            token=self.token,
        )
        body = EvaluationSerializer(evaluation, context={"request": request}).data
        return self.located(body, status.HTTP_202_ACCEPTED)

    @extend_schema(responses=EvaluationDetailSerializer)
    def retrieve(self, request, pk: int):
        evaluation = selectors.evaluation_get(request.user, pk, self.token)
        body = EvaluationDetailSerializer(evaluation, context={"request": request}).data
        return Response(body)
