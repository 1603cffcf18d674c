"""The gate registry: each app contributes the checks it owns to the gate into a stage.

As Django's system checks are registered, an app registers its gate checks when it starts
(its ``AppConfig.ready`` imports the module that holds them), so projects builds a gate
without importing the apps that build on it. A check is
``fn(project, context) -> Iterable[Check]``, registered for one or more target stages at
an ``order``; the gate lists the checks of every registered function, by order::

    @gate_check(DEPLOYMENT, order=60)
    def candidate_audit_approved(project: Project, context: GateContext) -> list[Check]:
        return [audit_check(audit_gate_state(project))]

The orders in use are listed in docs/architecture.md; leave gaps so another app can slot
in between. The rules themselves stay pure, in each app's ``analysis/gates.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from django.core.exceptions import ImproperlyConfigured

from projects.analysis.gates import STAGES, Check

if TYPE_CHECKING:
    from projects.models import Project


@dataclass(frozen=True)
class GateContext:
    """What a check may need to know besides the project."""

    #: False leaves out the approval pack: the checklist a pack shows, and the state a pack
    #: is matched against.
    with_pack: bool = True
    #: Why the project moves (back to prototyping, or retired); blank when none is given.
    reason: str = ""


GateCheck = Callable[["Project", GateContext], Iterable[Check]]
BaselineSource = Callable[["Project"], Iterable[str]]
_Check = TypeVar("_Check", bound=GateCheck)
_Source = TypeVar("_Source", bound=BaselineSource)


@dataclass(frozen=True)
class _Registered:
    order: int
    fn: GateCheck


#: Target stage -> its registered checks, by order.
_checks: dict[str, tuple[_Registered, ...]] = {stage: () for stage in STAGES}
_baseline_sources: list[BaselineSource] = []


def _name(fn: Callable) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def gate_check(*targets: str, order: int) -> Callable[[_Check], _Check]:
    """Register ``fn(project, context) -> Iterable[Check]`` in the gate into each of
    ``targets`` at ``order``. Registering a function of the same name again replaces it (a
    module imported twice); two functions at one order in one gate are refused."""
    unknown = [target for target in targets if target not in STAGES]
    if not targets or unknown:
        raise ImproperlyConfigured(
            f"gate_check needs target stages among {', '.join(STAGES)}; got {targets!r}."
        )

    def register(fn: _Check) -> _Check:
        updated = {}
        for target in targets:
            kept = [r for r in _checks[target] if _name(r.fn) != _name(fn)]
            clash = next((r for r in kept if r.order == order), None)
            if clash is not None:
                raise ImproperlyConfigured(
                    f"{_name(clash.fn)} and {_name(fn)} both take order {order} in the gate "
                    f"into {target}; give one of them another order."
                )
            updated[target] = tuple(sorted([*kept, _Registered(order, fn)], key=lambda r: r.order))
        _checks.update(updated)
        return fn

    return register


def gate_checks(target: str) -> list[GateCheck]:
    """The functions registered for the gate into ``target``, by order."""
    if target not in _checks:
        raise ValueError(f"Unknown stage {target!r}; use one of {', '.join(STAGES)}.")
    return [registered.fn for registered in _checks[target]]


def gate_check_remove(fn: GateCheck) -> None:
    """Take ``fn`` out of every gate it was registered in (for tests)."""
    for target, registered in _checks.items():
        _checks[target] = tuple(r for r in registered if _name(r.fn) != _name(fn))


def baseline_source(fn: _Source) -> _Source:
    """Register ``fn(project) -> Iterable[str]``: names of baselines on record that another
    app keeps (audits: the trained baselines). Listed after the ones entered in projects."""
    _baseline_sources[:] = [s for s in _baseline_sources if _name(s) != _name(fn)] + [fn]
    return fn


def baseline_sources() -> list[BaselineSource]:
    return list(_baseline_sources)


#: ``fn(criteria_version) -> {criterion key: (last day, holds today)}``: the newest
#: exception under which a business owner accepted each unmet criterion (audits keeps them).
CriterionExceptions = Callable[[object], dict[str, tuple[str, bool]]]
_criterion_exception_sources: list[CriterionExceptions] = []


def criterion_exception_source(fn: CriterionExceptions) -> CriterionExceptions:
    """Register where exceptions to unmet criteria are kept."""
    _criterion_exception_sources[:] = [
        s for s in _criterion_exception_sources if _name(s) != _name(fn)
    ] + [fn]
    return fn


def criterion_exceptions(version) -> dict[str, tuple[str, bool]]:
    found: dict[str, tuple[str, bool]] = {}
    for source in _criterion_exception_sources:
        found.update(source(version))
    return found
