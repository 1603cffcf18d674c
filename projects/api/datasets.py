"""API for the dataset registry: datasets, uploaded versions, profiles and lineage."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from portal import access
from portal.api.schema import json_of
from portal.api.views import ApiViewSet
from portal.inputs import LONG_TEXT_MAX, validate_json_value
from portal.uploads import refuse_bad_upload
from projects import selectors
from projects.api.shapes import ColumnSerializer
from projects.models import Dataset, DatasetVersion
from projects.services import datasets
from projects.services.uploads import upload_check

JOB_FIELDS = ["status", "progress", "message", "error", "created_at", "finished_at"]


class DatasetSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-dataset-detail")
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    versions = serializers.HyperlinkedIdentityField(view_name="api-version-list")

    class Meta:
        model = Dataset
        fields = [
            "url",
            "id",
            "project",
            *datasets.DATASET_FIELDS,
            "created_at",
            "updated_at",
            "versions",
        ]
        read_only_fields = ["url", "id", "project", "created_at", "updated_at", "versions"]
        extra_kwargs = {
            "name": {"validators": []},  # uniqueness answers 409 in the service
            "description": {"max_length": LONG_TEXT_MAX},
            "labeling_notes": {"max_length": LONG_TEXT_MAX},
        }


class ColumnsField(serializers.ListField):
    child = serializers.CharField(max_length=200)


class DatasetWriteSerializer(DatasetSerializer):
    sensitive_columns = ColumnsField(required=False)
    personal_data_columns = ColumnsField(required=False)
    metadata = serializers.DictField(
        child=serializers.JSONField(), required=False, validators=[validate_json_value]
    )


class VersionSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-version-detail")
    dataset = serializers.PrimaryKeyRelatedField(read_only=True)
    uploaded_by = serializers.CharField(
        source="uploaded_by.username", default=None, allow_null=True, read_only=True
    )
    parents = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    schema = json_of(ColumnSerializer(many=True), read_only=True)

    class Meta:
        model = DatasetVersion
        fields = [
            "url",
            "id",
            "dataset",
            "number",
            "original_name",
            "format",
            "size_bytes",
            "sha256",
            *JOB_FIELDS,
            "rows",
            "schema",
            "source_uri",
            "collected_at",
            "collected_by",
            "labeling_batch",
            "transformation",
            "code_reference",
            "command",
            "uploaded_by",
            "parents",
        ]
        read_only_fields = fields


class VersionDetailSerializer(VersionSerializer):
    profile = serializers.SerializerMethodField()
    lineage = serializers.SerializerMethodField()

    class Meta(VersionSerializer.Meta):
        fields = [*VersionSerializer.Meta.fields, "profile", "lineage"]
        read_only_fields = fields

    def get_profile(self, version: DatasetVersion) -> dict:
        """Without values of the columns now declared personal data."""
        return selectors.version_profile(version)

    def get_lineage(self, version: DatasetVersion) -> dict:
        return selectors.lineage_graph(version)


class VersionUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV, gzip-compressed CSV or Parquet.")
    parents = serializers.ListField(
        child=serializers.IntegerField(), required=False, help_text="Ids of parent versions."
    )
    encoding = serializers.CharField(required=False, default="utf-8", max_length=40)
    delimiter = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=1, trim_whitespace=False
    )
    source_uri = serializers.CharField(required=False, allow_blank=True, max_length=500)
    collected_at = serializers.DateField(required=False, allow_null=True)
    collected_by = serializers.CharField(required=False, allow_blank=True, max_length=200)
    labeling_batch = serializers.CharField(required=False, allow_blank=True, max_length=200)
    transformation = serializers.CharField(
        required=False, allow_blank=True, max_length=LONG_TEXT_MAX
    )
    code_reference = serializers.CharField(required=False, allow_blank=True, max_length=200)
    command = serializers.CharField(required=False, allow_blank=True, max_length=2000)


def upload_fields(request, serializer_class: type[serializers.Serializer]) -> dict:
    """The validated fields of a multipart upload, its file checked (a CheckedUpload)."""
    data = serializer_class(data=request.data)
    valid = data.is_valid()
    refuse_bad_upload(request)  # the handler may have stopped a body that lied about its size
    if not valid:
        raise serializers.ValidationError(data.errors)
    fields = dict(data.validated_data)
    fields["file"] = upload_check(fields["file"])
    return fields


class DatasetViewSet(ApiViewSet):
    serializer_class = DatasetSerializer
    queryset = Dataset.objects.none()  # for the schema; methods fetch through access

    @extend_schema(responses=DatasetSerializer(many=True))
    def list(self, request, project_slug: str):
        project = access.access_project(request.user, project_slug, token=self.token)
        page = self.paginate_queryset(project.datasets.order_by("name"))
        data = DatasetSerializer(page, many=True, context={"request": request}).data
        return self.get_paginated_response(data)

    @extend_schema(request=DatasetWriteSerializer, responses={201: DatasetSerializer})
    def create(self, request, project_slug: str):
        project = access.access_project(request.user, project_slug, access.CHANGE, self.token)
        data = DatasetWriteSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        dataset = datasets.dataset_create(
            actor=request.user, project=project, token=self.token, **data.validated_data
        )
        body = DatasetSerializer(dataset, context={"request": request}).data
        return self.located(body, status.HTTP_201_CREATED)

    def _dataset(self, pk: int, perm: str = access.VIEW) -> Dataset:
        dataset = selectors.dataset_get(self.request.user, pk, self.token)
        access.require_project_perm(self.request.user, dataset.project, perm, self.token)
        return dataset

    def retrieve(self, request, pk: int):
        body = DatasetSerializer(self._dataset(pk), context={"request": request}).data
        return Response(body)

    @extend_schema(request=DatasetWriteSerializer, responses=DatasetSerializer)
    def partial_update(self, request, pk: int):
        dataset = self._dataset(pk, access.CHANGE)
        data = DatasetWriteSerializer(
            dataset, data=request.data, partial=True, context={"request": request}
        )
        data.is_valid(raise_exception=True)
        dataset = datasets.dataset_update(
            actor=request.user, dataset=dataset, token=self.token, **data.validated_data
        )
        return Response(DatasetSerializer(dataset, context={"request": request}).data)


class VersionViewSet(ApiViewSet):
    serializer_class = VersionSerializer
    queryset = DatasetVersion.objects.none()

    @extend_schema(responses=VersionSerializer(many=True))
    def list(self, request, pk: int):
        dataset = selectors.dataset_get(request.user, pk, self.token)
        versions = dataset.versions.select_related("uploaded_by").prefetch_related("parents")
        page = self.paginate_queryset(versions)
        data = VersionSerializer(page, many=True, context={"request": request}).data
        return self.get_paginated_response(data)

    @extend_schema(
        request={"multipart/form-data": VersionUploadSerializer},
        responses={202: VersionSerializer, 200: VersionSerializer},
    )
    def create(self, request, pk: int):
        """Upload a file as the next version. The same bytes again answer 200 with the
        version that has them; a new file answers 202 while a worker profiles it."""
        refuse_bad_upload(request)
        dataset = selectors.dataset_get(request.user, pk, self.token)
        access.require_project_perm(request.user, dataset.project, access.CHANGE, self.token)
        fields = upload_fields(request, VersionUploadSerializer)
        upload = fields.pop("file")
        parents = [
            selectors.version_get(request.user, parent, self.token)
            for parent in fields.pop("parents", [])
        ]
        version, created = datasets.version_upload(
            actor=request.user,
            dataset=dataset,
            upload=upload,
            parents=parents,
            token=self.token,
            **fields,
        )
        body = VersionSerializer(version, context={"request": request}).data
        code = status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK
        return self.located(body, code)

    @extend_schema(responses=VersionDetailSerializer)
    def retrieve(self, request, pk: int):
        version = selectors.version_get(request.user, pk, self.token)
        return Response(VersionDetailSerializer(version, context={"request": request}).data)
