"""Pages for approval packs and the model card download."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from audits import selectors
from audits.analysis.gates import PackState
from audits.api.packs import pack_pdf_response
from audits.models import ApprovalPack
from audits.services.packs import pack_request
from audits.snapshot import model_card_of
from portal import access
from portal.exceptions import ApplicationError


def _status(pack: ApprovalPack) -> dict:
    return {
        "job": pack,
        "dom_id": "pack-status",
        "poll_url": reverse("pack-status", args=[pack.pk]),
        "page_url": pack.get_absolute_url(),
        "region": "pack-live",
    }


@login_required
def pack_list(request: HttpRequest, slug: str) -> HttpResponse:
    """The project's packs, newest first, and whether the newest is for the state of now."""
    project = access.access_project(request.user, slug)
    context = {
        "project": project,
        "packs": selectors.packs_of(project),
        "gate_state": selectors.pack_gate_state(project),
        "can_request": access.CHANGE in access.project_perms(request.user, project),
    }
    return render(request, "packs/pack_list.html", context)


@login_required
@require_POST
def pack_create(request: HttpRequest, slug: str) -> HttpResponse:
    project = access.access_project(request.user, slug, access.CHANGE)
    try:
        pack, created = pack_request(actor=request.user, project=project)
    except ApplicationError as exc:
        messages.error(request, exc.detail)
        return redirect("pack-list", slug=slug)
    if not created:
        messages.info(request, f"Pack {pack.pk} is for exactly this state already.")
    return redirect(pack)


@login_required
def pack_detail(request: HttpRequest, pk: int) -> HttpResponse:
    pack = selectors.pack_get(request.user, pk)
    state = selectors.pack_gate_state(pack.project)
    context = {
        "pack": pack,
        "project": pack.project,
        "status": _status(pack),
        "current": state == PackState("current", pack.pk),
        # Taken from the project as it is now and still being laid out: neither stale nor
        # current yet.
        "rendering": state.pack_id == pack.pk
        and state.status in (ApprovalPack.Status.QUEUED, ApprovalPack.Status.RUNNING),
    }
    return render(request, "packs/pack_detail.html", context)


@login_required
def pack_status(request: HttpRequest, pk: int) -> HttpResponse:
    pack = selectors.pack_get(request.user, pk)
    return render(request, "_job_status.html", {"status": {**_status(pack), "swap_in": True}})


@login_required
def pack_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    return pack_pdf_response(selectors.pack_get(request.user, pk))


@login_required
def model_card(request: HttpRequest, slug: str) -> HttpResponse:
    """The model card as a Model Card Toolkit JSON download."""
    project = access.access_project(request.user, slug)
    body = json.dumps(model_card_of(project), indent=2, ensure_ascii=False)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{project.slug}-model-card.json"'
    return response
