"""API for success criteria: versions of a project's criteria set and how they stand."""

from __future__ import annotations

from dataclasses import asdict

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from portal import access
from portal.api.views import ApiViewSet
from portal.inputs import validate_json_value
from projects import selectors
from projects.models import CriteriaVersion
from projects.services.criteria import criteria_from_template, criteria_save


class CriteriaVersionSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-criteria-version-detail")
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    created_by = serializers.CharField(
        source="created_by.username", default=None, allow_null=True, read_only=True
    )

    class Meta:
        model = CriteriaVersion
        fields = [
            "url",
            "id",
            "project",
            "version",
            "criteria",
            "content_sha256",
            "note",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class CriteriaVersionDetailSerializer(CriteriaVersionSerializer):
    assessment = serializers.SerializerMethodField()
    changes = serializers.SerializerMethodField()

    class Meta(CriteriaVersionSerializer.Meta):
        fields = [*CriteriaVersionSerializer.Meta.fields, "assessment", "changes"]
        read_only_fields = fields

    def get_assessment(self, version: CriteriaVersion) -> list[dict]:
        """Per criterion: measured value, met / not_met / not_measured, evidence."""
        return [
            {**row, "outcome": asdict(row["outcome"])}
            for row in selectors.criteria_assessment(version)
        ]

    def get_changes(self, version: CriteriaVersion) -> list[dict]:
        """What changed from the previous version."""
        return [asdict(change) for change in selectors.criteria_changes(version)]


class CriteriaWriteSerializer(serializers.Serializer):
    criteria = serializers.ListField(
        child=serializers.DictField(validators=[validate_json_value]),
        required=False,
        help_text="The whole set: metric, comparator, target (target_high for between), "
        "unit, rationale, source, category for custom metrics.",
    )
    template = serializers.CharField(
        max_length=100,
        required=False,
        help_text="Start from a template instead of giving the criteria.",
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=500)

    def validate(self, attrs: dict) -> dict:
        if ("criteria" in attrs) == ("template" in attrs):
            raise serializers.ValidationError("Give either criteria or a template.")
        return attrs


class CriteriaViewSet(ApiViewSet):
    serializer_class = CriteriaVersionSerializer
    queryset = CriteriaVersion.objects.none()

    @extend_schema(responses=CriteriaVersionSerializer(many=True))
    def list(self, request, project_slug: str):
        """Every version of the project's criteria, newest first."""
        project = access.access_project(request.user, project_slug, token=self.token)
        page = self.paginate_queryset(selectors.criteria_versions(project))
        data = CriteriaVersionSerializer(page, many=True, context={"request": request}).data
        return self.get_paginated_response(data)

    @extend_schema(
        request=CriteriaWriteSerializer, responses={201: CriteriaVersionDetailSerializer}
    )
    def create(self, request, project_slug: str):
        """Save the next version (the whole set), or start from a template."""
        project = access.access_project(request.user, project_slug, access.CHANGE, self.token)
        data = CriteriaWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        if "template" in fields:
            version = criteria_from_template(
                actor=request.user, project=project, template=fields["template"], token=self.token
            )
        else:
            version = criteria_save(
                actor=request.user,
                project=project,
                criteria=fields["criteria"],
                note=fields.get("note", ""),
                token=self.token,
            )
        body = CriteriaVersionDetailSerializer(version, context={"request": request}).data
        return self.located(body, status.HTTP_201_CREATED)

    @extend_schema(responses=CriteriaVersionDetailSerializer)
    def retrieve(self, request, pk: int):
        version = selectors.criteria_version_get(request.user, pk, self.token)
        body = CriteriaVersionDetailSerializer(version, context={"request": request}).data
        return Response(body)
