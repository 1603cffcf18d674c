"""Grounds to reopen: what says a project in production should go back to prototyping.

As gate checks are (projects/gates.py), an app that watches production registers a source
of grounds when it starts (deployments: the current cycle's drift verdict and its open
alerts), so the project page proposes the next cycle without importing that app. A source
is ``fn(project) -> Iterable[str]``, each string one finding, written as a sentence that
can stand in the reason for going back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from projects.analysis.gates import PROTOTYPING, move_is_allowed

if TYPE_CHECKING:
    from projects.models import Project

GroundsSource = Callable[["Project"], Iterable[str]]
_Source = TypeVar("_Source", bound=GroundsSource)
_sources: list[GroundsSource] = []


def _name(fn: Callable) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def reopen_grounds_source(fn: _Source) -> _Source:
    """Register ``fn(project) -> Iterable[str]``; registering again replaces it (a module
    imported twice)."""
    _sources[:] = [s for s in _sources if _name(s) != _name(fn)] + [fn]
    return fn


def reopen_grounds_source_remove(fn: GroundsSource) -> None:
    """Take ``fn`` out of the registry (for tests)."""
    _sources[:] = [s for s in _sources if _name(s) != _name(fn)]


@dataclass(frozen=True)
class ReopenProposal:
    """Start ``next_cycle`` (back to prototyping), for the ``grounds`` found."""

    next_cycle: int
    grounds: tuple[str, ...]

    @property
    def reason(self) -> str:
        """The reason the transition form is prefilled with."""
        return f"Start cycle {self.next_cycle}: " + " ".join(self.grounds)


def reopen_proposal(project: Project) -> ReopenProposal | None:
    """A proposal to go back to prototyping when a registered source finds grounds and the
    project may move there; None otherwise."""
    if not move_is_allowed(project.stage, PROTOTYPING):
        return None
    grounds = tuple(ground for source in _sources for ground in source(project))
    return ReopenProposal(project.cycle + 1, grounds) if grounds else None
