"""Web pages. Same access helpers and services as the API; templates do the rest."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from portal import access
from portal.exceptions import ApplicationError, Forbidden
from portal.storage import stored_file_response
from projects import forms, gate_links, overdue, reopening, selectors, trail
from projects.analysis.gates import ALLOWED_MOVES
from projects.models import EventExport, Membership, Project
from projects.services import exports, lifecycle, teams, tokens

LIFECYCLE = [Project.Stage.PROTOTYPING, Project.Stage.DEPLOYMENT, Project.Stage.MONITORING]


def form_errors(form) -> str:
    """A form's errors as one line, each field named."""
    return " ".join(
        f"{'' if name == '__all__' else name + ': '}{' '.join(errors)}"
        for name, errors in form.errors.items()
    )


def _submit(request: HttpRequest, form, action: Callable[[dict], object], done: str) -> None:
    """Validate a posted form, run its service call and report the outcome as a message."""
    if not form.is_valid():
        messages.error(request, form_errors(form))
        return
    try:
        action(form.cleaned_data)
    except ApplicationError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, done)


#: Projects whose failing gate checks the home page lists, newest change first: each gate
#: costs its own queries, so the page stays within a fixed budget however many there are.
HOME_GATES = 5
#: Events of "Lately" on the home page.
HOME_LATELY = 10


def _next_steps(user) -> list[dict]:
    """The failing checks of the next gate of projects ``user`` builds, grouped by the step
    that fixes them (one plan answers four deployment checks: it is said once)."""
    building = (
        access.projects_with_perm(user, access.CHANGE)
        .exclude(stage=Project.Stage.RETIRED)
        .select_related("team")
        .order_by("-updated_at", "pk")[:HOME_GATES]
    )
    rows = []
    gates = selectors.next_gates_polled(building)
    for project in building:
        gate = gates[project.pk]
        failing = [
            (check, step)
            for check, step in gate_links.gate_rows(project, gate)
            if not check.passed and check.key != "move.reason"
        ]
        if failing:
            steps: dict[object, dict] = {}
            for check, step in failing:
                group = steps.setdefault(
                    step.url if step else check.key, {"step": step, "checks": []}
                )
                group["checks"].append(check)
            rows.append(
                {
                    "project": project,
                    "target": gate.target,
                    "failing": failing,
                    "steps": list(steps.values()),
                }
            )
    return rows


def _lately(projects) -> list[tuple[Project, trail.Sentence]]:
    events = (
        selectors.events_of_projects(projects)
        .select_related("project")
        .order_by("-created_at", "-id")[:HOME_LATELY]
    )
    return [(event.project, trail.event_sentence(event, event.project)) for event in events]


@login_required
def home(request: HttpRequest) -> HttpResponse:
    projects = selectors.project_list(request.user)
    visible = list(projects)
    teams_ = list(selectors.team_list(request.user))
    context = {
        "teams": teams_,
        "projects": visible,
        "can_create": any(
            access.has_team_perm(request.user, t, access.CREATE_PROJECT) for t in teams_
        ),
        "waiting": selectors.signoff_inbox(request.user, projects=visible),
        "overdue": overdue.overdue_reviews(projects),
        "next_steps": _next_steps(request.user),
        "lately": _lately(projects),
    }
    return render(request, "projects/home.html", context)


def _creatable_teams(user) -> list:
    teams_ = selectors.team_list(user)
    return [t for t in teams_ if access.has_team_perm(user, t, access.CREATE_PROJECT)]


@login_required
def project_create(request: HttpRequest) -> HttpResponse:
    allowed = _creatable_teams(request.user)
    if not allowed:
        raise Forbidden("You are not a business owner or ML engineer in any team.")
    team_qs = selectors.team_list(request.user).filter(pk__in=[t.pk for t in allowed])
    form = forms.ProjectForm(request.POST or None, teams=team_qs)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            project = teams.project_create(actor=request.user, **data)
        except ApplicationError as exc:
            form.add_error("slug", exc.detail)
        else:
            messages.success(request, f"Project {project.name} created.")
            return redirect(project)
    return render(request, "projects/project_form.html", {"form": form, "title": "New project"})


