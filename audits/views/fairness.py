"""Pages for fairness audits: configuration, running, the report, review and the inbox."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from audits import selectors
from audits.analysis.audit_config import THRESHOLDS, default_config, placeholder_thresholds
from audits.analysis.gates import FAILING_VERDICTS
from audits.forms import AuditConfigForm, AuditReviewForm, ReviewCommentForm, ReviewRequestForm
from audits.models import AuditRun
from audits.reports import audit_csv_response, audit_report, review_authors
from audits.services.exceptions import exception_owners
from audits.services.fairness import audit_config_save, audit_request, audit_review
from audits.services.review_workflow import (
    eligible_reviewers,
    review_comment_add,
    review_request,
)
from audits.views.mitigation import mitigation_context
from portal import access
from portal.exceptions import ApplicationError, Conflict, Forbidden
from portal.sudo import require_recent_password
from projects import selectors as project_selectors
from projects.views.projects import form_errors


def _may_configure(user, project) -> bool:
    return bool(access.project_perms(user, project) & set(access.EDIT_RISKS))


@login_required
def audit_settings(request: HttpRequest, slug: str) -> HttpResponse:
    """The project's audit configuration (current version and history) and its audits."""
    project = access.access_project(request.user, slug)
    current = selectors.audit_config_current(project)
    config = current.as_dict() if current else default_config()
    form = AuditConfigForm(request.POST or None, initial=AuditConfigForm.initial_from(config))
    if request.method == "POST":
        access.require_any_project_perm(request.user, project, access.EDIT_RISKS)
        if form.is_valid():
            new, note = form.config()
            try:
                saved = audit_config_save(
                    actor=request.user, project=project, changes=new, note=note
                )
            except ApplicationError as exc:
                form.add_error(None, exc.detail)
            else:
                messages.success(request, f"Saved audit configuration v{saved.version}.")
                return redirect("audit-settings", slug=slug)
    specs = {s.name: s for s in THRESHOLDS}
    context = {
        "project": project,
        "current": current,
        "thresholds": [
            {"spec": specs[name], **entry} for name, entry in config["thresholds"].items()
        ],
        "config": config,
        "placeholders": [specs[name].label for name in placeholder_thresholds(config)],
        "versions": selectors.audit_configs(project),
        "audits": selectors.audit_runs(project),
        "form": form if _may_configure(request.user, project) else None,
    }
    return render(request, "audits/audit_settings.html", context)


@login_required
@require_POST
def audit_create(request: HttpRequest, pk: int) -> HttpResponse:
    evaluation = project_selectors.evaluation_get(request.user, pk)
    access.require_project_perm(request.user, evaluation.model_version.project, access.CHANGE)
    try:
        audit, created = audit_request(actor=request.user, evaluation=evaluation)
    except ApplicationError as exc:
        messages.error(request, exc.detail)
        return redirect(evaluation)
    if created:
        messages.success(request, "Audit queued; a worker computes it now.")
    else:
        messages.info(request, "This evaluation was audited under this configuration already.")
    return redirect(audit)


def _status(audit: AuditRun) -> dict:
    return {
        "job": audit,
        "dom_id": "audit-status",
        "poll_url": reverse("audit-status", args=[audit.pk]),
        "page_url": audit.get_absolute_url(),
        "region": "audit-live",
    }


def _review_form(user, audit: AuditRun) -> AuditReviewForm | None:
    """A review form for an independent auditor of a finished audit, else None."""
    if audit.status != AuditRun.Status.SUCCEEDED:
        return None
    try:
        access.require_independent_reviewer(user, audit.project, authors=review_authors(audit))
    except Forbidden:
        return None
    return AuditReviewForm(owners=exception_owners(audit.project))


def _may_ask(audit: AuditRun, latest_review) -> bool:
    """A review may be asked for once the audit finished, until someone decides it."""
    return audit.status == AuditRun.Status.SUCCEEDED and (
        latest_review is None or latest_review.decision == "request_changes"
    )


def _workflow(user, audit: AuditRun, latest_review) -> dict:
    """The thread and the forms of the review workflow this user may use."""
    talks = _may_configure(user, audit.project)
    asks = talks and _may_ask(audit, latest_review)
    asked = selectors.review_request_current(audit)
    waiting = asked is not None and (
        latest_review is None or latest_review.created_at < asked.created_at
    )
    return {
        "thread": selectors.review_thread(audit),
        "review_request": asked,
        "review_waiting": waiting,
        "review_overdue": waiting and asked.due_on and asked.due_on < timezone.localdate(),
        "comment_form": ReviewCommentForm() if talks else None,
        "request_form": ReviewRequestForm(reviewers=eligible_reviewers(audit)) if asks else None,
        "asking_again": latest_review is not None,
    }


