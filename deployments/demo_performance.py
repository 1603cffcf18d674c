"""The demo's model scores and outcomes: a calibrated classifier whose rows grow harder to
tell apart as the month's drift sets in, so its estimated performance slides before the
labels confirm it.

Each row has a latent signal ``z``; the model scores it ``sigmoid(-1 + 4 z)`` and the
outcome is drawn with that probability, so the scores are calibrated. Drift narrows the
spread of ``z`` (more applicants near the decision line): the scores crowd the middle,
and the ROC AUC falls from about 0.95 to about 0.85 by the month's end.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from deployments.models import Deployment, LabelBatch, ProductionPeriod
from deployments.services.performance import label_batch_create, label_batch_run
from deployments.services.production import production_metrics_run, production_period_create
from projects.models import DatasetVersion

#: How much drift (0 to 1) narrows the latent signal's spread.
NARROWING = 0.55


def scored(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """Per row: the model's score, its prediction at 0.5, and the outcome drawn from it."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 1.0 - NARROWING * shift, rows)
    score = 1 / (1 + np.exp(-(-1.0 + 4.0 * z)))
    outcome = (rng.random(rows) < score).astype(int)
    return pd.DataFrame(
        {"score": score.round(6), "predicted": (score >= 0.5).astype(int), "outcome": outcome}
    )


def weekly_period(
    deployment: Deployment,
    version: DatasetVersion,
    *,
    start: datetime,
    end: datetime,
    engineer,
) -> ProductionPeriod:
    """A week of logged requests as a production period, its metrics and estimate derived
    here (not by a worker)."""
    period = production_period_create(
        actor=engineer,
        deployment=deployment,
        version=version,
        period_start=start,
        period_end=end,
        score_column="score",
        id_column="prediction_id",
    )
    production_metrics_run(period_id=period.pk)
    return period


def outcomes_arrive(deployment: Deployment, version: DatasetVersion, *, engineer) -> LabelBatch:
    """The outcomes of the weeks that have them, joined here (not by a worker)."""
    batch = label_batch_create(
        actor=engineer,
        deployment=deployment,
        version=version,
        id_column="prediction_id",
        label_column="picked",
    )
    label_batch_run(batch_id=batch.pk)
    return batch
