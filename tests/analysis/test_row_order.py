"""Lining a dataset version's rows up with predictions paired by row id. Pure tests: no
database, no Django."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from projects.analysis.pairing import check_row_ids, row_order


def test_it_puts_the_version_rows_in_the_predictions_order():
    rng = np.random.default_rng(5)
    known = np.array([f"c{i:04d}" for i in range(500)], dtype=object)
    labels = rng.integers(0, 2, 500)
    ids = known[rng.permutation(500)]
    assert check_row_ids(ids, known).pairs
    order = row_order(ids, known)
    # What a join on the id gives, row for row.
    joined = pd.DataFrame({"id": ids}).merge(pd.DataFrame({"id": known, "y": labels}), on="id")
    np.testing.assert_array_equal(labels[order], joined["y"].to_numpy())
    np.testing.assert_array_equal(known[order], ids)


def test_it_compares_ids_as_the_check_does():
    # Whole floats and integers are one id; so are numbers and their text.
    assert row_order(np.array([3.0, 1.0, 2.0]), np.array([1, 2, 3])).tolist() == [2, 0, 1]
    texts = np.array(["3", "1", "2"], dtype=object)
    assert row_order(texts, np.array([1, 2, 3])).tolist() == [2, 0, 1]


def test_it_refuses_ids_the_version_lacks():
    with pytest.raises(ValueError, match="1 row ids"):
        row_order(np.array(["a", "z"], dtype=object), np.array(["a", "b"], dtype=object))
