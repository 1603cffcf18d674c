"""The decision memo that opens an approval pack, read from the pack's state: pure.

A model-risk committee reads the first pages only: what is asked of it, what the team
recommends, what the independent reviewer found, the evidence in one page with every
exception and its conditions, what the model is for and not for, and who signed. The
appendix after it is the evidence itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from projects.analysis.rigor import INDEPENDENCE

#: How stored decisions read in a sentence.
DECIDED = {"approve": "approved", "reject": "rejected", "request_changes": "changes requested"}
#: The roles that sign success criteria, as sign-off trails name them.
SIGNING_ROLES = ("Business owner", "ML engineer")
#: Risk bands, most severe first.
BANDS = ("critical", "high", "medium", "low")


def _who(people: Mapping[str, Mapping[str, str]], username: str | None) -> dict[str, str]:
    """Name, job title and username of a username in the state ("" for none)."""
    if not username:
        return {"name": "", "title": "", "username": ""}
    known = people.get(username) or {}
    return {
        "name": known.get("name") or username,
        "title": known.get("title") or "",
        "username": username,
    }


def _decision(state: Mapping[str, Any]) -> dict[str, Any]:
    candidate = state.get("candidate") or {}
    model = candidate.get("model") or {}
    evaluation = candidate.get("evaluation") or {}
    target = (state.get("gate") or {}).get("target", "")
    deployment = state.get("deployment")
    if deployment:
        # A go-live pack asks for the move into monitoring: the model goes live.
        target = (deployment.get("gate") or {}).get("target", target)
    return {
        "target": target,
        "model": f"{model.get('name', '')} {model.get('version', '')}".strip(),
        "evaluation": evaluation.get("id"),
        "dataset_version": evaluation.get("dataset_version", ""),
        "deployment": deployment.get("name") if deployment else "",
        "environment": deployment.get("environment") if deployment else "",
        "cycle": state.get("cycle", 1),
    }


def _current(trail: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [s for s in trail if not s.get("revoked_at") and not s.get("stale")]


def _recommendation(state: Mapping[str, Any], people) -> dict[str, Any]:
    """The team's recommendation: what its ML engineers signed on the criteria in force.
    All approve: approval; any reject: rejection; none signed: no recommendation."""
    signed = [s for s in _current(state.get("signoffs") or []) if s.get("role") == "ML engineer"]
    decisions = {s.get("decision") for s in signed}
    if not signed:
        outcome = "none"
    elif "reject" in decisions:
        outcome = "reject"
    else:
        outcome = "approve"
    return {
        "outcome": outcome,
        "by": [
            {**_who(people, s.get("user")), "comment": s.get("comment", ""), "at": s["signed_at"]}
            for s in signed
        ],
    }


def _opinion(state: Mapping[str, Any], people) -> dict[str, Any] | None:
    """The independent reviewer's opinion: the newest review of the candidate's audit."""
    audit = state.get("audit")
    if not audit:
        return None
    reviews = audit.get("reviews") or []
    review = reviews[-1] if reviews else None
    return {
        "audit": audit.get("id"),
        "verdict": audit.get("verdict"),
        "review": {
            **review,
            "who": _who(people, review.get("reviewer")),
            "decided": DECIDED.get(review.get("decision"), review.get("decision")),
        }
        if review
        else None,
    }


def _exceptions(state: Mapping[str, Any], people) -> list[dict[str, Any]]:
    """Every exception the decision rests on: the audit's, each unmet criterion's, each risk's."""
    subjects = [
        (f"Fairness audit {state['audit'].get('id')}", review.get("exception"))
        for review in (state.get("audit") or {}).get("reviews") or []
    ]
    subjects += [
        (f"Criterion {row.get('label')} {row.get('target')}", row.get("exception"))
        for row in (state.get("criteria") or {}).get("rows") or []
    ]
    subjects += [
        (f"Risk “{risk.get('title')}”", risk.get("exception")) for risk in state.get("risks") or []
    ]
    return [
        {"subject": subject, **exception, "owner_who": _who(people, exception.get("owner"))}
        for subject, exception in subjects
        if exception
    ]


