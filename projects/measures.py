"""Measurement sources: where a criterion's value comes from when another app measures it.

As gate checks are (projects/gates.py), an app registers its source when it starts, so
projects judges every criterion without importing the apps that build on it: audits
measures fairness gaps (``audit``), deployments the software metrics of the rollout
(``deployment``). A source is ``fn(project, criteria) -> list[Found]``, one per criterion
given, in order. Projects' own sources (evaluation, baseline, business) are read in
``projects/selectors/criteria.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from projects.analysis.criteria import Measurement

if TYPE_CHECKING:
    from projects.models import Project


@dataclass(frozen=True)
class Found:
    """A criterion's measurement and the URL of its evidence."""

    measurement: Measurement
    url: str = ""


MeasurementSource = Callable[["Project", list[dict]], list[Found]]
_Source = TypeVar("_Source", bound=MeasurementSource)
_sources: dict[str, MeasurementSource] = {}


def measurement_source(source: str) -> Callable[[_Source], _Source]:
    """Register ``fn(project, criteria) -> list[Found]`` as what measures the criteria whose
    source is ``source``; registering again replaces it (a module imported twice)."""

    def register(fn: _Source) -> _Source:
        _sources[source] = fn
        return fn

    return register


def measured(project: Project, source: str, criteria: list[dict]) -> list[Found] | None:
    """What the source registered for ``source`` finds for ``criteria``; None when no app
    measures that source."""
    fn = _sources.get(source)
    if fn is None:
        return None
    found = fn(project, criteria)
    if len(found) != len(criteria):
        raise ValueError(f"The {source} source answered {len(found)} of {len(criteria)} criteria.")
    return found
