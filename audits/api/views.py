"""API for trained baselines: start a run on a dataset version, poll it."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from audits import selectors as audit_selectors
from audits.models import BaselineRun
from audits.services import baseline_run_request
from portal import access
from portal.api.views import ApiViewSet
from projects import selectors
from projects.api.datasets import JOB_FIELDS


class BaselineRunSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-baseline-run-detail")
    dataset_version = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = BaselineRun
        fields = [
            "url",
            "id",
            "dataset_version",
            "target",
            "requested_task",
            "task",
            "row_cap",
            "rows_used",
            "sampled",
            *JOB_FIELDS,
            "result",
        ]
        read_only_fields = fields


class BaselineRunRequestSerializer(serializers.Serializer):
    target = serializers.CharField(
        max_length=200, required=False, allow_blank=True, help_text="Default: the label column."
    )
    task = serializers.ChoiceField(
        choices=BaselineRun.Task.choices, required=False, help_text="Default: detected."
    )


class BaselineRunViewSet(ApiViewSet):
    serializer_class = BaselineRunSerializer
    queryset = BaselineRun.objects.none()

    @extend_schema(responses=BaselineRunSerializer(many=True))
    def list(self, request, pk: int):
        version = selectors.version_get(request.user, pk, self.token)
        page = self.paginate_queryset(version.baseline_runs.all())
        data = BaselineRunSerializer(page, many=True, context={"request": request}).data
        return self.get_paginated_response(data)

    @extend_schema(request=BaselineRunRequestSerializer, responses={202: BaselineRunSerializer})
    def create(self, request, pk: int):
        """Train the dummy, linear and gradient-boosted baselines; poll the returned URL."""
        version = selectors.version_get(request.user, pk, self.token)
        project = version.dataset.project
        access.require_project_perm(request.user, project, access.CHANGE, self.token)
        data = BaselineRunRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = baseline_run_request(
            actor=request.user, version=version, token=self.token, **data.validated_data
        )
        body = BaselineRunSerializer(run, context={"request": request}).data
        return self.located(body, status.HTTP_202_ACCEPTED)

    def retrieve(self, request, pk: int):
        run = audit_selectors.baseline_run_get(request.user, pk, self.token)
        return Response(BaselineRunSerializer(run, context={"request": request}).data)
