"""Pages for success criteria: the current version, how it stands, its history."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from portal import access
from portal.exceptions import ApplicationError
from portal.inputs import check_posted_text
from portal.storage import stored_file_response
from portal.uploads import refuse_bad_upload
from projects import selectors
from projects.analysis.criteria import CATALOG, CATEGORIES, COMPARATORS, SOURCES
from projects.analysis.criteria_templates import TEMPLATES
from projects.analysis.signoffs import criteria_refusal
from projects.services.criteria import criteria_from_template, criteria_save
from projects.services.measurements import measurement_record
from projects.views.signing import revoke_posted, sign_posted

__all__ = [
    "criteria_edit",
    "criteria_page",
    "criteria_version",
    "measurement_attachment",
    "measurement_create",
    "signoff_create",
    "signoff_revoke_view",
]


def _context(request: HttpRequest, project, version) -> dict:
    perms = access.project_perms(request.user, project)
    current = selectors.criteria_current(project)
    evidence = selectors.signoff_evidence(project)
    signoffs = selectors.signoff_rows(version) if version else []
    mine = [
        r
        for r in signoffs
        if r["signoff"].signed_by_id == request.user.pk
        and not r["signoff"].revoked_at
        and not r["stale"]
    ]
    can_sign = bool(version and current and version.pk == current.pk and not mine)
    return {
        "perms": perms,
        "signoffs": signoffs,
        "summary": selectors.signoff_summary(version) if version else None,
        "evidence": evidence,
        "evidence_sha256": selectors.evidence_sha256(evidence),
        "refusal": criteria_refusal(version.criteria, evidence) if version else None,
        "sign_roles": selectors.signoff_roles(request.user, project) if can_sign else [],
        "measurements": selectors.business_measurements(project)[:20],
        "business_metrics": [k for k, spec in CATALOG.items() if "business" in spec.sources],
        "can_measure": access.MEASURE_BUSINESS in perms,
        "project": project,
        "version": version,
        "rows": selectors.criteria_assessment(version) if version else [],
        "changes": selectors.criteria_changes(version) if version else [],
        "versions": selectors.criteria_versions(project),
        "current": current,
        "catalog": CATALOG,
        "templates": list(TEMPLATES) if access.CHANGE in perms else [],
    }


@login_required
def criteria_page(request: HttpRequest, slug: str) -> HttpResponse:
    """The current criteria version with each criterion measured; start from a template."""
    project = access.access_project(request.user, slug)
    if request.method == "POST":
        access.require_project_perm(request.user, project, access.CHANGE)
        try:
            check_posted_text(request.POST, max_lengths={"template": 100})
            version = criteria_from_template(
                actor=request.user, project=project, template=request.POST.get("template", "")
            )
        except ApplicationError as exc:
            messages.error(request, exc.detail)
        else:
            messages.success(request, f"Saved criteria v{version.version}.")
        return redirect("criteria", slug=slug)
    context = _context(request, project, selectors.criteria_current(project))
    return render(request, "criteria/criteria.html", context)


@login_required
def criteria_version(request: HttpRequest, pk: int) -> HttpResponse:
    version = selectors.criteria_version_get(request.user, pk)
    context = _context(request, version.project, version)
    return render(request, "criteria/criteria.html", context)


@login_required
@require_POST
def signoff_create(request: HttpRequest, pk: int) -> HttpResponse:
    """Approve or reject a criteria version in one of the user's signing roles."""
    version = selectors.criteria_version_get(request.user, pk)
    sign_posted(request, version)
    return redirect("criteria-version", pk=version.pk)


@login_required
@require_POST
def signoff_revoke_view(request: HttpRequest, pk: int) -> HttpResponse:
    signoff = selectors.signoff_get(request.user, pk)
    revoke_posted(request, signoff)
    return redirect("criteria-version", pk=signoff.criteria_version_id)


