"""The audit trail in words: each event verb as a sentence about who did what, with a link to
the object it happened to ("credit_auditor approved fairness audit 12").

Apps emit verbs as ``<noun>.<what happened>``; this is the one place that says them. The
objects are named by their model (``target_type``) and linked by URL name, so projects
imports no other app. Signing verbs follow the document kinds (criteria, plan) and Flagger's
follow its hooks; both are listed here as the code emits them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django import forms
from django.db.models import Q, QuerySet
from django.urls import NoReverseMatch, reverse

from projects.models import Event, Project
from projects.selectors.events import trail_actors

#: What each event verb says, after the actor's name. ``{obj}`` is the object, linked.
VERBS: dict[str, str] = {
    "project.created": "created the project",
    "project.updated": "edited the project's details",
    "project.shared": "shared the project",
    "project.share_revoked": "revoked a share of the project",
    "project.transitioned": "moved the project from {from} to {to}",
    "team.created": "created the team",
    "team.updated": "edited the team",
    "membership.added": "added a member to the team",
    "membership.changed": "changed a team membership",
    "membership.removed": "removed a member from the team",
    "token.created": "created an API token",
    "token.revoked": "revoked an API token",
    "user.profile_updated": "updated their profile",
    "dataset.created": "registered {obj}",
    "dataset.updated": "edited {obj}",
    "dataset_version.uploaded": "uploaded {obj}",
    "dataset_version.profiled": "profiled {obj}",
    "dataset_version.failed": "could not profile {obj}",
    "baseline.recorded": "recorded {obj}",
    "baseline_run.requested": "asked to train {obj}",
    "baseline_run.finished": "finished training {obj}",
    "baseline_run.failed": "could not train {obj}",
    "model.registered": "registered {obj}",
    "model.marked_candidate": "marked {obj} as the candidate",
    "model.training_data_recorded": "recorded the training data of {obj}",
    "evaluation.uploaded": "uploaded predictions for {obj}",
    "evaluation.computed": "computed {obj}",
    "evaluation.failed": "could not compute {obj}",
    "criteria.saved": "saved {obj}",
    "criteria.signed": "signed criteria v{version} as {role} ({decision})",
    "criteria.signoff_revoked": "revoked a sign-off of criteria v{version}",
    "measurement.recorded": "recorded a business measurement",
    "export.requested": "asked for an export of the audit trail",
    "export.finished": "finished an export of the audit trail",
    "audit_config.saved": "saved {obj}",
    "audit.requested": "asked for {obj}",
    "audit.finished": "finished {obj}",
    "audit.failed": "could not finish {obj}",
    "audit.reviewed": "reviewed {obj}: {decision}",
    "audit.review_requested": "asked for a review of {obj}",
    "audit.commented": "commented on {obj}",
    "mitigation.requested": "asked for a mitigation of a fairness audit",
    "mitigation.finished": "finished a mitigation of a fairness audit",
    "mitigation.failed": "could not finish a mitigation of a fairness audit",
    "exception.granted": "granted {obj}",
    "exception.reminded": "reminded the owner of {obj} that it expires",
    "exception.expired": "recorded that {obj} expired",
    "risk.created": "added {obj}",
    "risk.updated": "edited {obj}",
    "risk.starter_imported": "pulled in the starter list of risks",
    "pack.requested": "asked for {obj}",
    "pack.rendered": "rendered {obj}",
    "pack.failed": "could not render {obj}",
    "monitoring_report.requested": "asked for {obj}",
    "monitoring_report.rendered": "rendered {obj}",
    "monitoring_report.failed": "could not render {obj}",
    "deployment.created": "created {obj}",
    "deployment.points_dropped": "dropped the metric points of {obj} from {month} (past retention)",
    "plan.saved": "saved {obj}",
    "plan.signed": "signed deployment plan v{version} as {role} ({decision})",
    "plan.signoff_revoked": "revoked a sign-off of deployment plan v{version}",
    "rollout.started": "started {obj}",
    "rollout.promoted": "promoted {obj}",
    "rollout.promotion_refused": "was refused a promotion of {obj}",
    "rollout.finished": "finished {obj}",
    "rollout.rolled_back": "rolled back {obj}",
    "rollout.aborted": "aborted {obj}",
    "production_period.created": "recorded {obj}",
    "production_period.metrics_derived": "derived the metrics of {obj}",
    "production_period.failed": "could not judge {obj}",
    "label_batch.created": "uploaded {obj}",
    "label_batch.joined": "joined {obj} to production data",
    "label_batch.failed": "could not join {obj}",
    "drift_check.requested": "asked for {obj}",
    "drift_check.finished": "finished {obj}",
    "drift_check.failed": "could not finish {obj}",
    "alert.fired": "raised {obj}",
    "alert.acknowledged": "acknowledged {obj}",
    "alert.resolved": "resolved {obj}",
    "alert_webhook.created": "added {obj}",
    "monitoring_review.recorded": "recorded {obj}",
    "trail.checkpoint": "checkpointed the audit trail",
    # Flagger's webhooks, one verb per hook (deployments.services.release_tools.flagger).
    "flagger.confirm_rollout": "asked whether {obj} may start (Flagger)",
    "flagger.pre_rollout": "ran Flagger's pre-rollout check on {obj}",
    "flagger.rollout": "reported Flagger's rollout step of {obj}",
    "flagger.confirm_traffic_increase": "asked whether {obj} may take more traffic (Flagger)",
    "flagger.confirm_promotion": "asked whether {obj} may be promoted (Flagger)",
    "flagger.post_rollout": "reported the end of {obj} (Flagger)",
    "flagger.rollback": "asked whether {obj} must roll back (Flagger)",
    "flagger.event": "reported a Flagger event about {obj}",
}

#: An event's target model -> how it is named, and the page that shows it (by id), if any.
OBJECTS: dict[str, tuple[str, str | None]] = {
    "projects.dataset": ("dataset", "dataset-detail"),
    "projects.datasetversion": ("dataset version", "version-detail"),
    "projects.baseline": ("baseline", None),
    "projects.modelversion": ("model", "model-detail"),
    "projects.evaluation": ("evaluation", "evaluation-detail"),
    "projects.criteriaversion": ("success criteria version", "criteria-version"),
    "audits.baselinerun": ("baseline run", "baseline-run-detail"),
    "audits.auditconfig": ("audit configuration", None),
    "audits.auditrun": ("fairness audit", "audit-detail"),
    "audits.riskitem": ("risk", None),
    "audits.policyexception": ("exception", None),
    "audits.approvalpack": ("approval pack", "pack-detail"),
    "audits.monitoringreport": ("monitoring report", "monitoring-report"),
    "deployments.deployment": ("deployment", "deployment"),
    "deployments.deploymentplan": ("deployment plan", "deployment-plan"),
    "deployments.rollout": ("rollout", None),
    "deployments.productionperiod": ("production period", None),
    "deployments.labelbatch": ("label batch", None),
    "deployments.driftcheck": ("drift check", "drift-check"),
    "deployments.alert": ("alert", None),
    "deployments.alertwebhook": ("alert webhook", None),
    "deployments.monitoringreview": ("monitoring review", None),
}

#: The kinds of event a trail can be filtered by: the noun of their verbs.
KINDS: dict[str, str] = {
    "project": "Project and people",
    "dataset": "Data",
    "baseline": "Baselines",
    "model": "Models and evaluations",
    "criteria": "Success criteria",
    "audit": "Fairness audits",
    "risk": "Risks and exceptions",
    "pack": "Approval packs and reports",
    "deployment": "Deployments and rollouts",
    "monitoring": "Monitoring",
}
#: Each kind's verb nouns (the part before the dot).
KIND_NOUNS: dict[str, tuple[str, ...]] = {
    "project": ("project", "team", "membership", "token", "user", "export", "trail"),
    "dataset": ("dataset", "dataset_version"),
    "baseline": ("baseline", "baseline_run"),
    "model": ("model", "evaluation"),
    "criteria": ("criteria", "measurement"),
    "audit": ("audit_config", "audit", "mitigation"),
    "risk": ("risk", "exception"),
    "pack": ("pack", "monitoring_report"),
    "deployment": ("deployment", "plan", "rollout", "flagger"),
    "monitoring": (
        "production_period",
        "label_batch",
        "drift_check",
        "alert",
        "alert_webhook",
        "monitoring_review",
    ),
}


class _Blank(dict):
    """Payload fields for a sentence; one the event lacks reads as blank, never an error."""

    def __missing__(self, key: str) -> str:
        return ""


@dataclass(frozen=True)
class Sentence:
    """One event as the trail shows it: the text around the object, and the object."""

    seq: int
    created_at: datetime
    actor: str
    before: str
    obj: str
    url: str
    after: str
    reason: str


def _object(event: Event, project: Project) -> tuple[str, str]:
    if event.target_type == "projects.project":
        return project.name, project.get_absolute_url()
    noun, view = OBJECTS.get(event.target_type, (event.target_type.split(".")[-1], None))
    name = f"{noun} {event.target_id}"
    if event.target_type == "projects.modelversion" and event.payload.get("version"):
        name = f"model {event.payload.get('name', '')} {event.payload['version']}".replace(
            "  ", " "
        )
    if view is None:
        return name, ""
    try:
        return name, reverse(view, args=[event.target_id])
    except NoReverseMatch:
        return name, ""


def event_sentence(event: Event, project: Project) -> Sentence:
    """``event`` of ``project``'s trail in words. A verb this module does not know yet reads
    as the verb itself, so the trail never hides an event."""
    obj, url = _object(event, project)
    phrase = VERBS.get(event.verb, event.verb.replace("_", " ").replace(".", ": ") + " {obj}")
    fields = _Blank(
        {k: str(v).replace("_", " ") for k, v in event.payload.items() if not isinstance(v, dict)}
    )
    before, _, after = phrase.partition("{obj}")
    return Sentence(
        seq=event.seq,
        created_at=event.created_at,
        actor=event.actor_label,
        before=before.format_map(fields),
        obj=obj if "{obj}" in phrase else "",
        url=url if "{obj}" in phrase else "",
        after=after.format_map(fields),
        reason=str(event.payload.get("reason", "") or ""),
    )


#: Events shown at once; older ones are a page further (keyset on the sequence number).
PAGE = 50


class TrailFilterForm(forms.Form):
    """The trail's filters, as GET parameters of the project page."""

    kind = forms.ChoiceField(choices=[("", "Any kind"), *KINDS.items()], required=False)
    person = forms.ChoiceField(choices=[("", "Anyone")], required=False)
    since = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args, people: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["person"].choices = [("", "Anyone"), *((p, p) for p in people)]

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError("The first day comes after the last one.")
        return data


def trail_people(project: Project) -> list[str]:
    """Everyone who did something on the project's trail, to filter by."""
    return trail_actors(project)


def trail_filter(events: QuerySet[Event], data: dict) -> QuerySet[Event]:
    """``events`` narrowed by a valid :class:`TrailFilterForm`'s data."""
    if data.get("kind"):
        kind = Q()
        for noun in KIND_NOUNS[data["kind"]]:
            kind |= Q(verb__startswith=f"{noun}.")
        events = events.filter(kind)
    if data.get("person"):
        events = events.filter(actor__username=data["person"])
    if data.get("since"):
        events = events.filter(created_at__date__gte=data["since"])
    if data.get("until"):
        events = events.filter(created_at__date__lte=data["until"])
    if data.get("before"):
        events = events.filter(seq__lt=data["before"])
    return events
