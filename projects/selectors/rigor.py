"""Evaluation rigor from the database: what the pure rules of projects.analysis.rigor need
about evaluations (their data, the model's training data, the lineage between them) and
about the candidate (its newest evaluation against the best baseline on the primary
metric, the first ML criterion of the current criteria version in written order)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from projects.analysis.criteria import metric_spec
from projects.analysis.metrics import METRIC_LABELS
from projects.analysis.rigor import (
    BaselineStanding,
    EvaluatedData,
    baseline_standing,
    primary_ml_criterion,
    training_overlap,
)
from projects.models import DatasetLineage, DatasetVersion, Evaluation, Project
from projects.selectors.criteria import (
    _best_baselines,
    candidate_model,
    criteria_current,
    newest_evaluation,
)

__all__ = [
    "LINEAGE_LEVELS",
    "candidate_baseline_standing",
    "candidate_evaluated_data",
    "evaluated_data",
    "evaluation_baseline_standing",
    "on_training_data",
    "version_ancestors",
]

log = logging.getLogger(__name__)

#: How many levels of lineage the ancestor walk follows (one query each). Versions are made
#: one upload at a time, each from versions that already exist, so real chains are a few
#: levels deep; the bound keeps a pathological chain from costing a query per version.
LINEAGE_LEVELS = 64


def version_ancestors(version_ids: Iterable[int]) -> dict[int, frozenset[int] | None]:
    """Every version each of ``version_ids`` is derived from, through any number of levels
    (up to :data:`LINEAGE_LEVELS`): one query per level for all of them together. None for
    a version whose lineage goes deeper than that: it cannot be told."""
    starts = set(version_ids)
    parents: dict[int, set[int]] = {}
    seen, frontier = set(starts), set(starts)
    for _ in range(LINEAGE_LEVELS):
        if not frontier:
            break
        found: set[int] = set()
        for child, parent in DatasetLineage.objects.filter(child__in=frontier).values_list(
            "child_id", "parent_id"
        ):
            parents.setdefault(child, set()).add(parent)
            found.add(parent)
        frontier = found - seen
        seen |= found
    if frontier:
        log.warning("Lineage walk stopped after %d levels at versions %s", LINEAGE_LEVELS, frontier)
    ancestors: dict[int, frozenset[int] | None] = {}
    for start in starts:
        reached: set[int] = set()
        stack = [start]
        while stack:
            for parent in parents.get(stack.pop(), ()):
                if parent not in reached:
                    reached.add(parent)
                    stack.append(parent)
        # Reaching a version whose parents were never read: the walk stopped short.
        ancestors[start] = None if reached & frontier else frozenset(reached)
    return ancestors


def evaluated_data(evaluations: Sequence[Evaluation]) -> dict[int, EvaluatedData]:
    """Per evaluation id, what the independence rule needs: the evaluated version and its
    dataset's purpose, the model's training data, and the evaluated version's ancestors.
    A fixed number of queries for any number of evaluations, plus one per lineage level."""
    if not evaluations:
        return {}
    training_ids = {e.model_version.training_data_id for e in evaluations} - {None}
    wanted = {e.dataset_version_id for e in evaluations} | training_ids
    versions = DatasetVersion.objects.filter(pk__in=wanted).select_related("dataset").in_bulk()
    # One walk for both directions: the evaluated versions' ancestors and the training data's.
    ancestors = version_ancestors({e.dataset_version_id for e in evaluations} | training_ids)
    found = {}
    for evaluation in evaluations:
        version = versions[evaluation.dataset_version_id]
        training = versions.get(evaluation.model_version.training_data_id)
        above = ancestors[version.pk]
        made_from = ancestors[training.pk] if training else frozenset()
        found[evaluation.pk] = EvaluatedData(
            evaluation_id=evaluation.pk,
            version_id=version.pk,
            version=str(version),
            purpose=version.dataset.purpose,
            training_id=training.pk if training else None,
            training=str(training) if training else "",
            ancestor_ids=above or frozenset(),
            training_ancestor_ids=made_from or frozenset(),
            lineage_complete=above is not None and made_from is not None,
        )
    return found


def on_training_data(evaluations: Sequence[Evaluation]) -> dict[int, str]:
    """Per evaluation id, why it is on training data, in plain words ("" when it is not)."""
    return {pk: training_overlap(data) for pk, data in evaluated_data(evaluations).items()}


def candidate_evaluated_data(project: Project) -> EvaluatedData | None:
    """The candidate's newest finished evaluation, as the gate judges it (None: none)."""
    evaluation = newest_evaluation(candidate_model(project))
    if evaluation is None:
        return None
    return evaluated_data([evaluation])[evaluation.pk]


def evaluation_baseline_standing(
    evaluation: Evaluation | None, project: Project
) -> BaselineStanding:
    """``evaluation``'s stored value of the primary metric beside the best baseline's (the
    same best baseline a criterion on the baseline source is measured against)."""
    version = criteria_current(project)
    criterion = primary_ml_criterion(version.criteria) if version is not None else None
    metric = criterion["metric"] if criterion else ""
    spec = metric_spec(metric, "ml") if metric else None
    best = _best_baselines(project).get(metric) if metric and evaluation is not None else None
    value = (evaluation.metrics or {}).get(metric) if metric and evaluation is not None else None
    return baseline_standing(
        evaluation_id=evaluation.pk if evaluation is not None else None,
        criteria_version=version.version if version is not None else None,
        metric=metric,
        label=(METRIC_LABELS.get(metric) or spec.label) if spec else "",
        higher_is_better=spec.higher_is_better if spec else None,
        value=value,
        baseline=best[1] if best else "",
        baseline_value=best[0] if best else None,
    )


def candidate_baseline_standing(project: Project) -> BaselineStanding:
    return evaluation_baseline_standing(newest_evaluation(candidate_model(project)), project)
