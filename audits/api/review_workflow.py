"""API for the review workflow: asking for an audit's review and its comment thread."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from audits import selectors as audit_selectors
from audits.models import ReviewComment, ReviewRequest
from audits.services.review_workflow import review_comment_add, review_request
from portal import access
from portal.api.views import ApiViewSet
from portal.inputs import LONG_TEXT_MAX


class ReviewRequestSerializer(serializers.ModelSerializer):
    reviewer = serializers.CharField(
        source="reviewer.username",
        default=None,
        allow_null=True,
        read_only=True,
        help_text="Null: any independent auditor of the project.",
    )
    requested_by = serializers.CharField(source="requested_by.username", read_only=True)

    class Meta:
        model = ReviewRequest
        fields = ["id", "audit", "reviewer", "due_on", "note", "requested_by", "created_at"]
        read_only_fields = fields


class ReviewRequestWriteSerializer(serializers.Serializer):
    reviewer = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=150,
        help_text="Username of an auditor from outside the team; blank: any of them.",
    )
    due_on = serializers.CharField(
        required=False, allow_blank=True, max_length=40, help_text="YYYY-MM-DD, today or later."
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=LONG_TEXT_MAX)


class ReviewCommentSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username", read_only=True)

    class Meta:
        model = ReviewComment
        fields = ["id", "audit", "author", "body", "created_at"]
        read_only_fields = ["id", "audit", "author", "created_at"]
        extra_kwargs = {"body": {"max_length": LONG_TEXT_MAX}}


class ReviewRequestViewSet(ApiViewSet):
    serializer_class = ReviewRequestSerializer
    queryset = ReviewRequest.objects.none()

    @extend_schema(responses=ReviewRequestSerializer(many=True))
    def list(self, request, pk: int):
        """Every request for the audit's review, newest first: the first is in force."""
        audit = audit_selectors.audit_get(request.user, pk, self.token)
        page = self.paginate_queryset(
            audit.review_requests.select_related("reviewer", "requested_by")
        )
        return self.get_paginated_response(ReviewRequestSerializer(page, many=True).data)

    @extend_schema(request=ReviewRequestWriteSerializer, responses={201: ReviewRequestSerializer})
    def create(self, request, pk: int):
        """Ask for the audit's review, or ask again after "request changes": a reviewer and
        a due date, both optional. The team or an auditor of the project asks."""
        audit = audit_selectors.audit_get(request.user, pk, self.token)
        access.require_any_project_perm(request.user, audit.project, access.EDIT_RISKS, self.token)
        data = ReviewRequestWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        asked = review_request(
            actor=request.user, audit=audit, token=self.token, **data.validated_data
        )
        return Response(ReviewRequestSerializer(asked).data, status=status.HTTP_201_CREATED)


class ReviewCommentViewSet(ApiViewSet):
    serializer_class = ReviewCommentSerializer
    queryset = ReviewComment.objects.none()

    @extend_schema(responses=ReviewCommentSerializer(many=True))
    def list(self, request, pk: int):
        """The audit's review comments, oldest first (reviews are under ``reviews``)."""
        audit = audit_selectors.audit_get(request.user, pk, self.token)
        page = self.paginate_queryset(audit.comments.select_related("author"))
        return self.get_paginated_response(ReviewCommentSerializer(page, many=True).data)

    @extend_schema(request=ReviewCommentSerializer, responses={201: ReviewCommentSerializer})
    def create(self, request, pk: int):
        """Add a comment to the audit's review thread (the team or an auditor)."""
        audit = audit_selectors.audit_get(request.user, pk, self.token)
        access.require_any_project_perm(request.user, audit.project, access.EDIT_RISKS, self.token)
        data = ReviewCommentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        comment = review_comment_add(
            actor=request.user, audit=audit, body=data.validated_data["body"], token=self.token
        )
        return Response(ReviewCommentSerializer(comment).data, status=status.HTTP_201_CREATED)
