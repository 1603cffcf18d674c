"""Sign-offs: the evidence they bind to, whether they are still fresh, and who is asked."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from portal import access
from portal.once import computed_once, once
from projects import signing
from projects.analysis.criteria import content_sha256
from projects.analysis.signoffs import ROLE_LABELS, Summary, evidence_changes, summarise
from projects.analysis.signoffs import Signature as Signed
from projects.models import ApiToken, Project, SignOff
from projects.models.signing import Signature, SignedDocument
from projects.selectors.criteria import candidate_model, newest_evaluation
from projects.selectors.datasets import _visible
from projects.selectors.marks import kept_per_project


@once
def signoff_evidence(project: Project) -> dict:
    """What a sign-off is given: the candidate model, its newest evaluation, its audit and
    the dataset versions behind them, each with its hash (and what other apps add)."""
    model = candidate_model(project)
    evaluation = newest_evaluation(model)
    versions = []
    if evaluation is not None:
        dataset_version = evaluation.dataset_version
        versions = [dataset_version, *dataset_version.parents.select_related("dataset")]
    return {
        "model": {"id": model.pk, "name": str(model)} if model else None,
        "evaluation": {
            "id": evaluation.pk,
            "name": f"evaluation {evaluation.pk}",
            "sha256": evaluation.sha256,
        }
        if evaluation
        else None,
        **signing.evidence_parts(project),
        "datasets": [{"id": v.pk, "name": str(v), "sha256": v.sha256} for v in versions],
    }


def document_evidence(document: SignedDocument) -> dict:
    """The evidence of now for signing ``document``: the project's, and what its kind adds."""
    kind = signing.kind_of(document)
    # A copy: the project's evidence is shared by every caller within computed_once.
    evidence = dict(signoff_evidence(document.project))
    if kind.extra_evidence is not None:
        evidence.update(kind.extra_evidence(document.project))
    return evidence


def evidence_sha256(evidence: dict) -> str:
    """The hash a sign-off binds to: ids and content hashes, not display names (renaming a
    dataset changes no evidence)."""

    def bare(item):
        if isinstance(item, dict):
            return {k: bare(v) for k, v in item.items() if k != "name"}
        if isinstance(item, list):
            return [bare(v) for v in item]
        return item

    return content_sha256([bare(evidence)])


def signoff_staleness(
    signoff: Signature, current: SignedDocument | None, evidence_now: dict
) -> list[str]:
    """Why ``signoff`` no longer counts: its document moved on, or its evidence changed."""
    reasons = []
    document = signoff.document
    kind = signing.kind_of(document)
    if current is None or current.pk != document.pk:
        what = kind.changes(document, current) if current else ""
        reasons.append(
            f"{kind.name} changed: v{document.version} → v{current.version}"
            + (f" ({what})" if what else "")
            if current
            else f"{kind.name} withdrawn"
        )
    elif signoff.content_sha256 != document.content_sha256:
        reasons.append(f"the {kind.name} content no longer matches the signed hash")
    if signoff.evidence_sha256 != evidence_sha256(evidence_now):
        reasons += evidence_changes(signoff.evidence, evidence_now) or ["evidence changed"]
    signer = signoff.signed_by
    if not access.has_project_perm(signer, document.project, access.SIGN_AS[signoff.role]):
        reasons.append(f"{signer.username} no longer holds the {ROLE_LABELS[signoff.role]} role")
    return reasons


def signoff_rows(
    document: SignedDocument,
    current: SignedDocument | None = None,
    evidence_now: dict | None = None,
) -> list[dict]:
    """Every sign-off of ``document`` (revoked ones too), newest first, with why it is
    stale. ``current`` and ``evidence_now`` may be passed in when listing several versions."""
    current = current or signing.kind_of(document).current(document)
    evidence_now = evidence_now if evidence_now is not None else document_evidence(document)
    rows = []
    for signoff in document.signoffs.select_related("signed_by__profile", "revoked_by"):
        stale = [] if signoff.revoked_at else signoff_staleness(signoff, current, evidence_now)
        rows.append({"signoff": signoff, "stale": stale})
    return rows


def _summary(rows: list[dict]) -> Summary:
    return summarise(
        Signed(
            user=row["signoff"].signed_by.username,
            role=row["signoff"].role,
            decision=row["signoff"].decision,
            stale=tuple(row["stale"]),
            comment=row["signoff"].comment,
        )
        for row in rows
        if row["signoff"].revoked_at is None
    )


def signoff_summary(document: SignedDocument) -> Summary:
    """Whether ``document`` is agreed now (fresh approvals from both roles)."""
    return _summary(signoff_rows(document))


def signoff_roles(user, project: Project) -> list[str]:
    """The signing roles ``user`` holds on ``project``."""
    return [
        role
        for role, perm in access.SIGN_AS.items()
        if access.has_project_perm(user, project, perm)
    ]


@dataclass(frozen=True)
class SigningState:
    """Where one document in force stands: the roles still lacking a fresh approval, and
    who holds a standing sign-off on it, fresh or gone stale."""

    document: SignedDocument
    missing: tuple[str, ...]
    fresh: frozenset[int]
    stale: frozenset[int]


def signing_states(project: Project) -> list[SigningState]:
    """Every document in force on ``project``, with where its sign-offs stand."""
    states = []
    with computed_once():  # the documents share the project's evidence
        for kind in signing.kinds():
            for document in kind.in_force(project):
                rows = signoff_rows(document)
                standing = [row for row in rows if row["signoff"].revoked_at is None]
                states.append(
                    SigningState(
                        document=document,
                        missing=tuple(_summary(rows).missing),
                        fresh=frozenset(
                            r["signoff"].signed_by_id for r in standing if not r["stale"]
                        ),
                        stale=frozenset(r["signoff"].signed_by_id for r in standing if r["stale"]),
                    )
                )
    return states


def signoff_inbox(
    user, token: ApiToken | None = None, *, projects: Iterable[Project] | None = None
) -> list[dict]:
    """Documents in force waiting for ``user``'s sign-off, across their projects (or
    ``projects``, those they see, when already read): they hold a signing role and have no
    fresh sign-off on it. A fixed number of queries however many projects: the roles in
    one query each, the documents' state kept per project."""
    if projects is None:
        projects = access.projects_visible(user, token).select_related("team").order_by("name")
    projects = [p for p in projects if p.stage != Project.Stage.RETIRED]
    holding = {
        role: set(access.projects_with_perm(user, perm).values_list("pk", flat=True))
        for role, perm in access.SIGN_AS.items()
    }
    roles_of = {p.pk: [role for role in access.SIGN_AS if p.pk in holding[role]] for p in projects}
    signing_projects = [p for p in projects if roles_of[p.pk]]
    states = kept_per_project("signing", signing_projects, signing_states)
    waiting = []
    for project in signing_projects:
        roles = roles_of[project.pk]
        for state in states[project.pk]:
            if user.pk in state.fresh:
                continue
            mine_stale = user.pk in state.stale
            # Wanted: a role of theirs still lacks an approval, or their own signature
            # went stale.
            if mine_stale or any(role in state.missing for role in roles):
                waiting.append(
                    {
                        "project": project,
                        "kind": signing.kind_of(state.document),
                        "version": state.document,
                        "roles": roles,
                        "stale": mine_stale,
                    }
                )
    return waiting


def signoff_get(user, pk: int, token: ApiToken | None = None) -> SignOff:
    return _visible(
        SignOff.objects.select_related("criteria_version__project__team", "signed_by"),
        "criteria_version__project",
        user,
        pk,
        token,
        "sign-off",
    )
