"""API views: parse, fetch through portal.access, call one service, serialize."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.settings import api_settings

from portal import access
from portal.api.authentication import WebhookMetadataTokenAuthentication
from portal.api.pagination import TrailPagination
from portal.api.schema import NOT_READY
from portal.api.throttling import AnonThrottle, GateThrottle
from portal.api.views import ApiViewSet
from portal.exceptions import ApplicationError, Conflict, Forbidden
from portal.storage import stored_file_response
from projects import gate_links, selectors
from projects.api import serializers as s
from projects.models import EventExport, Membership, ProjectShare
from projects.services import exports, lifecycle, teams


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")


class TeamViewSet(ApiViewSet):
    serializer_class = s.TeamSerializer
    lookup_field = "slug"

    def get_queryset(self):
        return selectors.team_list(self.request.user, self.token)

    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.TeamSerializer(page, many=True).data)

    def retrieve(self, request, slug: str):
        team = access.access_team(request.user, slug, token=self.token)
        return Response(s.TeamSerializer(team).data)


class MembershipViewSet(ApiViewSet):
    serializer_class = s.MembershipSerializer

    def get_queryset(self):
        return Membership.objects.filter(
            team__in=selectors.team_list(self.request.user, self.token)
        )

    @extend_schema(responses=s.MembershipSerializer(many=True))
    def list(self, request, team_slug: str):
        team = access.access_team(request.user, team_slug, token=self.token)
        page = self.paginate_queryset(selectors.team_members(team))
        return self.get_paginated_response(s.MembershipSerializer(page, many=True).data)

    @extend_schema(request=s.MembershipCreateSerializer, responses={201: s.MembershipSerializer})
    def create(self, request, team_slug: str):
        team = access.access_team(request.user, team_slug, access.MANAGE_TEAM, self.token)
        data = s.MembershipCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = selectors.active_user(data.validated_data["username"])
        if user is None:
            raise ApplicationError("No active user has that username.", code="unknown_user")
        membership = teams.membership_add(
            actor=request.user,
            team=team,
            user=user,
            role=data.validated_data["role"],
            is_admin=data.validated_data["is_admin"],
            token=self.token,
        )
        return Response(s.MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)

    def _membership(self, pk: int, perm: str) -> Membership:
        membership = selectors.membership_get(self.request.user, pk, self.token)
        access.access_team(self.request.user, membership.team.slug, perm, self.token)
        return membership

    def retrieve(self, request, pk: int):
        membership = self._membership(pk, access.VIEW_TEAM)
        return Response(s.MembershipSerializer(membership).data)

    @extend_schema(request=s.MembershipChangeSerializer, responses=s.MembershipSerializer)
    def partial_update(self, request, pk: int):
        membership = self._membership(pk, access.MANAGE_TEAM)
        data = s.MembershipChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = teams.membership_change(
            actor=request.user,
            membership=membership,
            role=data.validated_data.get("role", membership.role),
            is_admin=data.validated_data.get("is_admin", membership.is_admin),
            token=self.token,
        )
        return Response(s.MembershipSerializer(membership).data)

    def destroy(self, request, pk: int):
        membership = self._membership(pk, access.MANAGE_TEAM)
        teams.membership_remove(actor=request.user, membership=membership, token=self.token)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProjectViewSet(ApiViewSet):
    serializer_class = s.ProjectSerializer
    lookup_field = "slug"

    def get_queryset(self):
        return selectors.project_list(self.request.user, self.token)

    def _project(self, slug: str, perm: str = access.VIEW):
        return access.access_project(self.request.user, slug, perm, self.token)

    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        data = s.ProjectSerializer(page, many=True, context={"request": request}).data
        return self.get_paginated_response(data)

    @extend_schema(request=s.ProjectCreateSerializer, responses={201: s.ProjectSerializer})
    def create(self, request):
        data = s.ProjectCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        team = access.access_team(
            request.user, fields.pop("team"), access.CREATE_PROJECT, self.token
        )
        project = teams.project_create(actor=request.user, team=team, token=self.token, **fields)
        body = s.ProjectSerializer(project, context={"request": request}).data
        return self.located(body, status.HTTP_201_CREATED)

    def retrieve(self, request, slug: str):
        project = self._project(slug)
        return Response(s.ProjectSerializer(project, context={"request": request}).data)

    @extend_schema(request=s.ProjectUpdateSerializer, responses=s.ProjectSerializer)
    def partial_update(self, request, slug: str):
        project = self._project(slug, access.CHANGE)
        data = s.ProjectUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = teams.project_update(
            actor=request.user, project=project, token=self.token, **data.validated_data
        )
        return Response(s.ProjectSerializer(project, context={"request": request}).data)

    @extend_schema(request=s.TransitionSerializer, responses=s.ProjectSerializer)
    @action(detail=True, methods=["post"])
    def transition(self, request, slug: str):
        """Move the project to another stage; 409 with the failing checks if its gate fails."""
        project = self._project(slug, access.TRANSITION)
        data = s.TransitionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        lifecycle.project_transition(
            actor=request.user,
            project=project,
            target=data.validated_data["to"],
            reason=data.validated_data["reason"],
            token=self.token,
        )
        project.refresh_from_db()
        return Response(s.ProjectSerializer(project, context={"request": request}).data)


def _check_body(request, project, check) -> dict:
    """A gate check with its next step and the page where it is taken, when it fails."""
    step = gate_links.next_step(project, check)
    return {
        "name": check.name,
        "passed": check.passed,
        "detail": check.detail,
        "key": check.key,
        "next_step": step.words if step else None,
        "next_url": request.build_absolute_uri(step.url) if step else None,
    }


class EventViewSet(ProjectViewSet):
    pagination_class = TrailPagination

    @extend_schema(responses=s.EventSerializer(many=True))
    @action(detail=True, methods=["get"])
    def events(self, request, slug: str):
        """The project's audit trail, newest first, a page at a time: follow ``next``."""
        project = self._project(slug)
        page = self.paginate_queryset(selectors.project_events(project))
        return self.get_paginated_response(s.EventSerializer(page, many=True).data)


