"""API for recorded baselines, model versions and their evaluations."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response

from portal import access
from portal.api.schema import json_of
from portal.api.views import ApiViewSet
from portal.inputs import LONG_TEXT_MAX, validate_json_value
from portal.uploads import refuse_bad_upload
from projects import selectors
from projects.analysis.rigor import EvaluatedData, independence_check, training_overlap
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
    training_data = serializers.IntegerField(
        source="training_data_id",
        required=False,
        allow_null=True,
        min_value=1,
        max_value=2**63 - 1,
        help_text="Id of the project's dataset version the model was trained on. The gate "
        "into deployment asks for it, and that the candidate is evaluated on validation or "
        "test data that is neither this version nor derived from it.",
    )

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
            "training_data",
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


class TrainingDataSerializer(serializers.Serializer):
    training_data = serializers.IntegerField(
        min_value=1,
        max_value=2**63 - 1,
        help_text="Id of the project's dataset version the model was trained on; recorded "
        "once, for a model registered without it.",
    )


class BaselineStandingSerializer(serializers.Serializer):
    """An evaluation's value of the primary metric (the first ML criterion of the current
    criteria version, in written order) beside the best baseline's."""

    metric = serializers.CharField(help_text="Blank when no criteria name a primary metric.")
    label = serializers.CharField()
    value = serializers.FloatField(allow_null=True)
    baseline = serializers.CharField(help_text="The best baseline's name.")
    baseline_value = serializers.FloatField(allow_null=True)
    below = serializers.BooleanField(help_text="The evaluation is worse than the best baseline.")
    detail = serializers.CharField()


class EvaluationSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-evaluation-detail")
    model = serializers.PrimaryKeyRelatedField(source="model_version", read_only=True)
    dataset_version = serializers.PrimaryKeyRelatedField(read_only=True)
    mapping = json_of(EvaluationMappingSerializer, read_only=True)
    metrics = json_of(METRICS, read_only=True)
    on_training_data = serializers.SerializerMethodField()
    data_independence = serializers.SerializerMethodField()

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
            "on_training_data",
            "data_independence",
        ]
        read_only_fields = fields

    def _evaluated(self, evaluation: Evaluation) -> EvaluatedData:
        # A list view puts every row's data in the context at once (a few queries for all).
        known = self.context.setdefault("evaluated_data", {})
        if evaluation.pk not in known:
            known.update(selectors.evaluated_data([evaluation]))
        return known[evaluation.pk]

    def get_on_training_data(self, evaluation: Evaluation) -> bool:
        """The evaluation is on training data: the model's training version, a version
        derived from it by lineage, or a version of a dataset whose purpose is training."""
        return bool(training_overlap(self._evaluated(evaluation)))

    def get_data_independence(self, evaluation: Evaluation) -> str:
        """In plain words, naming the versions: why the evaluation is on training data, or
        that it is on held-out data independent of the model's training data, or that the
        training data is not recorded."""
        return independence_check(self._evaluated(evaluation)).detail


class EvaluationDetailSerializer(EvaluationSerializer):
    comparison = serializers.SerializerMethodField()
    baseline_standing = serializers.SerializerMethodField()

    class Meta(EvaluationSerializer.Meta):
        fields = [*EvaluationSerializer.Meta.fields, "comparison", "baseline_standing"]
        read_only_fields = fields

    def get_comparison(self, evaluation: Evaluation) -> list[dict]:
        """Per metric: this model's value beside every baseline of the project."""
        return selectors.evaluation_comparison(evaluation)

    @extend_schema_field(BaselineStandingSerializer(allow_null=True))
    def get_baseline_standing(self, evaluation: Evaluation) -> dict | None:
        """The stored value of the primary metric (the first ML criterion of the current
        criteria version, in written order) beside the best baseline's; null until the
        evaluation has succeeded."""
        if evaluation.status != Evaluation.Status.SUCCEEDED:
            return None
        standing = selectors.evaluation_baseline_standing(
            evaluation, evaluation.model_version.project
        )
        return BaselineStandingSerializer(standing).data


class EvaluationUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="Predictions as CSV, gzip-compressed CSV or Parquet.")
    dataset_version = serializers.IntegerField(help_text="Id of the dataset version predicted.")
    y_true = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text="Column with the true value; left out, it is the dataset version's label "
        "column, paired by position or by row_id (400 invalid_mapping when there is none).",
    )
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
        fields = dict(data.validated_data)
        model = evaluations.model_register(
            actor=request.user,
            project=project,
            token=self.token,
            training_data=fields.pop("training_data_id", None),
            **fields,
        )
        body = ModelSerializer(model, context={"request": request}).data
        return self.located(body, status.HTTP_201_CREATED)

    def retrieve(self, request, pk: int):
        model = selectors.model_get(request.user, pk, self.token)
        return Response(ModelSerializer(model, context={"request": request}).data)

    @extend_schema(request=TrainingDataSerializer, responses=ModelSerializer)
    def partial_update(self, request, pk: int):
        """Record the training data of a model registered without it, once (409 after)."""
        model = selectors.model_get(request.user, pk, self.token)
        access.require_project_perm(request.user, model.project, access.CHANGE, self.token)
        data = TrainingDataSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        model = evaluations.model_training_data_record(
            actor=request.user,
            model=model,
            training_data=data.validated_data["training_data"],
            token=self.token,
        )
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
        context = {"request": request, "evaluated_data": selectors.evaluated_data(page)}
        data = EvaluationSerializer(page, many=True, context=context).data
        return self.get_paginated_response(data)

    @extend_schema(
        request={"multipart/form-data": EvaluationUploadSerializer},
        responses={202: EvaluationSerializer},
    )
    def create(self, request, pk: int):
        """Upload predictions with their column mapping; a worker computes the metrics."""
        refuse_bad_upload(request)
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
