"""API for sign-offs of success criteria and for business measurements."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.response import Response

from portal import access
from portal.api.views import ApiViewSet
from portal.sudo import require_recent_password
from portal.uploads import refuse_bad_upload
from projects import selectors, signing
from projects.analysis.attachments import ACCEPTED
from projects.models import BusinessMeasurement, SignOff
from projects.models.signing import Signature
from projects.services.measurements import MAX_ATTACHMENT_BYTES, measurement_record
from projects.services.signoffs import signoff_record, signoff_revoke

SIGNATURE_FIELDS = [
    "version",
    "role",
    "decision",
    "comment",
    "signed_by",
    "created_at",
    "content_sha256",
    "evidence",
    "evidence_sha256",
    "revoked_at",
    "revoked_by",
    "revoke_reason",
    "stale",
]


class SignatureSerializer(serializers.ModelSerializer):
    """The fields every kind of sign-off shares; subclasses add their URL and document."""

    signed_by = serializers.CharField(source="signed_by.username", read_only=True)
    revoked_by = serializers.CharField(
        source="revoked_by.username", default=None, allow_null=True, read_only=True
    )
    stale = serializers.SerializerMethodField()

    def get_stale(self, signoff: Signature) -> list[str]:
        """Why this sign-off no longer counts (the document or its evidence changed)."""
        if signoff.revoked_at:
            return []
        document = signoff.document
        # Once per document per response, not once per row.
        now = self.context.setdefault("now", {})
        key = (type(document), document.pk)
        if key not in now:
            now[key] = (
                signing.kind_of(document).current(document),
                selectors.document_evidence(document),
            )
        return selectors.signoff_staleness(signoff, *now[key])


class SignOffSerializer(SignatureSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-signoff-detail")
    criteria_version = serializers.HyperlinkedRelatedField(
        view_name="api-criteria-version-detail", read_only=True
    )
    version = serializers.IntegerField(source="criteria_version.version", read_only=True)

    class Meta:
        model = SignOff
        fields = ["url", "id", "criteria_version", *SIGNATURE_FIELDS]
        read_only_fields = fields


class SignOffWriteSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=SignOff.Role.choices)
    decision = serializers.ChoiceField(choices=SignOff.Decision.choices)
    comment = serializers.CharField(required=False, allow_blank=True, max_length=4000)
    evidence_sha256 = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=64,
        help_text="The evidence you were shown (from the version's `evidence_sha256`); a "
        "sign-off is refused if it has changed since.",
    )


class RevokeSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500)


class InboxEntrySerializer(serializers.Serializer):
    project = serializers.CharField(source="project.slug")
    kind = serializers.CharField(source="kind.key", help_text="criteria or plan")
    document = serializers.SerializerMethodField()
    criteria_version = serializers.SerializerMethodField(
        help_text="The criteria version, for criteria (null for other documents)."
    )
    version = serializers.IntegerField(source="version.version")
    roles = serializers.ListField(child=serializers.CharField())
    stale = serializers.BooleanField(help_text="You signed before, but on what has changed.")

    def get_document(self, entry: dict) -> str:
        url = reverse(entry["kind"].api_view, args=[entry["version"].pk])
        return self.context["request"].build_absolute_uri(url)

    def get_criteria_version(self, entry: dict) -> str | None:
        return self.get_document(entry) if entry["kind"].key == "criteria" else None


class SignatureViewSet(ApiViewSet):
    """Listing, signing, reading and revoking the sign-offs of one kind of document."""

    serializer_class: type[SignatureSerializer] = SignOffSerializer
    queryset = SignOff.objects.none()
    #: (user, pk, token) -> the document, through the visibility choke point.
    document_get = staticmethod(selectors.criteria_version_get)
    signoff_get = staticmethod(selectors.signoff_get)

    def list(self, request, pk: int):
        """Every sign-off of the document, revoked ones too, newest first."""
        document = self.document_get(request.user, pk, self.token)
        signoffs = document.signoffs.select_related("signed_by", "revoked_by")
        page = self.paginate_queryset(signoffs)
        data = self.serializer_class(page, many=True, context={"request": request}).data
        return self.get_paginated_response(data)

    def create(self, request, pk: int):
        """Approve or reject the document as its business owner or ML engineer.

        Only the current version can be signed (409 otherwise), once per person; a
        signature needs a signed-in person, not a token."""
        document = self.document_get(request.user, pk, self.token)
        data = SignOffWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        require_recent_password(request, self.token)
        signoff = signoff_record(
            actor=request.user, document=document, token=self.token, **data.validated_data
        )
        body = self.serializer_class(signoff, context={"request": request}).data
        return self.located(body, status.HTTP_201_CREATED)

    def retrieve(self, request, pk: int):
        signoff = self.signoff_get(request.user, pk, self.token)
        return Response(self.serializer_class(signoff, context={"request": request}).data)

    @extend_schema(request=RevokeSerializer)
    def revoke(self, request, pk: int):
        """Withdraw your own sign-off; it stays on the record as revoked."""
        signoff = self.signoff_get(request.user, pk, self.token)
        data = RevokeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        signoff = signoff_revoke(
            actor=request.user, signoff=signoff, token=self.token, **data.validated_data
        )
        return Response(self.serializer_class(signoff, context={"request": request}).data)


@extend_schema_view(
    list=extend_schema(responses=SignOffSerializer(many=True)),
    create=extend_schema(request=SignOffWriteSerializer, responses={201: SignOffSerializer}),
    retrieve=extend_schema(responses=SignOffSerializer),
)
class SignOffViewSet(SignatureViewSet):
    """Sign-offs of success criteria versions."""

    # Not a routed action, so extend_schema_view cannot reach it: described here.
    @extend_schema(request=RevokeSerializer, responses=SignOffSerializer)
    def revoke(self, request, pk: int):
        """Withdraw your own sign-off; it stays on the record as revoked."""
        return super().revoke(request, pk)

    @extend_schema(responses=InboxEntrySerializer(many=True))
    def inbox(self, request):
        """Criteria versions and deployment plans waiting for your sign-off, across your
        projects."""
        entries = selectors.signoff_inbox(request.user, self.token)
        return Response(InboxEntrySerializer(entries, many=True, context={"request": request}).data)


class MeasurementSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    entered_by = serializers.CharField(source="entered_by.username", read_only=True)
    attachment = serializers.SerializerMethodField()

    class Meta:
        model = BusinessMeasurement
        fields = [
            "id",
            "project",
            "metric",
            "value",
            "period",
            "evidence",
            "attachment",
            "attachment_sha256",
            "entered_by",
            "created_at",
        ]
        read_only_fields = fields

    def get_attachment(self, entry: BusinessMeasurement) -> str | None:
        """The attached file's name as it was uploaded (it is stored under another)."""
        return entry.attachment_display_name or None


