"""API for deployments: plans and their sign-offs, rollouts, analyses, pushed metrics."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.response import Response

from deployments import selectors
from deployments.api import serializers as s
from deployments.models import Deployment
from deployments.services.alerts import (
    alert_acknowledge,
    alert_resolve,
    alertmanager_receive,
    webhook_create,
)
from deployments.services.drift import drift_check_request
from deployments.services.metrics import metrics_push
from deployments.services.plans import deployment_create, plan_save
from deployments.services.rollouts import (
    rollout_abort,
    rollout_promote,
    rollout_rollback,
    rollout_start,
)
from portal import access
from portal.api.views import ApiViewSet
from portal.exceptions import ApplicationError
from projects import selectors as project_selectors
from projects.api.signoffs import RevokeSerializer, SignatureViewSet, SignOffWriteSerializer
from projects.models import ModelVersion


class DeploymentViewSet(ApiViewSet):
    serializer_class = s.DeploymentSerializer
    queryset = Deployment.objects.none()

    def _deployment(self, pk: int, perm: str = access.VIEW) -> Deployment:
        deployment = selectors.deployment_get(self.request.user, pk, self.token)
        access.require_project_perm(self.request.user, deployment.project, perm, self.token)
        return deployment

    def _body(self, deployment: Deployment) -> dict:
        return s.DeploymentSerializer(deployment, context={"request": self.request}).data

    @extend_schema(responses=s.DeploymentSerializer(many=True))
    def list(self, request, project_slug: str):
        """The project's deployments, newest first."""
        project = access.access_project(request.user, project_slug, token=self.token)
        page = self.paginate_queryset(selectors.deployment_list(project))
        data = s.DeploymentSerializer(page, many=True, context={"request": request}).data
        return self.get_paginated_response(data)

    @extend_schema(request=s.DeploymentWriteSerializer, responses={201: s.DeploymentSerializer})
    def create(self, request, project_slug: str):
        """Start planning how the candidate model version goes into service."""
        project = access.access_project(request.user, project_slug, access.CHANGE, self.token)
        data = s.DeploymentWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        model = ModelVersion.objects.filter(pk=fields["model_version"], project=project).first()
        if model is None:
            raise ApplicationError(
                "No such model version in this project.", code="unknown_model_version"
            )
        deployment = deployment_create(
            actor=request.user,
            project=project,
            model_version=model,
            name=fields.get("name", ""),
            environment=fields.get("environment", ""),
            token=self.token,
        )
        return self.located(self._body(deployment), status.HTTP_201_CREATED)

    @extend_schema(responses=s.DeploymentSerializer)
    def retrieve(self, request, pk: int):
        return Response(self._body(self._deployment(pk)))

    @extend_schema(responses=s.PlanSerializer(many=True))
    def plans(self, request, pk: int):
        """Every version of the deployment's plan, newest first."""
        deployment = self._deployment(pk)
        page = self.paginate_queryset(selectors.plan_versions(deployment))
        data = s.PlanSerializer(page, many=True, context={"request": request}).data
        return self.get_paginated_response(data)

    @extend_schema(request=s.PlanWriteSerializer, responses={201: s.PlanSerializer})
    def plan_create(self, request, pk: int):
        """Save the next version of the plan (the whole document); its sign-offs start over."""
        deployment = self._deployment(pk, access.CHANGE)
        data = s.PlanWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        plan = plan_save(
            actor=request.user,
            deployment=deployment,
            content=data.validated_data["content"],
            note=data.validated_data.get("note", ""),
            token=self.token,
        )
        body = s.PlanSerializer(plan, context={"request": request}).data
        return self.located(body, status.HTTP_201_CREATED)

    @extend_schema(responses=s.RolloutSerializer(many=True))
    def rollouts(self, request, pk: int):
        """The deployment's rollouts, newest first."""
        deployment = self._deployment(pk)
        rollouts = deployment.rollouts.select_related("plan").prefetch_related(
            "moves__actor", "analyses__requested_by"
        )
        page = self.paginate_queryset(rollouts)
        data = s.RolloutSerializer(page, many=True, context={"request": request}).data
        return self.get_paginated_response(data)

    @extend_schema(request=s.ReasonSerializer, responses={201: s.RolloutSerializer})
    def rollout_create(self, request, pk: int):
        """Start a rollout from the current plan, which a business owner and an ML engineer
        signed; one rollout per deployment at a time."""
        deployment = self._deployment(pk, access.TRANSITION)
        data = s.ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rollout = rollout_start(
            actor=request.user, deployment=deployment, token=self.token, **data.validated_data
        )
        body = s.RolloutSerializer(rollout, context={"request": request}).data
        return self.located(body, status.HTTP_201_CREATED)

    @extend_schema(
        request=s.PromoteSerializer,
        responses={200: s.PromotionSerializer},
        description="",
    )
    def promote(self, request, pk: int):
        """Analyse the current step's window and move to the next step when it passes.

        200 with the rollout and the analysis; 409 with the failing or inconclusive checks
        (the analysis is stored all the same), when the window is still open, or when
        another promotion moved the rollout first."""
        deployment = self._deployment(pk, access.TRANSITION)
        data = s.PromoteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rollout, analysis = rollout_promote(
            actor=request.user, deployment=deployment, token=self.token, **data.validated_data
        )
        body = s.PromotionSerializer(
            {"rollout": rollout, "analysis": analysis}, context={"request": request}
        ).data
        return Response(body)

    @extend_schema(request=s.ReasonSerializer, responses=s.RolloutSerializer)
    def rollback(self, request, pk: int):
        """Send all traffic back to the model that served before, with a reason."""
        deployment = self._deployment(pk, access.TRANSITION)
        data = s.ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rollout = rollout_rollback(
            actor=request.user,
            deployment=deployment,
            reason=data.validated_data.get("reason", ""),
            token=self.token,
        )
        return Response(s.RolloutSerializer(rollout, context={"request": request}).data)

    @extend_schema(request=s.ReasonSerializer, responses=s.RolloutSerializer)
    def abort(self, request, pk: int):
        """Stop the rollout where it stands, with a reason; traffic returns to the model
        before."""
        deployment = self._deployment(pk, access.TRANSITION)
        data = s.ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rollout = rollout_abort(
            actor=request.user,
            deployment=deployment,
            reason=data.validated_data.get("reason", ""),
            token=self.token,
        )
        return Response(s.RolloutSerializer(rollout, context={"request": request}).data)

    @extend_schema(
        request=s.MetricsWriteSerializer,
        responses={201: s.MetricBatchSerializer, 200: s.MetricBatchSerializer},
    )
    def metrics(self, request, pk: int):
        """Push up to 10,000 live metric points. A retried batch (same idempotency key, same
        points) answers 200 and is not counted twice; the same key with other points, 409.
        A token needs the write scope, or is the deployment's own metrics token."""
        deployment = selectors.deployment_get(self.request.user, pk, self.token)
        access.require_metrics_push(request.user, deployment, self.token)
        body = request.data
        if not isinstance(body, dict):
            raise ApplicationError("Send an object with points.", code="invalid")
        key = body.get("idempotency_key") or request.headers.get("Idempotency-Key", "")
        # Points are checked by the service in one pass: a serializer per point would cost
        # more than storing them.
        batch, created = metrics_push(
            actor=request.user,
            deployment=deployment,
            points=body.get("points"),
            idempotency_key=key if isinstance(key, str) else "",
            token=self.token,
        )
        data = s.MetricBatchSerializer(batch).data
        return Response(data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class PlanViewSet(ApiViewSet):
    serializer_class = s.PlanSerializer
    queryset = Deployment.objects.none()

    @extend_schema(responses=s.PlanSerializer)
    def retrieve(self, request, pk: int):
        plan = selectors.plan_get(request.user, pk, self.token)
        return Response(s.PlanSerializer(plan, context={"request": request}).data)


class RolloutViewSet(ApiViewSet):
    serializer_class = s.RolloutSerializer
    queryset = Deployment.objects.none()

    @extend_schema(responses=s.RolloutSerializer)
    def retrieve(self, request, pk: int):
        rollout = selectors.rollout_get(request.user, pk, self.token)
        return Response(s.RolloutSerializer(rollout, context={"request": request}).data)


class DriftCheckViewSet(ApiViewSet):
    serializer_class = s.DriftCheckSerializer
    queryset = Deployment.objects.none()

    @extend_schema(responses=s.DriftCheckSerializer(many=True))
    def list(self, request, pk: int):
        """The deployment's drift checks, newest first."""
        deployment = selectors.deployment_get(request.user, pk, self.token)
        page = self.paginate_queryset(deployment.drift_checks.select_related("requested_by"))
        data = s.DriftCheckSerializer(page, many=True, context={"request": request}).data
        return self.get_paginated_response(data)

    @extend_schema(request=s.DriftCheckWriteSerializer, responses={202: s.DriftCheckSerializer})
    def create(self, request, pk: int):
        """Compare a production period with the reference, column by column; poll the
        returned URL."""
        deployment = selectors.deployment_get(request.user, pk, self.token)
        access.require_project_perm(request.user, deployment.project, access.CHANGE, self.token)
        data = s.DriftCheckWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        versions = {
            side: project_selectors.version_get(request.user, fields[side], self.token)
            for side in ("reference", "current")
        }
        check = drift_check_request(
            actor=request.user,
            deployment=deployment,
            columns=fields.get("columns"),
            drift_share=fields.get("drift_share"),
            token=self.token,
            **versions,
        )
        body = s.DriftCheckSerializer(check, context={"request": request}).data
        return self.located(body, status.HTTP_202_ACCEPTED)

    def retrieve(self, request, pk: int):
        check = selectors.drift_check_get(request.user, pk, self.token)
        return Response(s.DriftCheckSerializer(check, context={"request": request}).data)


class AlertViewSet(ApiViewSet):
    serializer_class = s.AlertSerializer
    queryset = Deployment.objects.none()

    def _alert(self, pk: int, perm: str = access.VIEW):
        alert = selectors.alert_get(self.request.user, pk, self.token)
        access.require_project_perm(self.request.user, alert.deployment.project, perm, self.token)
        return alert

    def _answer(self, alert) -> Response:
        alert = selectors.alerts_of(alert.deployment).get(pk=alert.pk)
        return Response(s.AlertSerializer(alert, context={"request": self.request}).data)

    @extend_schema(responses=s.AlertSerializer(many=True))
    def list(self, request, pk: int):
        """The deployment's alerts, newest first, each with its deliveries."""
        deployment = selectors.deployment_get(request.user, pk, self.token)
        page = self.paginate_queryset(selectors.alerts_of(deployment))
        data = s.AlertSerializer(page, many=True, context={"request": request}).data
        return self.get_paginated_response(data)

    def retrieve(self, request, pk: int):
        return self._answer(self._alert(pk))

    @extend_schema(request=None, responses=s.AlertSerializer)
    def acknowledge(self, request, pk: int):
        """Someone is on it; 409 when it is not firing."""
        alert = alert_acknowledge(
            actor=request.user, alert=self._alert(pk, access.CHANGE), token=self.token
        )
        return self._answer(alert)

    @extend_schema(request=s.AlertResolveSerializer, responses=s.AlertSerializer)
    def resolve(self, request, pk: int):
        """It is over, with why; 409 when it is resolved already."""
        alert = self._alert(pk, access.CHANGE)
        data = s.AlertResolveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        alert = alert_resolve(
            actor=request.user,
            alert=alert,
            reason=data.validated_data.get("reason", ""),
            token=self.token,
        )
        return self._answer(alert)


class AlertWebhookViewSet(ApiViewSet):
    serializer_class = s.AlertWebhookSerializer
    queryset = Deployment.objects.none()

    @extend_schema(responses=s.AlertWebhookSerializer(many=True))
    def list(self, request, pk: int):
        """Where the deployment's alert changes are POSTed (secrets are never shown again)."""
        deployment = selectors.deployment_get(request.user, pk, self.token)
        page = self.paginate_queryset(deployment.alert_webhooks.select_related("created_by"))
        data = s.AlertWebhookSerializer(page, many=True).data
        return self.get_paginated_response(data)

    @extend_schema(
        request=s.AlertWebhookWriteSerializer, responses={201: s.AlertWebhookCreatedSerializer}
    )
    def create(self, request, pk: int):
        """Add a webhook; the answer holds its signing secret, this once."""
        deployment = selectors.deployment_get(request.user, pk, self.token)
        access.require_project_perm(request.user, deployment.project, access.CHANGE, self.token)
        data = s.AlertWebhookWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        webhook, secret = webhook_create(
            actor=request.user,
            deployment=deployment,
            url=data.validated_data["url"],
            token=self.token,
        )
        webhook.secret = secret
        body = s.AlertWebhookCreatedSerializer(webhook).data
        return Response(body, status=status.HTTP_201_CREATED)


class AlertmanagerViewSet(ApiViewSet):
    serializer_class = s.AlertmanagerAnswerSerializer
    queryset = Deployment.objects.none()

    @extend_schema(request=dict, responses={200: s.AlertmanagerAnswerSerializer})
    def create(self, request, pk: int):
        """Alertmanager's webhook receiver (payload version 4): firing alerts fire on the
        deployment's record, resolved ones resolve. Configure it with
        ``http_config.authorization: {type: Token, credentials: <key>}``."""
        deployment = selectors.deployment_get(request.user, pk, self.token)
        access.require_project_perm(request.user, deployment.project, access.CHANGE, self.token)
        counts = alertmanager_receive(
            actor=request.user, deployment=deployment, payload=request.data, token=self.token
        )
        return Response(counts)


class AnalysisViewSet(ApiViewSet):
    serializer_class = s.AnalysisSerializer
    queryset = Deployment.objects.none()

    @extend_schema(responses=s.AnalysisSerializer)
    def retrieve(self, request, pk: int):
        analysis = selectors.analysis_get(request.user, pk, self.token)
        return Response(s.AnalysisSerializer(analysis, context={"request": request}).data)


@extend_schema_view(
    list=extend_schema(responses=s.PlanSignOffSerializer(many=True)),
    create=extend_schema(request=SignOffWriteSerializer, responses={201: s.PlanSignOffSerializer}),
    retrieve=extend_schema(responses=s.PlanSignOffSerializer),
)
class PlanSignOffViewSet(SignatureViewSet):
    """Sign-offs of deployment plan versions, the same mechanism as criteria sign-offs."""

    serializer_class = s.PlanSignOffSerializer
    document_get = staticmethod(selectors.plan_get)
    signoff_get = staticmethod(selectors.plan_signoff_get)

    # Not a routed action, so extend_schema_view cannot reach it: described here.
    @extend_schema(request=RevokeSerializer, responses=s.PlanSignOffSerializer)
    def revoke(self, request, pk: int):
        """Withdraw your own sign-off; it stays on the record as revoked."""
        return super().revoke(request, pk)
