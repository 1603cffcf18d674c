"""NannyML's side of ``cbpe_nannyml.py``: run its CBPE on the benchmark's data.

Runs in NannyML's own virtual environment and imports nothing of the project::

    python benchmarks/cbpe_nannyml_runner.py DATA.npz --chunk-size 5000 --threshold 0.5

``DATA.npz`` holds ``reference_scores``, ``reference_labels`` and ``production_scores``
(all production chunks one after another). The predicted labels are the scores at or
above the threshold on both sides. CBPE is fitted on the reference with every binary
metric the project estimates and the given chunk size, then estimates the production
rows, whose chunks of that size are the benchmark's chunks. Prints one JSON object: per
chunk and metric the estimate, sampling error, confidence bounds, thresholds and alert,
and whether CBPE calibrated the scores.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import warnings

METRICS = ["roc_auc", "accuracy", "precision", "recall", "specificity", "f1"]
FIELDS = [
    "value",
    "sampling_error",
    "upper_confidence_boundary",
    "lower_confidence_boundary",
    "upper_threshold",
    "lower_threshold",
    "alert",
]


def plain(value):
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    value = float(value)
    return None if math.isnan(value) else value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("--chunk-size", type=int, required=True)
    parser.add_argument("--threshold", type=float, default=0.5)
    args = parser.parse_args()

    warnings.simplefilter("ignore")  # NannyML's warnings (pandas, single-class chunks)
    # NannyML sends usage statistics over the network unless this is set.
    os.environ["NML_DISABLE_USAGE_LOGGING"] = "1"
    import nannyml
    import numpy as np
    import pandas as pd

    data = np.load(args.data)

    def frame(scores, labels=None):
        columns = {"score": scores, "prediction": (scores >= args.threshold).astype(int)}
        if labels is not None:
            columns["label"] = labels.astype(int)
        return pd.DataFrame(columns)

    estimator = nannyml.CBPE(
        y_pred_proba="score",
        y_pred="prediction",
        y_true="label",
        problem_type="classification_binary",
        metrics=METRICS,
        chunk_size=args.chunk_size,
    )
    estimator.fit(frame(data["reference_scores"], data["reference_labels"]))
    result = estimator.estimate(frame(data["production_scores"])).filter(period="analysis")
    table = result.to_df()
    chunks = []
    for _, row in table.iterrows():
        chunks.append(
            {metric: {name: plain(row[(metric, name)]) for name in FIELDS} for metric in METRICS}
        )
    print(
        json.dumps(
            {
                "version": nannyml.__version__,
                "pandas": pd.__version__,
                "calibrated": bool(estimator.needs_calibration),
                "chunks": chunks,
            }
        )
    )


if __name__ == "__main__":
    main()
