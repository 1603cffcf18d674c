"""Gate rules: one pure function from a snapshot of a project to its checklist.

The web checklist, the API gate endpoint and the transition guard all call
:func:`evaluate_gate`, so they cannot disagree. No Django import here.
"""

from __future__ import annotations

from dataclasses import dataclass

PROTOTYPING = "prototyping"
DEPLOYMENT = "deployment"
MONITORING = "monitoring"
RETIRED = "retired"
STAGES = (PROTOTYPING, DEPLOYMENT, MONITORING, RETIRED)

#: The stage each stage leads to when its gate passes.
NEXT_STAGE = {PROTOTYPING: DEPLOYMENT, DEPLOYMENT: MONITORING, MONITORING: PROTOTYPING}
#: Every move the lifecycle allows; anything else is refused outright.
ALLOWED_MOVES = {
    PROTOTYPING: (DEPLOYMENT, RETIRED),
    DEPLOYMENT: (MONITORING, PROTOTYPING, RETIRED),
    MONITORING: (PROTOTYPING, RETIRED),
    RETIRED: (),
}


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class AuditState:
    """The fairness audit of the candidate model (the version the team marked)."""

    candidate: str = ""  # blank: no model is marked as the candidate
    #: not_evaluated / not_run / queued / running / failed / tampered / waiting / approve /
    #: request_changes / reject
    status: str = "not_run"
    audit_id: int | None = None
    verdict: str = ""  # the audit's own pass / fail / insufficient_evidence / reported
    reviewer: str = ""
    detail: str = ""  # the review's rationale, or what would be audited


@dataclass(frozen=True)
class CriteriaState:
    """The current success-criteria version, its sign-offs and how the candidate meets it."""

    version: int | None = None
    signed: bool = False
    #: Who approved, or what is still missing (projects.analysis.signoffs.summarise).
    signoff_detail: str = ""
    #: Each ML criterion of the version: (its text, met / not_met / not_measured, detail).
    ml: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True)
class PackState:
    """The newest approval pack, and whether it was rendered from the project as it is now."""

    #: none / queued / running / failed / stale / current
    status: str = "none"
    pack_id: int | None = None


@dataclass(frozen=True)
class ProjectState:
    """What the gates need to know about a project, gathered by a selector."""

    stage: str
    description: str
    business_owners: tuple[str, ...] = ()
    ml_engineers: tuple[str, ...] = ()
    #: Titles of open risks at or above ``risk_threshold`` in severity (1-25).
    severe_open_risks: tuple[str, ...] = ()
    risk_threshold: int = 15
    audit: AuditState = AuditState()
    criteria: CriteriaState = CriteriaState()
    #: Names of baselines on record (entered or trained).
    baselines: tuple[str, ...] = ()
    #: Datasets with data that needs labels (training, validation, test): (name, labeling
    #: strategy); the strategy is blank when it is still "not labelled".
    labelled_datasets: tuple[tuple[str, str], ...] = ()
    #: None: the pack is not part of this checklist (the checklist a pack itself shows).
    pack: PackState | None = None


@dataclass(frozen=True)
class GateResult:
    stage: str
    target: str
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)


def _accountable_people(state: ProjectState) -> list[Check]:
    owners, engineers = set(state.business_owners), set(state.ml_engineers)
    # Sign-offs later need a business owner and a *different* ML engineer.
    distinct = bool(owners and engineers and (len(owners | engineers) >= 2))
    return [
        Check(
            "Business owner named",
            bool(owners),
            ", ".join(sorted(owners)) if owners else "No one holds the business owner role.",
        ),
        Check(
            "ML engineer named",
            bool(engineers),
            ", ".join(sorted(engineers)) if engineers else "No one holds the ML engineer role.",
        ),
        Check(
            "Owner and engineer are different people",
            distinct,
            "Two people can sign off." if distinct else "Sign-off needs two different people.",
        ),
    ]


def _described(state: ProjectState) -> Check:
    text = state.description.strip()
    return Check(
        "Project described",
        len(text) >= 20,
        "Purpose is written down."
        if len(text) >= 20
        else "Write a description of at least 20 characters: what the model is for.",
    )


def _risks_handled(state: ProjectState) -> Check:
    open_ = state.severe_open_risks
    return Check(
        f"No open risk of severity {state.risk_threshold} or more",
        not open_,
        "Mitigate or accept (with a rationale): " + "; ".join(open_)
        if open_
        else "Every severe risk is mitigated or accepted.",
    )


