"""API for periodic reviews of live deployments: list, record, read."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from deployments import selectors
from deployments.models import Deployment, MonitoringReview
from deployments.services.reviews import NOTES_MAX, review_record
from portal import access
from portal.api.views import ApiViewSet


class ReviewSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-review-detail")
    deployment = serializers.PrimaryKeyRelatedField(read_only=True)
    reviewed_by = serializers.CharField(source="reviewed_by.username", read_only=True)

    class Meta:
        model = MonitoringReview
        fields = [
            "url",
            "id",
            "deployment",
            "cycle",
            "outcome",
            "notes",
            "reviewed_by",
            "reviewed_at",
        ]
        read_only_fields = fields


class ReviewWriteSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(
        choices=MonitoringReview.Outcome.choices,
        help_text="continue: keep in production; actions: keep, with the actions the notes "
        "name; retrain: start a new cycle.",
    )
    notes = serializers.CharField(
        max_length=NOTES_MAX,
        help_text="What was looked at (metrics, drift, alerts, performance) and why the "
        "outcome follows; required.",
    )


class ReviewViewSet(ApiViewSet):
    serializer_class = ReviewSerializer
    queryset = Deployment.objects.none()

    @extend_schema(responses=ReviewSerializer(many=True))
    def list(self, request, pk: int):
        """The deployment's periodic reviews, newest first."""
        deployment = selectors.deployment_get(request.user, pk, self.token)
        page = self.paginate_queryset(selectors.reviews_of(deployment))
        data = ReviewSerializer(page, many=True, context={"request": request}).data
        return self.get_paginated_response(data)

    @extend_schema(request=ReviewWriteSerializer, responses={201: ReviewSerializer})
    def create(self, request, pk: int):
        """Record a periodic review of a live deployment (its project in monitoring, the
        deployment of its current cycle, its rollout finished); 409 otherwise. It restarts
        the monitoring spec's review_cadence_days."""
        deployment = selectors.deployment_get(request.user, pk, self.token)
        access.require_project_perm(request.user, deployment.project, access.CHANGE, self.token)
        data = ReviewWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        review = review_record(
            actor=request.user,
            deployment=deployment,
            outcome=data.validated_data["outcome"],
            notes=data.validated_data["notes"],
            token=self.token,
        )
        body = ReviewSerializer(review, context={"request": request}).data
        return self.located(body, status.HTTP_201_CREATED)

    @extend_schema(responses=ReviewSerializer)
    def retrieve(self, request, pk: int):
        review = selectors.review_get(request.user, pk, self.token)
        return Response(ReviewSerializer(review, context={"request": request}).data)
