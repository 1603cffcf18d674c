"""API for fairness audits: the project's configuration, runs on evaluations, reviews."""

from __future__ import annotations

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiTypes, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response

from audits import selectors as audit_selectors
from audits.analysis.audit_config import MAX_ROWS
from audits.api.shapes import AuditResultSerializer, AuditThresholdSettingSerializer
from audits.models import AuditConfig, AuditReview, AuditRun, PolicyException
from audits.reports import audit_csv_response, review_authors
from audits.services.exceptions import criterion_exception_grant, require_business_owner
from audits.services.fairness import audit_config_save, audit_request, audit_review
from portal import access
from portal.api.schema import NOT_READY, json_of
from portal.api.views import ApiViewSet
from portal.inputs import LONG_TEXT_MAX, validate_json_value
from portal.sudo import require_recent_password
from projects import selectors
from projects.api.datasets import JOB_FIELDS

STRINGS = {"type": "array", "items": {"type": "string"}}
THRESHOLD_SETTINGS = serializers.DictField(
    child=AuditThresholdSettingSerializer(),
    help_text="threshold -> its limit (null: not judged) and why",
)

CONFIG_FIELDS = [
    "sensitive_features",
    "intersections",
    "positive_label",
    "metrics",
    "thresholds",
    "confidence",
    "min_class_support",
]


class AuditConfigSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(
        source="created_by.username", default=None, allow_null=True, read_only=True
    )
    sensitive_features = json_of(STRINGS, read_only=True)
    intersections = json_of({"type": "array", "items": STRINGS}, read_only=True)
    metrics = json_of(STRINGS, read_only=True)
    thresholds = json_of(THRESHOLD_SETTINGS, read_only=True)

    class Meta:
        model = AuditConfig
        fields = ["id", "version", *CONFIG_FIELDS, "note", "created_by", "created_at"]
        read_only_fields = fields


class AuditConfigWriteSerializer(serializers.Serializer):
    """A whole new version; omitted settings keep the current version's values."""

    sensitive_features = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False
    )
    intersections = serializers.ListField(
        child=serializers.ListField(child=serializers.CharField(max_length=200)), required=False
    )
    positive_label = serializers.CharField(required=False, allow_blank=True, max_length=200)
    metrics = serializers.ListField(child=serializers.CharField(max_length=100), required=False)
    thresholds = serializers.DictField(
        required=False,
        validators=[validate_json_value],
        help_text='name -> {"limit": number or null, "rationale": "why this number"}',
    )
    confidence = serializers.FloatField(required=False)
    min_class_support = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ROWS)
    note = serializers.CharField(required=False, allow_blank=True, max_length=500)

    def validate(self, attrs: dict) -> dict:
        # A misspelt setting must not vanish quietly into an "unchanged" version.
        unknown = set(self.initial_data) - set(self.fields)
        if unknown:
            raise serializers.ValidationError(
                f"Unknown settings: {', '.join(sorted(unknown))}; the settings are "
                f"{', '.join(self.fields)}."
            )
        return attrs


class ExceptionSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-exception-detail")
    project = serializers.CharField(source="project.slug", read_only=True)
    audit = serializers.IntegerField(source="review.audit_id", read_only=True, allow_null=True)
    risk = serializers.IntegerField(source="risk_id", read_only=True, allow_null=True)
    criteria_version = serializers.IntegerField(
        source="criteria_version_id", read_only=True, allow_null=True
    )
    owner = serializers.CharField(source="owner.username", read_only=True)
    granted_by = serializers.CharField(source="granted_by.username", read_only=True)
    holds = serializers.SerializerMethodField(
        help_text="False once the expiry date has passed: the check it excused fails again."
    )

    class Meta:
        model = PolicyException
        fields = [
            "id",
            "url",
            "project",
            "subject",
            "audit",
            "risk",
            "criteria_version",
            "criterion",
            "finding",
            "conditions",
            "owner",
            "expires_on",
            "holds",
            "granted_by",
            "created_at",
        ]
        read_only_fields = fields

    def get_holds(self, exception: PolicyException) -> bool:
        return exception.holds_on(timezone.localdate())


class ExceptionRequestSerializer(serializers.Serializer):
    """The parts of an exception; the service checks them and says what is missing."""

    finding = serializers.CharField(
        required=False, allow_blank=True, max_length=LONG_TEXT_MAX, help_text="What fails."
    )
    conditions = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=LONG_TEXT_MAX,
        help_text="The compensating controls it is accepted under.",
    )
    owner = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=150,
        help_text="Username of the project's ML engineer, lead or business owner who owns it.",
    )
    expires_on = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=40,
        help_text="YYYY-MM-DD, after today: the last day the exception holds.",
    )