AUDIT_WAITING = {
    "not_evaluated": "Evaluate {candidate}, the candidate model, then audit it.",
    "not_run": "Run a fairness audit of {candidate} ({detail}).",
    "tampered": "Audit {audit} of {candidate} no longer matches its hash; run it again.",
    "queued": "Audit {audit} of {candidate} is queued.",
    "running": "Audit {audit} of {candidate} is running.",
    "failed": "Audit {audit} of {candidate} failed; fix its input and run it again.",
    "waiting": "Audit {audit} of {candidate} ({verdict}) waits for an auditor's review.",
    "request_changes": "{reviewer} asked for changes to audit {audit}: {detail}",
    "reject": "{reviewer} rejected audit {audit}: {detail}",
}


def _audit_approved(state: ProjectState) -> Check:
    audit = state.audit
    name = "Fairness audit of the candidate model approved"
    if not audit.candidate:
        return Check(
            name, False, "Mark a model version as the candidate; its audit is what gets approved."
        )
    if audit.status == "approve":
        return Check(
            name, True, f"Audit {audit.audit_id} of {audit.candidate} approved by {audit.reviewer}."
        )
    template = AUDIT_WAITING.get(audit.status, "Audit {audit} of {candidate} is {status}.")
    return Check(
        name,
        False,
        template.format(
            candidate=audit.candidate,
            audit=audit.audit_id,
            status=audit.status,
            verdict=audit.verdict.replace("_", " "),
            reviewer=audit.reviewer,
            detail=audit.detail,
        ),
    )


def _datasets_labelled(state: ProjectState) -> Check:
    name = "Datasets registered with a labeling strategy"
    if not state.labelled_datasets:
        return Check(name, False, "Register the training, validation or test data first.")
    missing = [n for n, strategy in state.labelled_datasets if not strategy]
    if missing:
        return Check(name, False, "Say how these are labelled: " + ", ".join(missing) + ".")
    return Check(
        name, True, "; ".join(f"{n}: {strategy}" for n, strategy in state.labelled_datasets)
    )


def _baseline_on_record(state: ProjectState) -> Check:
    names = state.baselines
    return Check(
        "A baseline on record",
        bool(names),
        ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        if names
        else "Record a baseline (human level, literature, previous system) or train one.",
    )


def _criteria_signed(state: ProjectState) -> Check:
    criteria = state.criteria
    name = "Success criteria signed off by a business owner and an ML engineer"
    if criteria.version is None:
        return Check(name, False, "Write the success criteria (start from a template).")
    return Check(name, criteria.signed, f"v{criteria.version}: {criteria.signoff_detail}")


def _ml_criteria_met(state: ProjectState) -> Check:
    criteria = state.criteria
    name = "Every ML criterion met by the candidate"
    if criteria.version is None:
        return Check(name, False, "No success criteria yet.")
    if not criteria.ml:
        return Check(name, False, f"Criteria v{criteria.version} have no ML criterion.")
    short = [f"{text}: {detail}" for text, status, detail in criteria.ml if status != "met"]
    if short:
        return Check(name, False, "; ".join(short))
    return Check(name, True, f"All {len(criteria.ml)} ML criteria of v{criteria.version} met.")


PACK_WAITING = {
    "none": "Render the approval pack once everything else is in place.",
    "queued": "Pack {pack} is queued.",
    "running": "Pack {pack} is rendering.",
    "failed": "Pack {pack} failed; render it again.",
    "stale": "Pack {pack} was rendered before the last change; render it again.",
}


def _pack_current(pack: PackState) -> Check:
    name = "Approval pack rendered for exactly this state"
    if pack.status == "current":
        return Check(name, True, f"Pack {pack.pack_id}.")
    template = PACK_WAITING.get(pack.status, "Pack {pack} is {status}.")
    return Check(name, False, template.format(pack=pack.pack_id, status=pack.status))


def _reason(reason: str, why: str) -> Check:
    given = bool(reason.strip())
    return Check("Reason recorded", given, reason.strip() if given else why)


def evaluate_gate(state: ProjectState, target: str | None = None, reason: str = "") -> GateResult:
    """The checklist for moving ``state`` to ``target`` (default: the next stage)."""
    target = target or NEXT_STAGE.get(state.stage, RETIRED)
    if target == DEPLOYMENT:
        checks = [
            _described(state),
            *_accountable_people(state),
            _datasets_labelled(state),
            _baseline_on_record(state),
            _risks_handled(state),
            _audit_approved(state),
            _criteria_signed(state),
            _ml_criteria_met(state),
        ]
        if state.pack is not None:
            checks.append(_pack_current(state.pack))
    elif target == MONITORING:
        checks = _accountable_people(state)
    elif target == PROTOTYPING:
        checks = [_reason(reason, "Say why the project goes back to prototyping.")]
    else:
        checks = [_reason(reason, "Say why the project is retired.")]
    return GateResult(stage=state.stage, target=target, checks=tuple(checks))


def move_is_allowed(current: str, target: str) -> bool:
    return target in ALLOWED_MOVES.get(current, ())