class GateViewSet(ProjectViewSet):
    """The gate checklist; also a release tool's webhook (Flagger ``confirm-promotion``
    POSTs a JSON body and can send no headers, so its token may come in the body)."""

    authentication_classes = [
        WebhookMetadataTokenAuthentication,
        *api_settings.DEFAULT_AUTHENTICATION_CLASSES[1:],
    ]
    throttle_classes = [AnonThrottle, GateThrottle]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "strict", OpenApiTypes.BOOL, description="Answer 409 when the gate does not pass."
            ),
            OpenApiParameter(
                "to", OpenApiTypes.STR, description="Target stage (default: the next one)."
            ),
        ],
        responses={200: s.GateSerializer, 409: s.GateSerializer},
    )
    def gates(self, request, slug: str):
        """The checklist for the next stage (or ``to``). With ``strict=1`` a failing gate
        answers 409, so ``curl --fail`` stops a pipeline. A POST (a webhook) is always
        strict, ignores its body except ``metadata.token`` and changes nothing."""
        project = self._project(slug)
        target = request.query_params.get("to") or None
        if target is not None and target not in project.Stage.values:
            raise ApplicationError(f"Unknown stage {target!r}.", code="unknown_stage")
        result = selectors.project_gate_polled(project, target)
        body = s.GateSerializer(
            {
                "stage": result.stage,
                "target": result.target,
                "passed": result.passed,
                "checks": [_check_body(request, project, check) for check in result.checks],
            }
        ).data
        strict = request.method == "POST" or _truthy(request.query_params.get("strict"))
        failing = strict and not result.passed
        return Response(body, status=status.HTTP_409_CONFLICT if failing else status.HTTP_200_OK)


