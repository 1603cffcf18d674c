"""The shapes of the JSON that evaluations, dataset versions and events store, for the API
schema. These only describe; the API passes the stored JSON through unchanged."""

from __future__ import annotations

from rest_framework import serializers

#: ``projects.analysis.metrics.compute_metrics``: a value per metric, None where undefined.
METRICS = serializers.DictField(
    child=serializers.FloatField(allow_null=True),
    help_text="metric -> value; null where the metric is undefined (ROC AUC without scores). "
    "Classification: accuracy, balanced_accuracy, precision, recall, f1, roc_auc, log_loss; "
    "regression: mae, rmse, r2. Empty until the evaluation has succeeded.",
)
#: A JSON object whose keys vary.
OBJECT = {"type": "object", "additionalProperties": {}}


class EvaluationMappingSerializer(serializers.Serializer):
    """Which column of the predictions holds what; ``label_column`` instead of ``y_true``
    when the true value is the dataset version's own."""

    y_true = serializers.CharField(
        required=False, help_text="Absent when the true value is the dataset version's."
    )
    label_column = serializers.CharField(
        required=False,
        help_text="The dataset version's label column that holds the true value, when the "
        "predictions map no y_true.",
    )
    y_pred = serializers.CharField()
    y_score = serializers.CharField(required=False)
    row_id = serializers.CharField(required=False)
    sensitive = serializers.ListField(child=serializers.CharField())


class ColumnSerializer(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.CharField()
    dtype = serializers.CharField()
