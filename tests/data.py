"""Small generated data files for tests: a credit-like table and predictions for it."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from sklearn import metrics as skm


def sample_frame(rows: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    income = rng.normal(50_000, 12_000, rows).round(2)
    age = rng.integers(18, 80, rows)
    region = rng.choice(["north", "south", "east", "west"], rows)
    sex = rng.choice(["F", "M"], rows)
    risk = 1 / (1 + np.exp((income - 50_000) / 8_000))
    label = (rng.random(rows) < risk).astype(int)
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i:05d}" for i in range(rows)],
            "email": [f"person{i}@example.org" for i in range(rows)],
            "income": income,
            "age": age,
            "region": region,
            "sex": sex,
            "defaulted": label,
        }
    )
    frame.loc[rng.choice(rows, rows // 20, replace=False), "income"] = np.nan
    return frame


def sample_csv(rows: int = 120, seed: int = 0) -> bytes:
    return sample_frame(rows, seed).to_csv(index=False).encode()


def predictions_csv(frame: pd.DataFrame, seed: int = 1, flip: float = 0.15) -> bytes:
    """Predictions for ``frame``'s rows: the label, flipped for a share of rows, with scores."""
    rng = np.random.default_rng(seed)
    truth = frame["defaulted"].to_numpy()
    flipped = rng.random(len(truth)) < flip
    pred = np.where(flipped, 1 - truth, truth)
    score = np.clip(np.where(pred == 1, 0.7, 0.3) + rng.normal(0, 0.15, len(truth)), 0.01, 0.99)
    out = pd.DataFrame(
        {
            "customer_id": frame["customer_id"],
            "label": truth,
            "prediction": pred,
            "score": score.round(6),
            "sex": frame["sex"],
        }
    )
    buffer = io.StringIO()
    out.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def sklearn_binary_metrics(y, predicted, scores) -> dict[str, float]:
    """What scikit-learn says of a binary classifier's predictions and scores: the figures
    an evaluation's metrics must equal."""
    return {
        "accuracy": skm.accuracy_score(y, predicted),
        "balanced_accuracy": skm.balanced_accuracy_score(y, predicted),
        "precision": skm.precision_score(y, predicted, zero_division=0),
        "recall": skm.recall_score(y, predicted),
        "f1": skm.f1_score(y, predicted),
        "roc_auc": skm.roc_auc_score(y, scores),
        "log_loss": skm.log_loss(y, scores),
    }
