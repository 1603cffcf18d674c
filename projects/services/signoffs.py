"""Dual sign-off of signed documents (criteria versions, deployment plans), and asking the
people whose sign-off is wanted."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from portal import access
from portal.exceptions import ApplicationError, Conflict, Forbidden
from portal.mail import mail_on_commit
from projects import selectors, signing
from projects.models import Project
from projects.models.signing import Signature, SignedDocument
from projects.services.events import event_record

if TYPE_CHECKING:
    from projects.models import ApiToken


def project_lock(project: Project) -> Project:
    """The project's row, locked and fresh: sign-offs, revocations, criteria edits and
    pack snapshots take this lock, so each sees the others' writes whole."""
    return (
        Project.objects.select_for_update(no_key=True, of=("self",))
        .select_related("team")
        .get(pk=project.pk)
    )


def signoff_record(
    *,
    actor,
    document: SignedDocument,
    role: str,
    decision: str,
    comment: str = "",
    evidence_sha256: str = "",
    token: ApiToken | None = None,
) -> Signature:
    """Sign ``document`` in ``role``: bound to its content hash and to the evidence of now.

    ``evidence_sha256``, when given, is the evidence the signer was shown; a sign-off on
    evidence that has since changed is refused rather than bound to something unseen."""
    kind = signing.kind_of(document)
    project = document.project
    if role not in access.SIGN_AS:
        raise ApplicationError(f"Sign as one of {', '.join(access.SIGN_AS)}.", code="invalid_role")
    if decision not in Signature.Decision.values:
        raise ApplicationError(
            f"Decide one of {', '.join(Signature.Decision.values)}.", code="invalid_decision"
        )
    comment = (comment or "").strip()
    if decision == Signature.Decision.REJECT and not comment:
        raise ApplicationError(f"Say why you reject {kind.these}.", code="comment_missing")
    if token is not None:
        raise Forbidden(
            "A sign-off is a person's own act: sign in the web, not with a token.",
            code="token_not_allowed",
        )
    if not access.has_project_perm(actor, project, access.SIGN_AS[role]):
        raise Forbidden(
            f"You do not hold the {Signature.Role(role).label.lower()} role on this project."
        )
    with transaction.atomic():
        project = project_lock(project)
        current = kind.current(document)
        if current is None or current.pk != document.pk:
            raise Conflict(
                f"{kind.title(document)} {kind.verb} no longer current; read and sign "
                f"v{current.version if current else '?'}.",
                code="not_current",
            )
        evidence = selectors.document_evidence(document)
        digest = selectors.evidence_sha256(evidence)
        if evidence_sha256 and evidence_sha256 != digest:
            raise Conflict(
                "The candidate model or its evidence changed since you looked; read it again "
                "before you sign.",
                code="evidence_changed",
            )
        refusal = kind.refusal(document, evidence) if kind.refusal else None
        if refusal is not None and decision == Signature.Decision.APPROVE:
            raise Conflict(refusal[1], code=refusal[0])
        mine = document.signoffs.filter(signed_by=actor, revoked_at__isnull=True).first()
        if mine is not None and mine.evidence_sha256 == digest:
            raise Conflict(
                f"You signed v{document.version} already ({mine.get_decision_display().lower()} "
                f"as {mine.get_role_display().lower()}); revoke that sign-off to change it.",
                code="signed_already",
            )
        if mine is not None:
            # Signed on evidence that has since been replaced: the new signature takes over.
            _revoke(mine, actor, "Signed again on new evidence.", token)
        try:
            with transaction.atomic():
                signoff = kind.signature_model.objects.create(
                    **{kind.signature_model.document_field: document},
                    role=role,
                    decision=decision,
                    comment=comment,
                    content_sha256=document.content_sha256,
                    evidence=evidence,
                    evidence_sha256=digest,
                    signed_by=actor,
                )
        except IntegrityError:  # the same person signing twice at the same moment
            raise Conflict(
                f"You signed v{document.version} already.", code="signed_already"
            ) from None
        event_record(
            actor=actor,
            verb=f"{kind.key}.signed",
            target=signoff,
            project=project,
            token=token,
            payload={
                "version": document.version,
                "role": role,
                "decision": decision,
                "comment": comment,
                "content_sha256": document.content_sha256,
                "evidence_sha256": digest,
                "evidence": evidence,
            },
        )
        return signoff


def _revoke(signoff: Signature, actor, reason: str, token: ApiToken | None) -> None:
    signoff.revoked_at = timezone.now()
    signoff.revoked_by = actor
    signoff.revoke_reason = reason[:500]
    signoff.save(update_fields=["revoked_at", "revoked_by", "revoke_reason"])
    document = signoff.document
    event_record(
        actor=actor,
        verb=f"{signing.kind_of(document).key}.signoff_revoked",
        target=signoff,
        project=document.project,
        token=token,
        payload={
            "version": document.version,
            "role": signoff.role,
            "decision": signoff.decision,
            "reason": signoff.revoke_reason,
        },
    )


def signoff_revoke(
    *, actor, signoff: Signature, reason: str = "", token: ApiToken | None = None
) -> Signature:
    """Withdraw one's own sign-off; it stays on the record as revoked."""
    if token is not None:
        raise Forbidden(
            "A sign-off is revoked by the person who signed, not through a token.",
            code="token_not_allowed",
        )
    if signoff.signed_by_id != actor.pk:
        raise Forbidden("Only the person who signed can revoke a sign-off.")
    with transaction.atomic():
        project_lock(signoff.project)
        signoff = type(signoff).objects.get(pk=signoff.pk)
        if signoff.revoked_at is not None:
            raise Conflict("This sign-off is revoked already.", code="revoked_already")
        _revoke(signoff, actor, (reason or "").strip() or "Revoked by the signer.", token)
        return signoff


def signoff_people(project: Project) -> list:
    """Everyone who may sign the project's criteria, in either role."""
    people = {
        user.pk: user
        for perm in access.SIGN_AS.values()
        for user in access.users_with_project_perm(project, perm)
    }
    return sorted(people.values(), key=lambda u: u.username)


def signoff_request_notify(document: SignedDocument) -> list[str]:
    """Email everyone who may sign ``document`` (after the saving transaction commits);
    returns their usernames."""
    kind = signing.kind_of(document)
    project = document.project
    people = [u for u in signoff_people(project) if u.pk != document.created_by_id]
    link = settings.SITE_URL.rstrip("/") + document.get_absolute_url()
    waits = "wait" if kind.plural else "waits"
    subject = (
        f"[Stagegate] {project.name}: {kind.heading} v{document.version} {waits} for your sign-off"
    )
    author = selectors.person_label(document.created_by) if document.created_by else "Someone"
    body = (
        f"{author} saved version {document.version} of the {kind.heading} of {project.name}.\n\n"
        f"{document.note}\n\nRead it, the candidate's evidence and sign off:\n{link}\n"
    )
    mail_on_commit(subject, body, people, about=document)
    return [u.username for u in people]