class MeasurementWriteSerializer(serializers.Serializer):
    metric = serializers.CharField(max_length=60)
    value = serializers.FloatField()
    period = serializers.CharField(required=False, allow_blank=True, max_length=100)
    evidence = serializers.CharField(max_length=4000)
    attachment = serializers.FileField(
        required=False,
        help_text=f"Evidence: {ACCEPTED}; at most {MAX_ATTACHMENT_BYTES // 2**20} MB.",
    )


class MeasurementViewSet(ApiViewSet):
    serializer_class = MeasurementSerializer
    queryset = BusinessMeasurement.objects.none()

    @extend_schema(responses=MeasurementSerializer(many=True))
    def list(self, request, project_slug: str):
        project = access.access_project(request.user, project_slug, token=self.token)
        page = self.paginate_queryset(selectors.business_measurements(project))
        data = MeasurementSerializer(page, many=True, context={"request": request}).data
        return self.get_paginated_response(data)

    @extend_schema(request=MeasurementWriteSerializer, responses={201: MeasurementSerializer})
    def create(self, request, project_slug: str):
        """Enter a business figure with its evidence (JSON, or multipart with an attachment)."""
        refuse_bad_upload(request)
        project = access.access_project(
            request.user, project_slug, access.MEASURE_BUSINESS, self.token
        )
        body = request.data
        refuse_bad_upload(request)  # the body is read now: was a file cut off?
        data = MeasurementWriteSerializer(data=body)
        data.is_valid(raise_exception=True)
        entry = measurement_record(
            actor=request.user, project=project, token=self.token, **data.validated_data
        )
        body = MeasurementSerializer(entry, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED)
