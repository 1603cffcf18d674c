"""Who may call what: the expected status for every route, method and role.

``own`` is a team-A person acting on team A's objects, ``other`` the person with
the same role in team B acting on team A's objects, ``anon`` nobody logged in.
A number applies to every role; a dict names each role. Public routes are
called anonymously only. A route with no row here fails the matrix test. The
deployment stage's routes have their rules, with tokens of each scope, in
``deployment_matrix.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

BO, MLE, AUD, VIE = "business_owner", "ml_engineer", "auditor", "viewer"


def roles(bo: int, mle: int, aud: int, vie: int) -> dict[str, int]:
    return {BO: bo, MLE: mle, AUD: aud, VIE: vie}


@dataclass(frozen=True)
class Expect:
    own: int | dict[str, int]
    other: int | dict[str, int] = 404
    anon: int | None = None  # None: 401 for the API, a redirect to login for pages
    public: bool = False


WRITERS = roles(200, 200, 403, 403)
OWNER_ONLY_REDIRECT = roles(302, 403, 403, 403)
WRITERS_REDIRECT = roles(302, 302, 403, 403)
CREATED_BY_WRITERS = roles(201, 201, 403, 403)
ACCEPTED_FROM_WRITERS = roles(202, 202, 403, 403)
# The risk register is also written by the project's auditors.
RISK_EDITORS = roles(200, 200, 200, 403)
RISK_EDITORS_REDIRECT = roles(302, 302, 302, 403)
REVIEWERS = roles(403, 403, 201, 403)
REVIEWERS_REDIRECT = roles(403, 403, 302, 403)

MATRIX: dict[tuple[str, str], Expect] = {
    # --- REST API ---------------------------------------------------------------------
    ("api-team-list", "GET"): Expect(own=200, other=200),
    # A business owner accepts an unmet criterion (the world's criteria are all met: 400).
    ("api-criterion-exception", "POST"): Expect(own=roles(400, 403, 403, 403)),
    # Everyone reads and changes only their own profile.
    ("api-profile", "GET"): Expect(own=200, other=200),
    ("api-profile", "PATCH"): Expect(own=200, other=200),
    ("api-team-detail", "GET"): Expect(own=200),
    ("api-membership-list", "GET"): Expect(own=200),
    ("api-membership-list", "POST"): Expect(own=roles(201, 403, 403, 403)),
    ("api-membership-detail", "GET"): Expect(own=200),
    ("api-membership-detail", "PATCH"): Expect(own=roles(200, 403, 403, 403)),
    ("api-membership-detail", "DELETE"): Expect(own=roles(204, 403, 403, 403)),
    ("api-project-list", "GET"): Expect(own=200, other=200),
    # Team B's people do not see team A, so creating in it is a 404 for them.
    ("api-project-list", "POST"): Expect(own=roles(201, 201, 403, 403)),
    ("api-project-detail", "GET"): Expect(own=200),
    ("api-project-detail", "PATCH"): Expect(own=WRITERS),
    ("api-project-gates", "GET"): Expect(own=200),
    # Flagger's confirm-promotion webhook: a strict read (the world's gate passes).
    ("api-project-gates", "POST"): Expect(own=200),
    ("api-project-transition", "POST"): Expect(own=WRITERS),
    ("api-project-events", "GET"): Expect(own=200),
    ("api-share-list", "GET"): Expect(own=200),
    ("api-share-list", "POST"): Expect(own=roles(201, 403, 403, 403)),
    ("api-share-detail", "DELETE"): Expect(own=roles(204, 403, 403, 403)),
    ("api-event-export-list", "GET"): Expect(own=200),
    ("api-event-export-list", "POST"): Expect(own=202),
    ("api-event-export-detail", "GET"): Expect(own=200),
    ("api-event-export-download", "GET"): Expect(own=200),
    ("api-dataset-list", "GET"): Expect(own=200),
    ("api-dataset-list", "POST"): Expect(own=CREATED_BY_WRITERS),
    ("api-dataset-detail", "GET"): Expect(own=200),
    ("api-dataset-detail", "PATCH"): Expect(own=WRITERS),
    ("api-version-list", "GET"): Expect(own=200),
    ("api-version-list", "POST"): Expect(own=ACCEPTED_FROM_WRITERS),
    ("api-version-detail", "GET"): Expect(own=200),
    ("api-baseline-run-list", "GET"): Expect(own=200),
    ("api-baseline-run-list", "POST"): Expect(own=ACCEPTED_FROM_WRITERS),
    ("api-baseline-run-detail", "GET"): Expect(own=200),
    ("api-baseline-list", "GET"): Expect(own=200),
    ("api-baseline-list", "POST"): Expect(own=CREATED_BY_WRITERS),
    ("api-model-list", "GET"): Expect(own=200),
    ("api-model-list", "POST"): Expect(own=CREATED_BY_WRITERS),
    ("api-model-detail", "GET"): Expect(own=200),
    # The training data of a model registered without it, recorded once.
    ("api-model-detail", "PATCH"): Expect(own=WRITERS),
    ("api-model-candidate", "POST"): Expect(own=WRITERS),
    ("api-evaluation-list", "GET"): Expect(own=200),
    ("api-evaluation-list", "POST"): Expect(own=ACCEPTED_FROM_WRITERS),
    ("api-evaluation-detail", "GET"): Expect(own=200),
    ("api-risk-list", "GET"): Expect(own=200),
    ("api-risk-list", "POST"): Expect(own=roles(201, 201, 201, 403)),
    ("api-risk-starter", "POST"): Expect(own=roles(200, 200, 200, 403)),
    ("api-risk-detail", "GET"): Expect(own=200),
    ("api-risk-detail", "PATCH"): Expect(own=RISK_EDITORS),
    ("api-audit-config-list", "GET"): Expect(own=200),
    ("api-audit-config-list", "POST"): Expect(own=roles(201, 201, 201, 403)),
    ("api-audit-list", "GET"): Expect(own=200),
    ("api-audit-list", "POST"): Expect(own=ACCEPTED_FROM_WRITERS),
    # Every user has an inbox; team B's holds nothing of team A.
    ("api-audit-inbox", "GET"): Expect(own=200, other=200),
    ("api-audit-detail", "GET"): Expect(own=200),
    ("api-audit-csv", "GET"): Expect(own=200),
    ("api-audit-review-list", "GET"): Expect(own=200),
    ("api-exception-list", "GET"): Expect(own=200),
    ("api-exception-detail", "GET"): Expect(own=200),
    # Only an auditor reviews, and none who builds the model (tested in test_audits).
    ("api-audit-review-list", "POST"): Expect(own=REVIEWERS),
    # The team and the project's auditors ask for a review and talk in its thread.
    ("api-audit-review-request-list", "GET"): Expect(own=200),
    ("api-audit-review-request-list", "POST"): Expect(own=roles(201, 201, 201, 403)),
    ("api-audit-comment-list", "GET"): Expect(own=200),
    ("api-audit-comment-list", "POST"): Expect(own=roles(201, 201, 201, 403)),
    # A failing audit's mitigation options: asked for by whoever may ask for an audit; the
    # built audit has them already, so asking again reuses them (200).
    ("api-audit-mitigation", "GET"): Expect(own=200),
    ("api-audit-mitigation", "POST"): Expect(own=WRITERS),
    ("api-criteria-list", "GET"): Expect(own=200),
    ("api-criteria-list", "POST"): Expect(own=CREATED_BY_WRITERS),
    ("api-criteria-version-detail", "GET"): Expect(own=200),
    ("api-signoff-list", "GET"): Expect(own=200),
    # Signing as business owner: the owner signed already (409); no one else holds the role.
    ("api-signoff-list", "POST"): Expect(own=roles(409, 403, 403, 403)),
    ("api-signoff-inbox", "GET"): Expect(own=200, other=200),
    ("api-signoff-detail", "GET"): Expect(own=200),
    # Only the signer revokes (the world's sign-off is the business owner's).
    ("api-signoff-revoke", "POST"): Expect(own=roles(200, 403, 403, 403)),
    ("api-measurement-list", "GET"): Expect(own=200),
    ("api-measurement-list", "POST"): Expect(own=roles(201, 403, 403, 403)),
    ("api-pack-list", "GET"): Expect(own=200),
    # The world's pack is of the current state: asking again reuses it (200).
    ("api-pack-list", "POST"): Expect(own=WRITERS),
    ("api-pack-detail", "GET"): Expect(own=200),
    ("api-pack-pdf", "GET"): Expect(own=200),
    ("api-model-card", "GET"): Expect(own=200),
    # Behind a login: the schema refuses with the API's 401, the docs page sends to log in.
    ("api-schema", "GET"): Expect(own=200, other=200),
    ("api-docs", "GET"): Expect(own=200, other=200, anon=302),
    # --- Web pages --------------------------------------------------------------------
    ("home", "GET"): Expect(own=200, other=200),
    ("project-create", "GET"): Expect(own=WRITERS, other=WRITERS),
    # Team A is not among team B's choices: the form comes back with an error.
    ("project-create", "POST"): Expect(own=roles(302, 302, 403, 403), other=WRITERS),
    ("project-detail", "GET"): Expect(own=200),
    ("project-edit", "GET"): Expect(own=WRITERS),
    ("project-edit", "POST"): Expect(own=roles(302, 302, 403, 403)),
    ("project-transition", "POST"): Expect(own=roles(302, 302, 403, 403)),
    ("project-share", "POST"): Expect(own=OWNER_ONLY_REDIRECT),
    ("share-revoke", "POST"): Expect(own=OWNER_ONLY_REDIRECT),
    ("export-create", "POST"): Expect(own=302),
    ("export-status", "GET"): Expect(own=200),
    ("export-download", "GET"): Expect(own=200),
    ("dataset-create", "GET"): Expect(own=WRITERS),
    ("dataset-create", "POST"): Expect(own=WRITERS_REDIRECT),
    ("dataset-detail", "GET"): Expect(own=200),
    ("dataset-edit", "GET"): Expect(own=WRITERS),
    ("dataset-edit", "POST"): Expect(own=WRITERS_REDIRECT),
    ("version-upload", "POST"): Expect(own=WRITERS_REDIRECT),
    ("version-detail", "GET"): Expect(own=200),
    ("version-status", "GET"): Expect(own=200),
    ("baseline-run-create", "POST"): Expect(own=WRITERS_REDIRECT),
    ("baseline-run-detail", "GET"): Expect(own=200),
    ("baseline-list", "GET"): Expect(own=200),
    ("baseline-list", "POST"): Expect(own=WRITERS_REDIRECT),
    ("model-list", "GET"): Expect(own=200),
    ("model-list", "POST"): Expect(own=WRITERS_REDIRECT),
    ("model-detail", "GET"): Expect(own=200),
    ("model-candidate", "POST"): Expect(own=WRITERS_REDIRECT),
    ("model-training-data", "POST"): Expect(own=WRITERS_REDIRECT),
    ("evaluation-create", "POST"): Expect(own=WRITERS_REDIRECT),
    ("evaluation-detail", "GET"): Expect(own=200),
    ("evaluation-status", "GET"): Expect(own=200),
    ("risk-list", "GET"): Expect(own=200),
    ("risk-list", "POST"): Expect(own=RISK_EDITORS_REDIRECT),
    ("risk-starter", "POST"): Expect(own=RISK_EDITORS_REDIRECT),
    ("risk-edit", "GET"): Expect(own=RISK_EDITORS),
    ("risk-edit", "POST"): Expect(own=RISK_EDITORS_REDIRECT),
    ("audit-settings", "GET"): Expect(own=200),
    ("audit-settings", "POST"): Expect(own=RISK_EDITORS_REDIRECT),
    ("audit-create", "POST"): Expect(own=WRITERS_REDIRECT),
    ("audit-inbox", "GET"): Expect(own=200, other=200),
    ("audit-detail", "GET"): Expect(own=200),
    ("audit-status", "GET"): Expect(own=200),
    ("audit-json", "GET"): Expect(own=200),
    ("audit-csv", "GET"): Expect(own=200),
    ("audit-review-create", "POST"): Expect(own=REVIEWERS_REDIRECT),
    ("audit-review-request-create", "POST"): Expect(own=RISK_EDITORS_REDIRECT),
    ("audit-comment-create", "POST"): Expect(own=RISK_EDITORS_REDIRECT),
    ("mitigation-create", "POST"): Expect(own=WRITERS_REDIRECT),
    ("mitigation-status", "GET"): Expect(own=200),
    ("project-exception-list", "GET"): Expect(own=200),
    ("team-exception-list", "GET"): Expect(own=200),
    ("criteria", "GET"): Expect(own=200),
    ("criteria", "POST"): Expect(own=WRITERS_REDIRECT),
    ("criteria-version", "GET"): Expect(own=200),
    ("criteria-edit", "GET"): Expect(own=roles(200, 200, 403, 403)),
    ("criteria-edit", "POST"): Expect(own=WRITERS_REDIRECT),
    ("signoff-create", "POST"): Expect(own=roles(409, 403, 403, 403)),
    ("signoff-revoke", "POST"): Expect(own=roles(302, 403, 403, 403)),
    ("measurement-create", "POST"): Expect(own=roles(302, 403, 403, 403)),
    ("measurement-attachment", "GET"): Expect(own=200),
    ("pack-list", "GET"): Expect(own=200),
    ("pack-create", "POST"): Expect(own=WRITERS_REDIRECT),
    ("pack-detail", "GET"): Expect(own=200),
    ("pack-status", "GET"): Expect(own=200),
    ("pack-pdf", "GET"): Expect(own=200),
    ("model-card", "GET"): Expect(own=200),
    ("team-detail", "GET"): Expect(own=200),
    ("membership-add", "POST"): Expect(own=OWNER_ONLY_REDIRECT),
    ("membership-change", "POST"): Expect(own=OWNER_ONLY_REDIRECT),
    ("membership-remove", "POST"): Expect(own=OWNER_ONLY_REDIRECT),
    ("token-list", "GET"): Expect(own=200, other=200),
    ("token-list", "POST"): Expect(own=200, other=200),
    # The token in the URL is the business owner's: nobody else may revoke it.
    ("token-revoke", "POST"): Expect(own=roles(302, 404, 404, 404)),
    ("login", "GET"): Expect(own=200, anon=200, public=True),
    ("logout", "POST"): Expect(own=302, anon=302, public=True),
    ("healthz", "GET"): Expect(own=503, anon=503, public=True),
    ("favicon", "GET"): Expect(own=301, anon=301, public=True),
    # One's own password; an empty form answers with its errors.
    ("password_change", "GET"): Expect(own=200, other=200),
    # A business owner accepts an unmet criterion from the criteria page; the page says why
    # not (the world's criteria are all met), others are refused.
    ("criterion-exception-create", "POST"): Expect(own=roles(302, 403, 403, 403)),
    # One's own name and job title; the empty matrix form saves blanks and redirects.
    ("profile", "GET"): Expect(own=200, other=200),
    ("profile", "POST"): Expect(own=302, other=302),
    # Entering one's password again; an empty form answers with its errors.
    ("password-confirm", "GET"): Expect(own=200, other=200),
    ("password-confirm", "POST"): Expect(own=200, other=200),
    ("password_change", "POST"): Expect(own=200, other=200),
    ("password_change_done", "GET"): Expect(own=200, other=200),
    # Reset by email, for people who cannot log in; the reset link here is not valid.
    ("password_reset", "GET"): Expect(own=200, anon=200, public=True),
    ("password_reset", "POST"): Expect(own=200, anon=200, public=True),
    ("password_reset_done", "GET"): Expect(own=200, anon=200, public=True),
    ("password_reset_confirm", "GET"): Expect(own=200, anon=200, public=True),
    ("password_reset_complete", "GET"): Expect(own=200, anon=200, public=True),
}

# Routes outside the matrix, each with the test that covers it instead.
NOT_IN_MATRIX = {
    "admin": "Django admin (staff only): test_the_admin_is_for_staff_only",
}

# A read-only CI token bound to team A's project, held by team A's business owner:
# it reads everything of that project and its team, and writes nothing but what
# the read scope allows. Anything not listed here: GET 200, any write 403.
CI_TOKEN_WRITES: dict[tuple[str, str], int] = {
    ("api-event-export-list", "POST"): 202,
    # A webhook's POST only reads the gate.
    ("api-project-gates", "POST"): 200,
}

#: Routes about the caller, not a team: any token gets the same answer, whichever team
#: it is bound to (a token reads its owner's profile and never changes it).
CALLER_ROUTES: dict[tuple[str, str], int] = {
    ("api-profile", "GET"): 200,
    ("api-profile", "PATCH"): 403,
}
