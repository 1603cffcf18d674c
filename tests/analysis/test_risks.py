from __future__ import annotations

import pytest

from audits.analysis.risks import CATEGORIES, STARTER_RISKS, severity, severity_band


def test_it_derives_severity_as_likelihood_times_impact():
    assert severity(1, 1) == 1 and severity(5, 5) == 25 and severity(2, 3) == 6


@pytest.mark.parametrize(("likelihood", "impact"), [(0, 3), (3, 6), (2.5, 3)])
def test_it_refuses_values_off_the_scale(likelihood, impact):
    with pytest.raises(ValueError):
        severity(likelihood, impact)


def test_it_bands_severity():
    assert [severity_band(s) for s in (1, 4, 5, 9, 10, 16, 17, 25)] == [
        "low",
        "low",
        "medium",
        "medium",
        "high",
        "high",
        "critical",
        "critical",
    ]


def test_the_starter_list_uses_known_categories_and_unique_keys():
    categories = {key for key, _ in CATEGORIES}
    assert {item.category for item in STARTER_RISKS} <= categories
    assert len({item.key for item in STARTER_RISKS}) == len(STARTER_RISKS)
    assert {item.category for item in STARTER_RISKS} == categories  # every category has one
