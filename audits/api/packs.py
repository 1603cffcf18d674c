"""API for approval packs (snapshot, PDF and its sha256) and the model card export."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from audits import selectors as audit_selectors
from audits.api.shapes import PackSnapshotSerializer
from audits.models import ApprovalPack
from audits.services.packs import pack_request
from audits.snapshot import model_card_of
from portal import access
from portal.api.schema import NOT_READY, json_of
from portal.api.views import ApiViewSet
from portal.exceptions import Conflict
from portal.storage import stored_file_response
from projects.api.datasets import JOB_FIELDS


class PackSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-pack-detail")
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    pdf = serializers.SerializerMethodField()
    requested_by = serializers.CharField(
        source="requested_by.username", default=None, allow_null=True, read_only=True
    )
    cycle = serializers.SerializerMethodField()

    class Meta:
        model = ApprovalPack
        fields = [
            "url",
            "id",
            "project",
            *JOB_FIELDS,
            "snapshot_sha256",
            "state_sha256",
            "pdf",
            "pdf_sha256",
            "pdf_bytes",
            "pages",
            "requested_by",
            "cycle",
        ]
        read_only_fields = fields

    def get_cycle(self, pack: ApprovalPack) -> int:
        """The project's cycle the pack's state was taken in."""
        # The state names its cycle from the second on (audits.snapshot.pack_state).
        return pack.snapshot.get("state", {}).get("cycle", 1)

    def get_pdf(self, pack: ApprovalPack) -> str | None:
        """Where to download the PDF once it is rendered."""
        if pack.status != ApprovalPack.Status.SUCCEEDED:
            return None
        return self.context["request"].build_absolute_uri(f"/api/v1/approval-packs/{pack.pk}/pdf/")


class PackDetailSerializer(PackSerializer):
    snapshot = json_of(PackSnapshotSerializer, read_only=True)

    class Meta(PackSerializer.Meta):
        fields = [*PackSerializer.Meta.fields, "snapshot"]
        read_only_fields = fields


def rendered_pdf_response(job, what: str, filename: str) -> HttpResponse:
    """A rendered document's PDF as a download (409 until it is rendered), its sha256 in a
    header; packs and monitoring reports, web and API, serve their bytes this way."""
    if job.status != job.Status.SUCCEEDED or not job.pdf:
        raise Conflict(f"{what} {job.pk} is {job.status}; it has no PDF yet.", code="not_ready")
    response = stored_file_response(job.pdf, filename=filename, content_type="application/pdf")
    response["X-Content-SHA256"] = job.pdf_sha256
    return response


def pack_pdf_response(pack: ApprovalPack) -> HttpResponse:
    return rendered_pdf_response(pack, "Pack", f"{pack.project.slug}-approval-pack-{pack.pk}.pdf")


class PackViewSet(ApiViewSet):
    serializer_class = PackSerializer
    queryset = ApprovalPack.objects.none()

    @extend_schema(responses=PackSerializer(many=True))
    def list(self, request, project_slug: str):
        project = access.access_project(request.user, project_slug, token=self.token)
        page = self.paginate_queryset(audit_selectors.packs_of(project))
        data = PackSerializer(page, many=True, context={"request": request}).data
        return self.get_paginated_response(data)

    @extend_schema(request=None, responses={202: PackSerializer, 200: PackSerializer})
    def create(self, request, project_slug: str):
        """Snapshot the project and render its pack: 202 and the pack's URL; when a pack of
        exactly this state exists (rendering or rendered), 200 and that pack."""
        project = access.access_project(request.user, project_slug, access.CHANGE, self.token)
        pack, created = pack_request(actor=request.user, project=project, token=self.token)
        body = PackSerializer(pack, context={"request": request}).data
        return self.located(body, status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)

    @extend_schema(responses=PackDetailSerializer)
    def retrieve(self, request, pk: int):
        pack = audit_selectors.pack_get(request.user, pk, self.token)
        return Response(PackDetailSerializer(pack, context={"request": request}).data)

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY, 409: NOT_READY})
    def pdf(self, request, pk: int):
        """The PDF; its sha256 is in the ``X-Content-SHA256`` header and on the pack."""
        return pack_pdf_response(audit_selectors.pack_get(request.user, pk, self.token))


class ModelCardViewSet(ApiViewSet):
    queryset = ApprovalPack.objects.none()

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def retrieve(self, request, project_slug: str):
        """The project's model card as Model Card Toolkit JSON (schema 0.0.2)."""
        project = access.access_project(request.user, project_slug, token=self.token)
        return Response(model_card_of(project))