@login_required
def audit_detail(request: HttpRequest, pk: int) -> HttpResponse:
    audit = selectors.audit_get(request.user, pk)
    project = audit.project
    reviews = list(selectors.audit_reviews(audit))
    context = {
        "audit": audit,
        "project": project,
        "evaluation": audit.evaluation,
        "on_training_data": project_selectors.on_training_data([audit.evaluation])[
            audit.evaluation_id
        ],
        "report": audit_report(audit, selectors.risks_watched(project)),
        "reviews": reviews,
        "latest_review": reviews[0] if reviews else None,
        "status": _status(audit),
        "review_form": _review_form(request.user, audit),
        "is_auditor": access.AUDIT in access.project_perms(request.user, project),
        "failing_verdicts": FAILING_VERDICTS,
        **_workflow(request.user, audit, reviews[0] if reviews else None),
        **mitigation_context(request.user, audit),
    }
    return render(request, "audits/audit_detail.html", context)


@login_required
def audit_status(request: HttpRequest, pk: int) -> HttpResponse:
    audit = selectors.audit_get(request.user, pk)
    return render(request, "_job_status.html", {"status": {**_status(audit), "swap_in": True}})


@login_required
@require_POST
def audit_review_create(request: HttpRequest, pk: int) -> HttpResponse:
    audit = selectors.audit_get(request.user, pk)
    access.require_independent_reviewer(request.user, audit.project, authors=review_authors(audit))
    require_recent_password(request)
    form = AuditReviewForm(request.POST, owners=exception_owners(audit.project))
    if not form.is_valid():
        messages.error(request, form_errors(form))
        return redirect(audit)
    try:
        review = audit_review(actor=request.user, audit=audit, **form.review_fields())
    except ApplicationError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, f"Review recorded: {review.get_decision_display().lower()}.")
    return redirect(audit)


@login_required
@require_POST
def review_request_create(request: HttpRequest, pk: int) -> HttpResponse:
    audit = selectors.audit_get(request.user, pk)
    access.require_any_project_perm(request.user, audit.project, access.EDIT_RISKS)
    form = ReviewRequestForm(request.POST, reviewers=eligible_reviewers(audit))
    if not form.is_valid():
        messages.error(request, form_errors(form))
        return redirect(audit)
    try:
        asked = review_request(actor=request.user, audit=audit, **form.cleaned_data)
    except ApplicationError as exc:
        messages.error(request, exc.detail)
    else:
        who = asked.reviewer.username if asked.reviewer else "the project's auditors"
        messages.success(request, f"Review asked of {who}.")
    return redirect(f"{audit.get_absolute_url()}#review")


@login_required
@require_POST
def review_comment_create(request: HttpRequest, pk: int) -> HttpResponse:
    audit = selectors.audit_get(request.user, pk)
    access.require_any_project_perm(request.user, audit.project, access.EDIT_RISKS)
    form = ReviewCommentForm(request.POST)
    if not form.is_valid():
        messages.error(request, form_errors(form))
        return redirect(audit)
    try:
        review_comment_add(actor=request.user, audit=audit, body=form.cleaned_data["body"])
    except ApplicationError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, "Comment added.")
    return redirect(f"{audit.get_absolute_url()}#thread")


@login_required
def audit_download(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    audit = selectors.audit_get(request.user, pk)
    if fmt == "csv":
        return audit_csv_response(audit)
    if audit.status != AuditRun.Status.SUCCEEDED:
        raise Conflict(f"Audit {audit.pk} is {audit.status}; it has no result yet.")
    body = {"audit": audit.pk, "result_sha256": audit.result_sha256, "result": audit.result}
    response = JsonResponse(body, json_dumps_params={"indent": 2})
    response["Content-Disposition"] = f'attachment; filename="audit-{audit.pk}.json"'
    return response


@login_required
def audit_inbox(request: HttpRequest) -> HttpResponse:
    audits = list(selectors.audit_inbox(request.user))
    assigned = get_user_model().objects.in_bulk({a.review_reviewer_id for a in audits} - {None})
    today = timezone.localdate()
    for audit in audits:
        # Still listed, so nothing waits unseen, but marked: the gate no longer looks at it.
        audit.superseded = "" if audit.is_current else selectors.audit_superseded(audit)
        audit.assigned = assigned.get(audit.review_reviewer_id)
        audit.overdue = audit.review_due_on is not None and audit.review_due_on < today
    context = {"audits": audits, "reviewed": selectors.reviewed_by(request.user)}
    return render(request, "audits/audit_inbox.html", context)
