"""Gate rules of the projects app: pure functions from what a project holds to checks.

A gate is the list of checks each app contributes for the target stage (see
``projects/gates.py``); this module holds the checks projects owns (description, people,
data, baselines, criteria, reasons) and the shapes every app's rules share. No Django
import here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

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
    #: What the check is about, stable across wordings ("people.business_owner"), and the
    #: id of the object it names (an audit, a pack, a deployment) when there is one: the web
    #: layer turns them into the page where the check is fixed. Not part of a check's value.
    key: str = field(default="", compare=False)
    ref: int | None = field(default=None, compare=False)


def check_record(check: Check) -> dict[str, object]:
    """A check as it is kept on record (events, packs): what it said, not where it links."""
    return {"name": check.name, "passed": check.passed, "detail": check.detail}


@dataclass(frozen=True)
class GateResult:
    stage: str
    target: str
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)


@dataclass(frozen=True)
class CriteriaState:
    """The current success-criteria version, its sign-offs and how the candidate meets it."""

    version: int | None = None
    signed: bool = False
    #: Who approved, or what is still missing (projects.analysis.signoffs.summarise).
    signoff_detail: str = ""
    #: Each ML criterion of the version: (its text, met / not_met / not_measured, detail).
    ml: tuple[tuple[str, str, str], ...] = ()
    #: Unmet criteria a business owner accepted as an exception: text -> (last day, holds).
    excepted: Mapping[str, tuple[str, bool]] = field(default_factory=dict)


def criterion_key(metric: str, source: str) -> str:
    """How an exception names the criterion it excuses: metric and where it is measured."""
    return f"{metric}/{source}"


def next_stage(stage: str) -> str:
    """The stage a gate leads to when no target is named."""
    return NEXT_STAGE.get(stage, RETIRED)


def move_is_allowed(current: str, target: str) -> bool:
    return target in ALLOWED_MOVES.get(current, ())


def people_checks(business_owners: Sequence[str], ml_engineers: Sequence[str]) -> list[Check]:
    owners, engineers = set(business_owners), set(ml_engineers)
    # Sign-offs later need a business owner and a *different* ML engineer.
    distinct = bool(owners and engineers and (len(owners | engineers) >= 2))
    return [
        Check(
            "Business owner named",
            bool(owners),
            ", ".join(sorted(owners)) if owners else "No one holds the business owner role.",
            key="people.business_owner",
        ),
        Check(
            "ML engineer named",
            bool(engineers),
            ", ".join(sorted(engineers)) if engineers else "No one holds the ML engineer role.",
            key="people.ml_engineer",
        ),
        Check(
            "Owner and engineer are different people",
            distinct,
            "Two people can sign off." if distinct else "Sign-off needs two different people.",
            key="people.distinct",
        ),
    ]


def description_check(description: str) -> Check:
    text = description.strip()
    return Check(
        "Project described",
        len(text) >= 20,
        "Purpose is written down."
        if len(text) >= 20
        else "Write a description of at least 20 characters: what the model is for.",
        key="project.description",
    )


def datasets_check(labelled_datasets: Sequence[tuple[str, str]]) -> Check:
    """``labelled_datasets``: (name, labeling strategy) of each dataset with data that needs
    labels (training, validation, test); the strategy is blank while "not labelled"."""
    name = "Datasets registered with a labeling strategy"
    if not labelled_datasets:
        return Check(
            name,
            False,
            "Register the training, validation or test data first.",
            key="data.none",
        )
    missing = [n for n, strategy in labelled_datasets if not strategy]
    if missing:
        return Check(
            name,
            False,
            "Say how these are labelled: " + ", ".join(missing) + ".",
            key="data.labelling",
        )
    return Check(
        name,
        True,
        "; ".join(f"{n}: {strategy}" for n, strategy in labelled_datasets),
        key="data.labelling",
    )


def baseline_check(names: Sequence[str]) -> Check:
    """``names``: every baseline on record, entered or trained."""
    return Check(
        "A baseline on record",
        bool(names),
        ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        if names
        else "Record a baseline (human level, literature, previous system) or train one.",
        key="baseline.none",
    )


def criteria_checks(criteria: CriteriaState) -> list[Check]:
    """The current version signed off, and every ML criterion of it met by the candidate."""
    return [_criteria_signed(criteria), _ml_criteria_met(criteria)]


def _criteria_signed(criteria: CriteriaState) -> Check:
    name = "Success criteria signed off by a business owner and an ML engineer"
    if criteria.version is None:
        return Check(
            name, False, "Write the success criteria (start from a template).", key="criteria.none"
        )
    return Check(
        name,
        criteria.signed,
        f"v{criteria.version}: {criteria.signoff_detail}",
        key="criteria.signoffs",
    )


def _ml_criteria_met(criteria: CriteriaState) -> Check:
    name = "Every ML criterion met by the candidate"
    if criteria.version is None:
        return Check(name, False, "No success criteria yet.", key="criteria.none")
    if not criteria.ml:
        return Check(
            name,
            False,
            f"Criteria v{criteria.version} have no ML criterion.",
            key="criteria.ml_missing",
        )
    short, excused = [], []
    for text, status, detail in criteria.ml:
        if status == "met":
            continue
        until, holds = criteria.excepted.get(text, ("", False))
        if status == "not_met" and holds:
            excused.append(f"{text} accepted as an exception until {until}")
        elif status == "not_met" and until:
            short.append(f"{text}: {detail} (its exception expired on {until})")
        else:
            short.append(f"{text}: {detail}")
    if short:
        return Check(name, False, "; ".join(short), key="criteria.ml_unmet")
    if excused:
        met = len(criteria.ml) - len(excused)
        return Check(
            name,
            True,
            f"{met} of {len(criteria.ml)} ML criteria of v{criteria.version} met; "
            + "; ".join(excused)
            + ".",
            key="criteria.ml_unmet",
        )
    return Check(
        name,
        True,
        f"All {len(criteria.ml)} ML criteria of v{criteria.version} met.",
        key="criteria.ml_unmet",
    )


def reason_check(reason: str, why: str) -> Check:
    """A reason given for the move; ``why`` says what to write when there is none."""
    given = bool(reason.strip())
    return Check("Reason recorded", given, reason.strip() if given else why, key="move.reason")
