"""Signing any signed document in the web (criteria versions, deployment plans): the form
a sign-off page posts, read the same way for every kind."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest

from portal.inputs import check_posted_text
from portal.sudo import require_recent_password
from projects.analysis.signoffs import ROLE_LABELS
from projects.models.signing import Signature, SignedDocument
from projects.services.signoffs import signoff_record, signoff_revoke
from projects.signing import kind_of
from projects.templatetags.stagegate import DECIDED


def sign_posted(request: HttpRequest, document: SignedDocument) -> Signature:
    """Approve or reject ``document`` as the form says. A refusal (not current, signed
    already, not your role) answers its 4xx page: a signature must never look as if it
    went through."""
    check_posted_text(request.POST, max_lengths={"comment": 4000})
    require_recent_password(request)
    signoff = signoff_record(
        actor=request.user,
        document=document,
        role=request.POST.get("role", ""),
        decision=request.POST.get("decision", ""),
        comment=request.POST.get("comment", ""),
        evidence_sha256=request.POST.get("evidence_sha256", ""),
    )
    messages.success(
        request,
        f"You {DECIDED[signoff.decision]} {kind_of(document).name} v{document.version} as "
        f"{ROLE_LABELS[signoff.role]}.",
    )
    return signoff


def revoke_posted(request: HttpRequest, signoff: Signature) -> None:
    """Withdraw the user's own sign-off with the reason the form gives."""
    check_posted_text(request.POST, max_lengths={"reason": 500})
    signoff_revoke(actor=request.user, signoff=signoff, reason=request.POST.get("reason", ""))
    messages.success(request, "Your sign-off is revoked.")
