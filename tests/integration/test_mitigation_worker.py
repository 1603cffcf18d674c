"""Mitigation options through a real broker and a real worker process."""

from __future__ import annotations

import pytest

from tests.factories import UserFactory, build_team, make_failing_audit
from tests.harness import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def team(transactional_db):
    return build_team("m", UserFactory(username="m_external"))


def test_a_worker_runs_thresholdoptimizer_for_a_failing_audit(worker, team, api):
    audit = make_failing_audit(team)
    api.credentials(HTTP_AUTHORIZATION=f"Token {team.token_key}")
    response = api.post(f"/api/v1/audits/{audit.pk}/mitigation/")
    assert response.status_code == 202, response.json()

    def finished():
        body = api.get(response["Location"]).json()
        return body if body["status"] in ("succeeded", "failed") else None

    body = wait_for(finished, 120, "the mitigation to finish")
    assert body["status"] == "succeeded", body["error"]
    options = body["result"]["features"][0]["options"]
    assert [o["name"] for o in options] == ["original", "demographic_parity", "equalized_odds"]