@login_required
@require_POST
def measurement_create(request: HttpRequest, slug: str) -> HttpResponse:
    """A business owner enters a figure with its evidence (and optionally a file)."""
    project = access.access_project(request.user, slug, access.MEASURE_BUSINESS)
    try:
        refuse_bad_upload(request)
        request.FILES  # noqa: B018 - read the body, then ask again whether a file was cut off
        refuse_bad_upload(request)
        # The limits of the API's measurement fields.
        check_posted_text(request.POST, max_lengths={"metric": 60, "period": 100, "evidence": 4000})
    except ApplicationError as exc:
        messages.error(request, exc.detail)
        return redirect("criteria", slug=slug)
    try:
        value = float(request.POST.get("value", ""))
    except ValueError:
        messages.error(request, "The value must be a number, such as 0.12 or 1500.")
        return redirect("criteria", slug=slug)
    try:
        entry = measurement_record(
            actor=request.user,
            project=project,
            metric=request.POST.get("metric", ""),
            value=value,
            period=request.POST.get("period", ""),
            evidence=request.POST.get("evidence", ""),
            attachment=request.FILES.get("attachment"),
        )
    except ApplicationError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, f"Recorded {entry.metric} = {entry.value:g}.")
    return redirect("criteria", slug=slug)


@login_required
def measurement_attachment(request: HttpRequest, pk: int) -> HttpResponse:
    entry = selectors.measurement_get(request.user, pk)
    if not entry.attachment:
        raise Http404("No such attachment.")
    return stored_file_response(entry.attachment, filename=entry.attachment_display_name)


#: Empty rows offered below the current criteria, for new ones.
BLANK_ROWS = 3
ROW_FIELDS = ("metric", "category", "source", "comparator", "target", "target_high", "unit")


def _rows_from_post(post) -> list[dict]:
    """The editor's rows as criteria: blank rows and rows marked for removal left out."""
    rows = []
    try:
        count = int(post.get("rows", ""))
    except ValueError:
        count = 0
    for i in range(max(0, min(count, 60))):
        row = {field: post.get(f"{field}-{i}", "").strip() for field in ROW_FIELDS}
        row["rationale"] = post.get(f"rationale-{i}", "").strip()
        if post.get(f"remove-{i}") or not any(row.values()):
            continue
        rows.append({k: v for k, v in row.items() if v != ""})
    return rows


@login_required
def criteria_edit(request: HttpRequest, slug: str) -> HttpResponse:
    """Edit the whole set in a form; saving makes the next version (never an update)."""
    project = access.access_project(request.user, slug, access.CHANGE)
    current = selectors.criteria_current(project)
    status = 200
    note = ""
    if request.method == "POST":
        rows = _rows_from_post(request.POST)
        note = request.POST.get("note", "")
        try:
            check_posted_text(request.POST, max_lengths={"note": 500})
            version = criteria_save(actor=request.user, project=project, criteria=rows, note=note)
        except ApplicationError as exc:
            messages.error(request, exc.detail)
            status = exc.status
        else:
            messages.success(request, f"Saved criteria v{version.version}; it needs signing.")
            return redirect(version)
    else:
        rows = [dict(c) for c in current.criteria] if current else []
    rows = [
        {**row, "target": _plain(row.get("target")), "target_high": _plain(row.get("target_high"))}
        for row in rows
    ] + [{} for _ in range(BLANK_ROWS)]
    context = {
        "project": project,
        "current": current,
        "rows": rows,
        "note": note,
        "catalog": CATALOG,
        "categories": CATEGORIES,
        "sources": SOURCES,
        "comparators": COMPARATORS,
    }
    return render(request, "criteria/criteria_edit.html", context, status=status)


def _plain(value) -> str:
    """A stored number as a person types it (0.8, not 0.8000000000000000444)."""
    if value in (None, ""):
        return ""
    return f"{float(value):g}" if isinstance(value, int | float) else str(value)