class ShareViewSet(ApiViewSet):
    serializer_class = s.ShareSerializer
    queryset = ProjectShare.objects.none()  # for the schema; methods fetch through access

    @extend_schema(responses=s.ShareSerializer(many=True))
    def list(self, request, project_slug: str):
        project = access.access_project(request.user, project_slug, token=self.token)
        shares = project.shares.select_related("team", "user").order_by("created_at")
        page = self.paginate_queryset(shares)
        return self.get_paginated_response(s.ShareSerializer(page, many=True).data)

    @extend_schema(request=s.ShareCreateSerializer, responses={201: s.ShareSerializer})
    def create(self, request, project_slug: str):
        project = access.access_project(request.user, project_slug, access.SHARE, self.token)
        data = s.ShareCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        team = user = None
        if "team" in data.validated_data:
            team = selectors.team_by_slug(data.validated_data["team"])
            if team is None:
                raise ApplicationError("No team has that slug.", code="unknown_team")
        else:
            user = selectors.active_user(data.validated_data["username"])
            if user is None:
                raise ApplicationError("No active user has that username.", code="unknown_user")
        share = teams.project_share(
            actor=request.user,
            project=project,
            role=data.validated_data["role"],
            team=team,
            user=user,
        )
        return Response(s.ShareSerializer(share).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, pk: int):
        share = selectors.share_get(request.user, pk, self.token)
        access.require_project_perm(request.user, share.project, access.SHARE, self.token)
        teams.share_revoke(actor=request.user, share=share)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EventExportViewSet(ApiViewSet):
    serializer_class = s.EventExportSerializer
    queryset = EventExport.objects.none()  # for the schema; methods fetch through access

    @extend_schema(responses=s.EventExportSerializer(many=True))
    def list(self, request, project_slug: str):
        project = access.access_project(request.user, project_slug, token=self.token)
        page = self.paginate_queryset(project.event_exports.all())
        data = s.EventExportSerializer(page, many=True, context={"request": request}).data
        return self.get_paginated_response(data)

    @extend_schema(request=None, responses={202: s.EventExportSerializer})
    def create(self, request, project_slug: str):
        """Start a CSV export of the audit trail; poll the returned URL until it succeeds."""
        project = access.access_project(request.user, project_slug, token=self.token)
        export = exports.event_export_request(actor=request.user, project=project, token=self.token)
        body = s.EventExportSerializer(export, context={"request": request}).data
        return self.located(body, status.HTTP_202_ACCEPTED)

    def retrieve(self, request, pk: int):
        export = selectors.export_get(request.user, pk, self.token)
        return Response(s.EventExportSerializer(export, context={"request": request}).data)

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.BINARY, 409: NOT_READY})
    @action(detail=True, methods=["get"])
    def download(self, request, pk: int):
        export = selectors.export_get(request.user, pk, self.token)
        if export.status != EventExport.Status.SUCCEEDED or not export.file:
            raise Conflict("The export has not finished.", code="not_ready")
        return stored_file_response(
            export.file,
            filename=f"{export.project.slug}-events-{export.pk}.csv",
            content_type="text/csv",
        )


class ProfileViewSet(ApiViewSet):
    serializer_class = s.ProfileSerializer

    @extend_schema(responses=s.ProfileSerializer)
    def retrieve(self, request):
        """The caller's name and job title."""
        return Response(s.ProfileSerializer.of(request.user))

    @extend_schema(request=s.ProfileSerializer, responses=s.ProfileSerializer)
    def partial_update(self, request):
        """Change the caller's own name or job title (not with an API token: a token acts
        for a pipeline, not for the person's identity)."""
        if self.token is not None:
            raise Forbidden(
                "An API token cannot change its owner's profile; sign in to change it.",
                code="token_not_allowed",
            )
        data = s.ProfileSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        current = s.ProfileSerializer.of(request.user)
        fields = {k: data.validated_data.get(k, current[k]) for k in teams.PROFILE_FIELDS}
        teams.profile_update(actor=request.user, **fields)
        return Response(s.ProfileSerializer.of(request.user))
