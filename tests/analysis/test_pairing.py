"""Pairing predictions with dataset rows by row id. Pure tests: no database, no Django."""

from __future__ import annotations

import numpy as np

from projects.analysis.pairing import check_row_ids


def _ids(*values) -> np.ndarray:
    return np.array(values, dtype=object)


def test_it_pairs_the_same_ids_in_another_order():
    check = check_row_ids(_ids("c3", "c1", "c2"), _ids("c1", "c2", "c3"))
    assert check.pairs
    assert check.unknown == 0 and check.first_unknown == ()


def test_it_counts_ids_the_dataset_lacks_and_shows_the_first_in_file_order():
    ids = _ids("c1", "x9", "c3", "x1", "x2", "x3")
    check = check_row_ids(ids, _ids("c1", "c2", "c3", "c4", "c5", "c6"))
    assert not check.pairs
    assert (check.rows, check.unknown) == (6, 4)
    assert check.first_unknown == ("'x9'", "'x1'", "'x2'")


def test_it_reads_whole_floats_and_integers_as_one_id():
    # A missing value turns an integer column into floats on one side only.
    check = check_row_ids(np.array([3.0, 1.0, 2.0]), np.array([1, 2, 3]))
    assert check.pairs
    check = check_row_ids(np.array([1, 2, 4]), np.array([1.0, 2.0, np.nan]))
    assert check.first_unknown == ("4",) and check.known_missing == 1


def test_it_compares_numbers_with_text_as_text():
    check = check_row_ids(np.array([7, 8]), _ids("7", "008"))
    assert check.unknown == 1 and check.first_unknown == ("8",)


def test_it_counts_rows_without_an_id_and_ids_given_twice():
    check = check_row_ids(_ids("c1", None, "c1", "c2"), _ids("c1", "c2", "c3", "c4"))
    assert check.missing == 1
    assert check.first_repeated == "'c1'"
    assert check.unknown == 0


def test_it_counts_dataset_rows_that_share_an_id_without_showing_them():
    check = check_row_ids(_ids("a", "b", "c"), _ids("a", "b", "b"))
    assert check.known_repeated == 2
    assert check.unknown == 1 and check.first_unknown == ("'c'",)
