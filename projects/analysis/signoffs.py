"""Dual sign-off of success criteria: when a version counts as agreed, and what went stale.

Plain data, no Django. A sign-off binds to a criteria version's content hash and to the
evidence the signer was shown (the candidate model, its evaluation, its audit and the
dataset versions behind them). :func:`evidence_changes` says what moved since, and
:func:`summarise` decides whether the current version is signed by both roles.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from projects.analysis.criteria_templates import template_rationales

BUSINESS_OWNER, ML_ENGINEER = "business_owner", "ml_engineer"
ROLES = (BUSINESS_OWNER, ML_ENGINEER)
ROLE_LABELS = {BUSINESS_OWNER: "business owner", ML_ENGINEER: "ML engineer"}
ARTICLE = {BUSINESS_OWNER: "a", ML_ENGINEER: "an"}
APPROVE, REJECT = "approve", "reject"
DECISIONS = (APPROVE, REJECT)


@dataclass(frozen=True)
class Signature:
    """One active (not revoked) sign-off, as the rules see it."""

    user: str
    role: str
    decision: str
    #: Why it no longer counts (the criteria or the evidence changed); empty when fresh.
    stale: tuple[str, ...] = ()
    comment: str = ""

    @property
    def fresh(self) -> bool:
        return not self.stale


@dataclass(frozen=True)
class Summary:
    passed: bool
    detail: str
    #: Roles that still need a fresh approval.
    missing: tuple[str, ...] = ()


def _item(evidence: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = evidence.get(key)
    return value if isinstance(value, Mapping) else None


def _describe(item: Mapping[str, Any] | None, what: str) -> str:
    if item is None:
        return f"no {what}"
    return str(item.get("name") or f"{what} {item.get('id')}")


def evidence_changes(signed: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """What differs between the evidence a sign-off was given and today's, in sentences."""
    changes = []
    for key, what, digest in (
        ("model", "candidate model", "id"),
        ("evaluation", "evaluation", "sha256"),
        ("audit", "audit", "result_sha256"),
        ("criteria", "success criteria", "content_sha256"),
    ):
        old, new = _item(signed, key), _item(current, key)
        same = (old is None and new is None) or (
            old is not None
            and new is not None
            and old.get("id") == new.get("id")
            and old.get(digest) == new.get(digest)
        )
        if not same:
            changes.append(f"{what}: {_describe(old, what)} → {_describe(new, what)}")
    old_sets = {d.get("id"): d.get("sha256") for d in signed.get("datasets", [])}
    new_sets = {d.get("id"): d.get("sha256") for d in current.get("datasets", [])}
    if old_sets != new_sets:
        names = {d.get("id"): _describe(d, "dataset version") for d in current.get("datasets", [])}
        names.update(
            {d.get("id"): _describe(d, "dataset version") for d in signed.get("datasets", [])}
        )
        moved = sorted(names[i] for i in set(old_sets) ^ set(new_sets))
        moved += sorted(
            names[i] for i in set(old_sets) & set(new_sets) if old_sets[i] != new_sets[i]
        )
        changes.append("dataset versions: " + ", ".join(moved))
    return changes


def summarise(signatures: Iterable[Signature]) -> Summary:
    """Whether the current version is agreed: a fresh approval from a business owner and
    one from an ML engineer who is someone else, and no fresh rejection."""
    fresh = [s for s in signatures if s.fresh]
    rejections = [s for s in fresh if s.decision == REJECT]
    if rejections:
        who = "; ".join(
            f"{s.user} ({ROLE_LABELS.get(s.role, s.role)}) rejected: {s.comment}"
            for s in rejections
        )
        return Summary(False, who, tuple(ROLES))
    approvals = {
        role: [s.user for s in fresh if s.role == role and s.decision == APPROVE] for role in ROLES
    }
    # Two different people; so the author, whichever role they signed in, is never the
    # only approver.
    pairs = [
        (owner, engineer)
        for owner in approvals[BUSINESS_OWNER]
        for engineer in approvals[ML_ENGINEER]
        if owner != engineer
    ]
    if pairs:
        owner, engineer = pairs[0]
        return Summary(True, f"Approved by {owner} (business owner) and {engineer} (ML engineer).")
    missing = tuple(role for role in ROLES if not approvals[role])
    if missing:
        wanted = " and ".join(f"{ARTICLE[r]} {ROLE_LABELS[r]}" for r in missing)
        have = [f"{s.user} ({ROLE_LABELS.get(s.role, s.role)})" for s in fresh]
        return Summary(
            False,
            f"Waiting for {wanted} to approve"
            + (f"; approved so far by {', '.join(have)}." if have else "."),
            missing,
        )
    return Summary(
        False,
        "The business owner's and the ML engineer's approvals must come from two different people.",
        tuple(ROLES),
    )


#: Criteria sources measured from the candidate's evidence: the key it needs, and what
#: that evidence is called.
EVIDENCE_OF_SOURCE = {
    "evaluation": ("evaluation", "a finished evaluation of the candidate model"),
    "baseline": ("evaluation", "a finished evaluation of the candidate model"),
    "audit": ("audit", "a finished fairness audit of the candidate"),
}


def criteria_refusal(
    criteria: Iterable[Mapping[str, Any]], evidence: Mapping[str, Any]
) -> tuple[str, str] | None:
    """Why an approval of ``criteria`` must wait, as (code, sentence), or None: ML criteria
    that no evidence measures (no candidate evaluation, or no audit for an audit
    criterion), or rationales still in a template's words."""
    criteria = list(criteria)
    lacking: dict[str, list[str]] = {}
    for criterion in criteria:
        needed = EVIDENCE_OF_SOURCE.get(criterion.get("source", ""))
        if needed is not None and not evidence.get(needed[0]):
            lacking.setdefault(needed[1], []).append(str(criterion.get("metric")))
    if lacking:
        parts = [f"{', '.join(metrics)} need {what}" for what, metrics in lacking.items()]
        return (
            "no_evidence",
            "These criteria cannot be approved on no evidence: "
            + "; ".join(parts)
            + ". Mark a candidate model and evaluate it first, or reject with a comment.",
        )
    adopted = template_rationales(criteria)
    if adopted:
        return (
            "placeholder_rationale",
            "The reasons for " + ", ".join(adopted) + " are still the template's words; "
            "write why each target suits this project before anyone approves.",
        )
    return None