@login_required
def project_detail(request: HttpRequest, slug: str) -> HttpResponse:
    project = access.access_project(request.user, slug)
    perms = access.project_perms(request.user, project)
    gate = selectors.project_gate(project)
    moves = ALLOWED_MOVES.get(project.stage, ())
    # The way forward waits for its gate (the reason is written in the move form itself);
    # retiring or going back needs only a reason.
    forward = gate.target if gate.target in moves else None
    blocking = [c for c in gate.checks if not c.passed and c.key != "move.reason"]
    # Proposed only to those who may take the project back.
    proposal = reopening.reopen_proposal(project) if access.TRANSITION in perms else None
    filters = trail.TrailFilterForm(request.GET or None, people=trail.trail_people(project))
    events = selectors.project_events(project)
    status = 200
    if filters.is_bound and not filters.is_valid():
        status, events = 400, events.none()
    elif filters.is_bound:
        events = trail.trail_filter(events, filters.cleaned_data)
    shown = list(events[: trail.PAGE + 1])
    older = None
    if len(shown) > trail.PAGE:
        shown = shown[: trail.PAGE]
        query = request.GET.copy()
        query["before"] = shown[-1].seq
        older = query.urlencode()
    context = {
        "project": project,
        "perms": perms,
        "gate": gate,
        "gate_rows": gate_links.gate_rows(project, gate),
        "lifecycle": LIFECYCLE,
        "stage_index": LIFECYCLE.index(project.stage) if project.stage in LIFECYCLE else None,
        "moves": moves,
        "forward": forward,
        "blocking": blocking if forward else [],
        "other_moves": [move for move in moves if move != forward],
        "proposal": proposal,
        "trail": [trail.event_sentence(event, project) for event in shown],
        "trail_filters": filters,
        "trail_older": older,
        "shares": project.shares.select_related("team", "user"),
        "share_form": forms.ShareForm() if access.SHARE in perms else None,
        "exports": project.event_exports.filter(requested_by=request.user)[:5],
    }
    return render(request, "projects/project_detail.html", context, status=status)


@login_required
def project_edit(request: HttpRequest, slug: str) -> HttpResponse:
    project = access.access_project(request.user, slug, access.CHANGE)
    initial = {
        "name": project.name,
        "task_type": project.task_type,
        "description": project.description,
        "intended_use": project.intended_use,
        "out_of_scope_use": project.out_of_scope_use,
        "limitations": project.limitations,
    }
    form = forms.ProjectEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        teams.project_update(actor=request.user, project=project, **form.cleaned_data)
        messages.success(request, "Project updated.")
        return redirect(project)
    return render(
        request,
        "projects/project_form.html",
        {"form": form, "title": f"Edit {project.name}", "project": project, "section": "overview"},
    )


@login_required
@require_POST
def project_transition(request: HttpRequest, slug: str) -> HttpResponse:
    project = access.access_project(request.user, slug, access.TRANSITION)
    form = forms.TransitionForm(request.POST)
    if not form.is_valid():
        messages.error(request, form_errors(form))
        return redirect(project)
    try:
        lifecycle.project_transition(
            actor=request.user,
            project=project,
            target=form.cleaned_data["to"],
            reason=form.cleaned_data["reason"],
        )
    except ApplicationError as exc:
        failing = [c["name"] for c in exc.extra.get("checks", []) if not c["passed"]]
        messages.error(
            request, exc.detail + (f" Failing: {', '.join(failing)}." if failing else "")
        )
    else:
        cycle = project.cycle
        project.refresh_from_db(fields=["cycle"])
        started = f" Cycle {project.cycle} starts." if project.cycle != cycle else ""
        messages.success(request, f"Moved to {form.cleaned_data['to']}.{started}")
    return redirect(project)


@login_required
@require_POST
def project_share(request: HttpRequest, slug: str) -> HttpResponse:
    project = access.access_project(request.user, slug, access.SHARE)
    _submit(
        request,
        forms.ShareForm(request.POST),
        lambda data: teams.project_share(
            actor=request.user,
            project=project,
            role=data["role"],
            team=data["team"],
            user=data.get("user"),
        ),
        "Project shared.",
    )
    return redirect(project)