class CriterionExceptionRequestSerializer(ExceptionRequestSerializer):
    criterion = serializers.CharField(
        max_length=120,
        help_text="The unmet criterion, as metric/source: roc_auc/evaluation, f1/baseline.",
    )


class AuditReviewSerializer(serializers.ModelSerializer):
    reviewer = serializers.CharField(source="reviewer.username", read_only=True)
    exception = serializers.SerializerMethodField()

    class Meta:
        model = AuditReview
        fields = [
            "id",
            "decision",
            "rationale",
            "result_sha256",
            "reviewer",
            "created_at",
            "exception",
        ]
        read_only_fields = ["id", "result_sha256", "reviewer", "created_at"]
        extra_kwargs = {"rationale": {"max_length": LONG_TEXT_MAX}}

    @extend_schema_field(ExceptionSerializer(allow_null=True))
    def get_exception(self, review: AuditReview) -> dict | None:
        exception = audit_selectors.review_exception(review)
        if exception is None:
            return None
        return ExceptionSerializer(exception, context=self.context).data


class AuditReviewRequestSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=AuditReview.Decision.choices)
    rationale = serializers.CharField(max_length=LONG_TEXT_MAX)
    exception = ExceptionRequestSerializer(
        required=False,
        help_text="Required to approve a failing audit (fail or insufficient evidence), "
        "refused otherwise.",
    )


class AuditSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-audit-detail")
    project = serializers.CharField(source="config.project.slug", read_only=True)
    evaluation = serializers.PrimaryKeyRelatedField(read_only=True)
    config_version = serializers.IntegerField(source="config.version", read_only=True)
    reviews = serializers.HyperlinkedIdentityField(view_name="api-audit-review-list")
    verdict = serializers.ChoiceField(
        choices=AuditRun.Verdict.choices,
        allow_blank=True,
        read_only=True,
        help_text="Blank until the audit has succeeded.",
    )

    class Meta:
        model = AuditRun
        fields = [
            "url",
            "id",
            "project",
            "evaluation",
            "config_version",
            *JOB_FIELDS,
            "kind",
            "verdict",
            "result_sha256",
            "reviews",
        ]
        read_only_fields = fields


class InboxAuditSerializer(AuditSerializer):
    """An inbox entry: the audit and where its review request stands."""

    review_reviewer = serializers.CharField(
        read_only=True, allow_null=True, help_text="Assigned reviewer; null: any auditor."
    )
    review_due_on = serializers.DateField(read_only=True, allow_null=True)
    asked_again = serializers.SerializerMethodField(
        help_text="Reviewed before: the team asked again after changes were requested."
    )

    class Meta(AuditSerializer.Meta):
        fields = [*AuditSerializer.Meta.fields, "review_reviewer", "review_due_on", "asked_again"]
        read_only_fields = fields

    def get_asked_again(self, audit: AuditRun) -> bool:
        return audit.last_review_at is not None


class AuditDetailSerializer(AuditSerializer):
    review_history = AuditReviewSerializer(source="reviews", many=True, read_only=True)
    result = json_of(AuditResultSerializer, read_only=True)

    class Meta(AuditSerializer.Meta):
        fields = [*AuditSerializer.Meta.fields, "review_history", "result"]
        read_only_fields = fields


class AuditConfigViewSet(ApiViewSet):
    serializer_class = AuditConfigSerializer
    queryset = AuditConfig.objects.none()

    @extend_schema(responses=AuditConfigSerializer(many=True))
    def list(self, request, project_slug: str):
        """Every configuration version, newest first."""
        project = access.access_project(request.user, project_slug, token=self.token)
        page = self.paginate_queryset(audit_selectors.audit_configs(project))
        return self.get_paginated_response(AuditConfigSerializer(page, many=True).data)

    @extend_schema(request=AuditConfigWriteSerializer, responses={201: AuditConfigSerializer})
    def create(self, request, project_slug: str):
        """Save a new configuration version (the ML team's or an auditor's change)."""
        project = access.access_project(request.user, project_slug, token=self.token)
        access.require_any_project_perm(request.user, project, access.EDIT_RISKS, self.token)
        data = AuditConfigWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        note = changes.pop("note", "")
        config = audit_config_save(
            actor=request.user, project=project, changes=changes, note=note, token=self.token
        )
        return Response(AuditConfigSerializer(config).data, status=status.HTTP_201_CREATED)


