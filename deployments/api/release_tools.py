"""API for release tools: Flagger's webhooks, and the current step's verdict that an Argo
Rollouts analysis reads (deployments.services.release_tools holds what they mean)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.settings import api_settings

from deployments import selectors
from deployments.api.serializers import AnalysisSerializer
from deployments.models import Deployment
from deployments.services.release_tools import (
    EVENT,
    HOOKS,
    FlaggerCall,
    HookAnswer,
    Verdict,
    flagger_hook,
    rollout_judge,
    rollout_verdict,
)
from deployments.services.rollouts import plan_steps
from portal import access
from portal.api.authentication import WebhookMetadataTokenAuthentication
from portal.api.views import ApiViewSet
from portal.exceptions import ApplicationError, NotFound
from portal.inputs import validate_json_value

#: Longest value read from a payload: Kubernetes names are at most 253 characters.
NAME_MAX, PHASE_MAX, CHECKSUM_MAX, MESSAGE_MAX = 253, 40, 128, 4000


class FlaggerPayloadSerializer(serializers.Serializer):
    """For the schema; a payload is read by ``flagger_call``, which takes no string for a
    number nor a number for a string."""

    name = serializers.CharField(max_length=NAME_MAX, help_text="The canary's name.")
    namespace = serializers.CharField(max_length=NAME_MAX, help_text="The canary's namespace.")
    phase = serializers.CharField(
        required=False, max_length=PHASE_MAX, help_text="Progressing, Succeeded, Failed, …"
    )
    checksum = serializers.CharField(
        required=False,
        max_length=CHECKSUM_MAX,
        help_text="Flagger's hash of the canary's spec and tracked configs.",
    )
    metadata = serializers.DictField(
        child=serializers.CharField(max_length=MESSAGE_MAX),
        validators=[validate_json_value],
        required=False,
        help_text="The webhook's metadata; `token` authenticates when no header can be sent.",
    )


class FlaggerAnswerSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, for programs: rollout_started, …")
    detail = serializers.CharField(help_text="One sentence, shown in Flagger's events.")
    hook = serializers.CharField()
    deployment = serializers.IntegerField()
    rollout = serializers.IntegerField(allow_null=True)
    status = serializers.CharField(allow_null=True, help_text="The rollout's status.")
    step = serializers.IntegerField(allow_null=True, help_text="Its current step, from 0.")
    traffic = serializers.FloatField(allow_null=True)
    analysis = serializers.IntegerField(allow_null=True)
    checks = serializers.ListField(child=serializers.DictField(), help_text="What refused.")


class VerdictSerializer(serializers.Serializer):
    outcome = serializers.CharField(
        help_text="pass, fail, inconclusive, pending (the step's window is open), "
        "no_rollout, rolled_back or aborted."
    )
    detail = serializers.CharField()
    deployment = serializers.IntegerField()
    rollout = serializers.IntegerField(allow_null=True)
    status = serializers.CharField(allow_null=True, help_text="The rollout's status.")
    step = serializers.IntegerField(allow_null=True, help_text="Its current step, from 0.")
    steps = serializers.IntegerField(allow_null=True)
    traffic = serializers.FloatField(allow_null=True)
    analysis = AnalysisSerializer(allow_null=True)


class JudgeSerializer(serializers.Serializer):
    step = serializers.CharField(
        required=False,
        max_length=20,
        help_text="The step judged, from 0 (a number, or digits: Argo's arguments are "
        "strings); a retry after the rollout moved on answers that step's analysis again.",
    )


def _type(value) -> str:
    return {bool: "true/false", int: "a number", float: "a number", list: "a list"}.get(
        type(value), "an object" if isinstance(value, dict) else type(value).__name__
    )


def _text(
    data: dict, key: str, limit: int, *, required: bool = False, truncate: bool = False
) -> str:
    value = data.get(key)
    if value is None or (required and value == ""):
        if required:
            raise ApplicationError(
                f"{key}: missing; Flagger sends the canary's {key}.", code="invalid_payload"
            )
        return ""
    if not isinstance(value, str):
        raise ApplicationError(f"{key}: a string, not {_type(value)}.", code="invalid_payload")
    if len(value) > limit:
        if truncate:
            return value.strip()[:limit]
        raise ApplicationError(
            f"{key}: at most {limit} characters, not {len(value)}.", code="invalid_payload"
        )
    return value.strip()


def flagger_call(hook: str, data) -> FlaggerCall:
    """The call in Flagger's payload (``name``, ``namespace``, ``phase``, ``checksum``,
    ``metadata``); 400 naming the first field that is missing or of the wrong type."""
    if not isinstance(data, dict):
        raise ApplicationError(
            "Send Flagger's JSON object: name, namespace, phase, checksum and metadata.",
            code="invalid_payload",
        )
    metadata = data.get("metadata")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise ApplicationError(
            f"metadata: an object of strings, not {_type(metadata)}.", code="invalid_payload"
        )
    # Some Flagger builds also send the hook's type: a URL pasted under the wrong hook.
    sent = data.get("type")
    if sent is not None and sent != hook:
        raise ApplicationError(
            f"This URL answers the {hook} hook, but the webhook is of type {sent!r}; "
            "use the URL that ends in its type.",
            code="wrong_hook",
        )
    return FlaggerCall(
        hook=hook,
        name=_text(data, "name", NAME_MAX, required=True),
        namespace=_text(data, "namespace", NAME_MAX, required=True),
        phase=_text(data, "phase", PHASE_MAX),
        checksum=_text(data, "checksum", CHECKSUM_MAX),
        event_type=_text(metadata, "eventType", PHASE_MAX) if hook == EVENT else "",
        event_message=(
            _text(metadata, "eventMessage", MESSAGE_MAX, truncate=True) if hook == EVENT else ""
        ),
    )


def _rollout_fields(rollout) -> dict:
    return {
        "rollout": rollout.pk if rollout is not None else None,
        "status": rollout.status if rollout is not None else None,
        "step": rollout.step if rollout is not None else None,
        "traffic": rollout.traffic if rollout is not None else None,
    }


class FlaggerViewSet(ApiViewSet):
    """Flagger's webhooks. Flagger sends a fixed JSON body and no headers of its own, so
    the token may come in ``metadata.token``."""

    authentication_classes = [
        WebhookMetadataTokenAuthentication,
        *api_settings.DEFAULT_AUTHENTICATION_CLASSES[1:],
    ]
    serializer_class = FlaggerAnswerSerializer
    queryset = Deployment.objects.none()

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "hook",
                OpenApiTypes.STR,
                OpenApiParameter.PATH,
                enum=list(HOOKS),
                description="The webhook's type, as in the Canary's analysis.webhooks.",
            )
        ],
        request=FlaggerPayloadSerializer,
        responses={200: FlaggerAnswerSerializer, 409: FlaggerAnswerSerializer},
    )
    def hook(self, request, pk: int, hook: str):
        """One Flagger webhook: 200 lets the canary go on; 409 holds it with the reason
        (for ``rollback``: 200 asks Flagger to roll back, 409 asks for none). Every call is
        recorded on the project's trail."""
        deployment = selectors.deployment_get(request.user, pk, self.token)
        if hook not in HOOKS:
            raise NotFound(
                f"Flagger has no {hook!r} hook; use one of {', '.join(HOOKS)}.",
                code="unknown_hook",
            )
        # Every call goes on the trail, and the trail steers the rollout (the first call's
        # checksum binds it to one revision of the canary; the answers given decide the
        # next step): so every hook needs the transition right, also those that only read.
        access.require_project_perm(request.user, deployment.project, access.TRANSITION, self.token)
        call = flagger_call(hook, request.data)
        answer: HookAnswer = flagger_hook(
            actor=request.user, deployment=deployment, call=call, token=self.token
        )
        body = {
            "code": answer.code,
            "detail": answer.detail,
            "hook": hook,
            "deployment": deployment.pk,
            **_rollout_fields(answer.rollout),
            "analysis": answer.analysis_id,
            "checks": answer.checks,
        }
        return Response(FlaggerAnswerSerializer(body).data, status=answer.status)