@login_required
@require_POST
def share_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    share = selectors.share_get(request.user, pk)
    access.require_project_perm(request.user, share.project, access.SHARE)
    teams.share_revoke(actor=request.user, share=share)
    messages.success(request, "Share revoked.")
    return redirect(share.project)


# --- Audit-trail exports --------------------------------------------------------
@login_required
@require_POST
def export_create(request: HttpRequest, slug: str) -> HttpResponse:
    project = access.access_project(request.user, slug)
    exports.event_export_request(actor=request.user, project=project)
    messages.success(request, "Export started; it appears below when ready.")
    return redirect(project)


@login_required
def export_status(request: HttpRequest, pk: int) -> HttpResponse:
    """A fragment that htmx polls while the job runs."""
    return render(
        request, "projects/_export.html", {"export": selectors.export_get(request.user, pk)}
    )


@login_required
def export_download(request: HttpRequest, pk: int) -> HttpResponse:
    export = selectors.export_get(request.user, pk)
    if export.status != EventExport.Status.SUCCEEDED or not export.file:
        raise Http404("The export has not finished.")
    return stored_file_response(
        export.file,
        filename=f"{export.project.slug}-events-{export.pk}.csv",
        content_type="text/csv",
    )


# --- Teams ----------------------------------------------------------------------
@login_required
def team_detail(request: HttpRequest, slug: str) -> HttpResponse:
    team = access.access_team(request.user, slug)
    can_manage = access.has_team_perm(request.user, team, access.MANAGE_TEAM)
    projects = selectors.project_list(request.user).filter(team=team)
    context = {
        "team": team,
        "members": selectors.team_members(team),
        "projects": projects,
        "overdue": overdue.overdue_reviews(projects),
        "can_manage": can_manage,
        "form": forms.MembershipForm() if can_manage else None,
        "roles": Membership.Role.choices,
    }
    return render(request, "teams/team_detail.html", context)


@login_required
@require_POST
def membership_add(request: HttpRequest, slug: str) -> HttpResponse:
    team = access.access_team(request.user, slug, access.MANAGE_TEAM)
    _submit(
        request,
        forms.MembershipForm(request.POST),
        lambda data: teams.membership_add(
            actor=request.user,
            team=team,
            user=data["username"],
            role=data["role"],
            is_admin=data["is_admin"],
        ),
        "Member added.",
    )
    return redirect(team)


def _membership(request: HttpRequest, pk: int) -> Membership:
    membership = selectors.membership_get(request.user, pk)
    access.access_team(request.user, membership.team.slug, access.MANAGE_TEAM)
    return membership


@login_required
@require_POST
def membership_change(request: HttpRequest, pk: int) -> HttpResponse:
    membership = _membership(request, pk)
    _submit(
        request,
        forms.MembershipChangeForm(request.POST),
        lambda data: teams.membership_change(actor=request.user, membership=membership, **data),
        f"{membership.user}'s membership was changed.",
    )
    return redirect(membership.team)


@login_required
@require_POST
def membership_remove(request: HttpRequest, pk: int) -> HttpResponse:
    membership = _membership(request, pk)
    team = membership.team
    teams.membership_remove(actor=request.user, membership=membership)
    messages.success(request, "Member removed.")
    return redirect(team)


# --- API tokens -------------------------------------------------------------------
@never_cache
@login_required
def token_list(request: HttpRequest) -> HttpResponse:
    form = forms.TokenForm(request.POST or None, projects=selectors.project_list(request.user))
    new_key = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            _, new_key = tokens.token_create(
                user=request.user,
                name=data["name"],
                scopes=data["scopes"],
                project=data["project"],
                days=data["days"],
            )
        except ApplicationError as exc:
            form.add_error(None, exc.detail)
        else:
            form = forms.TokenForm(projects=selectors.project_list(request.user))
    context = {"tokens": selectors.token_list(request.user), "form": form, "new_key": new_key}
    return render(request, "tokens/token_list.html", context)


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = selectors.token_get(request.user, pk)
    try:
        tokens.token_revoke(actor=request.user, token=token)
        messages.success(request, f"Token {token.prefix}… revoked.")
    except ApplicationError as exc:
        messages.error(request, exc.detail)
    return redirect("token-list")