class AuditViewSet(ApiViewSet):
    serializer_class = AuditSerializer
    queryset = AuditRun.objects.none()

    @extend_schema(responses=AuditSerializer(many=True))
    def list(self, request, pk: int):
        evaluation = selectors.evaluation_get(request.user, pk, self.token)
        page = self.paginate_queryset(evaluation.audits.select_related("config__project"))
        data = AuditSerializer(page, many=True, context={"request": request}).data
        return self.get_paginated_response(data)

    @extend_schema(request=None, responses={202: AuditSerializer, 200: AuditSerializer})
    def create(self, request, pk: int):
        """Audit the evaluation under the project's current configuration; poll the URL.

        The same evaluation and configuration are one audit: asking again answers 200 with
        the existing one."""
        evaluation = selectors.evaluation_get(request.user, pk, self.token)
        access.require_project_perm(
            request.user, evaluation.model_version.project, access.CHANGE, self.token
        )
        audit, created = audit_request(actor=request.user, evaluation=evaluation, token=self.token)
        body = AuditSerializer(audit, context={"request": request}).data
        return self.located(body, status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)

    @extend_schema(responses=AuditDetailSerializer)
    def retrieve(self, request, pk: int):
        audit = audit_selectors.audit_get(request.user, pk, self.token)
        return Response(AuditDetailSerializer(audit, context={"request": request}).data)

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR, 409: NOT_READY})
    def csv(self, request, pk: int) -> HttpResponse:
        """The result as one long table (feature, group, metric, value, interval, note)."""
        audit = audit_selectors.audit_get(request.user, pk, self.token)
        return audit_csv_response(audit)

    @extend_schema(responses=InboxAuditSerializer(many=True))
    def inbox(self, request):
        """Finished audits waiting for a review, in every project the caller audits: never
        reviewed, or asked for again; those assigned to the caller first, then by due date."""
        page = self.paginate_queryset(audit_selectors.audit_inbox(request.user, self.token))
        data = InboxAuditSerializer(page, many=True, context={"request": request}).data
        return self.get_paginated_response(data)


class AuditReviewViewSet(ApiViewSet):
    serializer_class = AuditReviewSerializer
    queryset = AuditReview.objects.none()

    @extend_schema(responses=AuditReviewSerializer(many=True))
    def list(self, request, pk: int):
        audit = audit_selectors.audit_get(request.user, pk, self.token)
        page = self.paginate_queryset(audit_selectors.audit_reviews(audit))
        return self.get_paginated_response(
            AuditReviewSerializer(page, many=True, context={"request": request}).data
        )

    @extend_schema(request=AuditReviewRequestSerializer, responses={201: AuditReviewSerializer})
    def create(self, request, pk: int):
        """Approve, reject or request changes, with a rationale; only an independent auditor.
        A failing audit is approved only as an exception (``exception``)."""
        audit = audit_selectors.audit_get(request.user, pk, self.token)
        access.require_independent_reviewer(
            request.user, audit.project, self.token, authors=review_authors(audit)
        )
        data = AuditReviewRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        require_recent_password(request, self.token)
        review = audit_review(
            actor=request.user, audit=audit, token=self.token, **data.validated_data
        )
        context = {"request": request}
        return Response(
            AuditReviewSerializer(review, context=context).data, status=status.HTTP_201_CREATED
        )


class ExceptionViewSet(ApiViewSet):
    serializer_class = ExceptionSerializer
    queryset = PolicyException.objects.none()

    @extend_schema(responses=ExceptionSerializer(many=True))
    def list(self, request, project_slug: str):
        """The project's exceptions, the soonest to expire first."""
        project = access.access_project(request.user, project_slug, token=self.token)
        page = self.paginate_queryset(audit_selectors.project_exceptions(project))
        return self.get_paginated_response(
            ExceptionSerializer(page, many=True, context={"request": request}).data
        )

    def retrieve(self, request, pk: int):
        exception = audit_selectors.exception_get(request.user, pk, self.token)
        return Response(ExceptionSerializer(exception, context={"request": request}).data)

    @extend_schema(
        request=CriterionExceptionRequestSerializer, responses={201: ExceptionSerializer}
    )
    def criterion(self, request, pk: int):
        """A business owner accepts an unmet criterion of the criteria in force as an
        exception (a signed-in session asks for the password within 15 minutes)."""
        version = selectors.criteria_version_get(request.user, pk, self.token)
        require_business_owner(request.user, version.project, "an unmet criterion", self.token)
        data = CriterionExceptionRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        require_recent_password(request, self.token)
        fields = dict(data.validated_data)
        exception = criterion_exception_grant(
            actor=request.user,
            version=version,
            criterion=fields.pop("criterion"),
            exception=fields,
            token=self.token,
        )
        body = ExceptionSerializer(exception, context={"request": request}).data
        return self.located(body, status.HTTP_201_CREATED)