class AnalysisVerdictViewSet(ApiViewSet):
    """The current step's verdict in one word, for Argo Rollouts' ``web`` metric."""

    serializer_class = VerdictSerializer
    queryset = Deployment.objects.none()

    def _body(self, deployment: Deployment, verdict: Verdict) -> dict:
        rollout = verdict.rollout
        analysis = (
            AnalysisSerializer(verdict.analysis, context={"request": self.request}).data
            if verdict.analysis is not None
            else None
        )
        return {
            "outcome": verdict.outcome,
            "detail": verdict.detail,
            "deployment": deployment.pk,
            **_rollout_fields(rollout),
            "steps": len(plan_steps(rollout.plan.content)) if rollout is not None else None,
            "analysis": analysis,
        }

    @extend_schema(responses=VerdictSerializer)
    def retrieve(self, request, pk: int):
        """The newest analysis of the rollout's current step (``pending`` before there is
        one). Reads only."""
        deployment = selectors.deployment_get(request.user, pk, self.token)
        return Response(self._body(deployment, rollout_verdict(deployment)))

    @extend_schema(request=JudgeSerializer, responses={200: VerdictSerializer})
    def judge(self, request, pk: int):
        """Judge the current step's window and promote the rollout when it passes. Answers
        200 with the outcome (pass, fail, inconclusive, pending while the window is open),
        so a tool reading ``outcome`` tells a failure from an error; the analysis is stored
        and on the trail like any promotion's."""
        deployment = selectors.deployment_get(request.user, pk, self.token)
        access.require_project_perm(request.user, deployment.project, access.TRANSITION, self.token)
        data = request.data if request.data is not None else {}
        if not isinstance(data, dict):
            raise ApplicationError("Send an object, with the step judged or empty.")
        step = _step(data.get("step"))
        verdict = rollout_judge(
            actor=request.user, deployment=deployment, step=step, token=self.token
        )
        return Response(self._body(deployment, verdict), status=status.HTTP_200_OK)


def _step(value) -> int | None:
    if value is None or value == "":
        return None
    text = value.strip() if isinstance(value, str) else ""
    if text.isascii() and text.isdigit() and len(text) <= 4:
        return int(text)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10_000:
        return value
    raise ApplicationError(
        f"step: the step judged, a whole number from 0, not {value!r}.", code="invalid"
    )