def _summary(state: Mapping[str, Any]) -> dict[str, Any]:
    gate = state.get("gate") or {}
    checks = gate.get("checks") or []
    rows = (state.get("criteria") or {}).get("rows") or []
    statuses = Counter(r.get("status") for r in rows)
    risks = state.get("risks") or []
    bands = Counter(r.get("band") for r in risks)
    open_high = [
        r["title"]
        for r in risks
        if r.get("band") in ("critical", "high") and str(r.get("status")).lower() == "open"
    ]
    evaluation = (state.get("candidate") or {}).get("evaluation") or {}
    named = {c.get("name"): c for c in checks}
    return {
        "evaluation": evaluation,
        # Raised flags on the candidate's evaluation (the state holds them only when raised).
        "evaluation_flags": [
            *(
                [f"Evaluated on training data: {evaluation['on_training_data']}."]
                if evaluation.get("on_training_data")
                else []
            ),
            *([evaluation["below_baseline"]["detail"]] if evaluation.get("below_baseline") else []),
        ],
        # The gate's word on the evaluated data; states taken before the rule have none.
        "independence": named.get(INDEPENDENCE),
        "gate_passed": bool(gate.get("passed")),
        "checks_passed": sum(1 for c in checks if c.get("passed")),
        "checks": len(checks),
        "failing_checks": [c for c in checks if not c.get("passed")],
        "criteria": len(rows),
        "met": statuses.get("met", 0),
        "not_met": [r for r in rows if r.get("status") == "not_met"],
        "not_measured": statuses.get("not_measured", 0),
        "risks": len(risks),
        "bands": [(band, bands.get(band, 0)) for band in BANDS],
        "open_high_risks": open_high,
    }


def _signatures(state: Mapping[str, Any], people) -> list[dict[str, Any]]:
    """Everyone whose decision stands: criteria sign-offs in force, the audit's review, and
    the deployment plan's sign-offs, in that order."""
    rows = []
    criteria = _current(state.get("signoffs") or [])
    version = (state.get("criteria") or {}).get("version")
    for s in criteria:
        rows.append(
            {
                **_who(people, s.get("user")),
                "role": s.get("role"),
                "on": f"Success criteria v{s.get('version')}",
                "decision": DECIDED.get(s.get("decision"), s.get("decision")),
                "at": s.get("signed_at"),
            }
        )
    if version is not None:
        # The criteria need both roles: a role nobody signed for keeps an empty line.
        signed_roles = {s.get("role") for s in criteria}
        for role in SIGNING_ROLES:
            if role not in signed_roles:
                rows.append(
                    {
                        **_who(people, None),
                        "role": role,
                        "on": f"Success criteria v{version}",
                        "decision": "awaiting",
                        "at": None,
                    }
                )
    opinion = _opinion(state, people)
    if opinion and opinion["review"]:
        review = opinion["review"]
        rows.append(
            {
                **review["who"],
                "role": "Auditor (independent review)",
                "on": f"Fairness audit {opinion['audit']}",
                "decision": review["decided"]
                + (" as an exception" if review.get("exception") else ""),
                "at": review.get("at"),
            }
        )
    deployment = state.get("deployment") or {}
    for s in _current(deployment.get("signoffs") or []):
        rows.append(
            {
                **_who(people, s.get("user")),
                "role": s.get("role"),
                "on": f"Deployment plan v{s.get('version')}",
                "decision": DECIDED.get(s.get("decision"), s.get("decision")),
                "at": s.get("signed_at"),
            }
        )
    return rows


def decision_memo(state: Mapping[str, Any]) -> dict[str, Any]:
    """What the memo pages show, from a pack's state."""
    people = state.get("people") or {}
    project = state.get("project") or {}
    return {
        "decision": _decision(state),
        "recommendation": _recommendation(state, people),
        "opinion": _opinion(state, people),
        "exceptions": _exceptions(state, people),
        "summary": _summary(state),
        "use": {
            "intended": project.get("intended_use", ""),
            "out_of_scope": project.get("out_of_scope_use", ""),
            "limitations": project.get("limitations", ""),
        },
        "signatures": _signatures(state, people),
    }
