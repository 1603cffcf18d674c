"""The decision writes against the production stack, with the broker and cache stopped for
a while: gunicorn, PostgreSQL, a private Redis, a real Celery worker and beat.

One project has a failing audit and a few high risks. For a bounded time, business owners
(signed-in sessions, as exceptions are a person's own act) race to accept the same high
risks as exceptions and edit their mitigations; the engineer comments on the audit's
review thread and asks for the review again and again, naming a reviewer and a due date;
two auditors request changes, comment and read their inbox; everyone reads the gate.
Midway Redis is shut down and started again later. Then:

- no answer is a 5xx (or none at all), and none is a 4xx but the refusals the race
  makes (409 ``excepted_already`` for a risk accepted a moment before);
- each risk holds at most one exception, and exactly as many exceptions were granted as
  answered 200 with one;
- every review request, comment and review that answered 201 is stored once, with its
  event, and nothing else is;
- the audit is in the auditors' inbox exactly when a request is newer than its newest
  review;
- ``verify_events`` passes and PostgreSQL saw no deadlock.

Exit status 0 only then.

    python -m tests.load.decision_writes --clients 2 --seconds 45 --outage 20 --kill

Everything runs on loopback in a throwaway database and folder, and stops by itself.
"""

from __future__ import annotations

import collections
import http.cookiejar
import json
import random
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta

from tests.load.stack import (
    PYTHON,
    ROOT,
    Stack,
    answer_seconds,
    arguments,
    code_of,
    fetch,
    manage,
    redis_outage,
    request,
)

SETUP = """
import json
from audits.services.risks import risk_create
from projects.models import Role
from projects.services import teams, tokens
from tests.factories import PASSWORD, UserFactory, build_team, make_failing_audit
external = UserFactory(username="load_external")
a = build_team("load", external)
engineer, auditor = a.people[Role.ML_ENGINEER], a.people[Role.AUDITOR]
owners = [a.people[Role.BUSINESS_OWNER]]
for n in range({owners} - 1):
    owner = UserFactory(username=f"load_owner_{n}")
    teams.membership_add(actor=None, team=a.team, user=owner, role=Role.BUSINESS_OWNER)
    owners.append(owner)
audit = make_failing_audit(a)
risks = [
    risk_create(
        actor=engineer, project=a.project, title=f"Proxy feature {n}", category="bias_fairness",
        likelihood=4, impact=4, owner="Credit data office",
    ).pk
    for n in range(4)
]
def key(user):
    return tokens.token_create(user=user, name="load", scopes=["read", "write"])[1]
print("SETUP", json.dumps({
    "project": a.project.slug, "audit": audit.pk, "risks": risks, "password": PASSWORD,
    "owners": [o.username for o in owners], "engineer": key(engineer),
    "auditors": [key(auditor), key(external)],
    "reviewers": [auditor.username, external.username],
}))
"""

REPORT = """
import json
from collections import Counter
from audits.models import AuditRun, PolicyException, ReviewComment, ReviewRequest
from audits.selectors import audit_inbox, audits_awaiting_review
from projects.models import Event
from django.contrib.auth import get_user_model
from django.db.models import Q
audit = AuditRun.objects.get(pk={audit})
auditor = get_user_model().objects.get(username="{auditor}")
# The audit's own events (the world's other audit was reviewed while it was built).
verbs = Counter(
    Event.objects.filter(Q(target_id=str(audit.pk), verb__startswith="audit.") | Q(
        verb="exception.granted"
    )).values_list("verb", flat=True)
)
last_review = max(audit.reviews.values_list("created_at", flat=True), default=None)
last_request = max(audit.review_requests.values_list("created_at", flat=True), default=None)
print("STATE", json.dumps({
    "exceptions_per_risk": dict(Counter(
        PolicyException.objects.filter(subject="risk").values_list("risk_id", flat=True)
    )),
    "requests": ReviewRequest.objects.filter(audit=audit).count(),
    "comments": ReviewComment.objects.filter(audit=audit).count(),
    "reviews": audit.reviews.count(),
    "events": {v: verbs[v] for v in (
        "audit.review_requested", "audit.commented", "audit.reviewed", "exception.granted"
    )},
    "awaiting": audits_awaiting_review(AuditRun.objects.filter(pk=audit.pk)).exists(),
    "in_inbox": audit_inbox(auditor).filter(pk=audit.pk).exists(),
    "expected_waiting": last_review is None or (
        last_request is not None and last_request > last_review
    ),
}))
"""


class Session:
    """A person signed in through the login form, calling the API with the session's
    cookie and CSRF token, as the portal's own pages do."""

    def __init__(self, base: str, username: str, password: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        with self.opener.open(f"{base}/accounts/login/", timeout=30):
            pass
        form = urllib.parse.urlencode(
            {"username": username, "password": password, "csrfmiddlewaretoken": self.csrf}
        ).encode()
        login = urllib.request.Request(
            f"{base}/accounts/login/", data=form, headers={"Referer": f"{base}/accounts/login/"}
        )
        with self.opener.open(login, timeout=30) as answer:
            if "/accounts/login/" in answer.url:
                raise SystemExit(f"{username} could not sign in")

    @property
    def csrf(self) -> str:
        return next(c.value for c in self.jar if c.name == "csrftoken")

    def send(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        call = urllib.request.Request(
            f"{self.base}{path}",
            data=json.dumps(body).encode() if body is not None else None,
            headers={
                "Content-Type": "application/json",
                "X-CSRFToken": self.csrf,
                "Referer": f"{self.base}/",
            },
            method=method,
        )
        # The cookie jar signs the request; fetch's error handling is the opener's.
        self.jar.add_cookie_header(call)
        return fetch(call)


def main() -> int:
    parser = arguments(
        __doc__.splitlines()[0], "postgres://postgres@127.0.0.1:5432/stagegate_load_decisions"
    )
    args = parser.parse_args()
    with Stack(args.database, prefix="stagegate-decisions-") as stack:
        env, base = stack.env, stack.base
        setup = manage(env, "shell", "-c", SETUP.replace("{owners}", str(args.clients + 1)))
        world = json.loads(setup.split("SETUP ", 1)[1])
        stack.serve()
        audit, project = world["audit"], world["project"]
        owners = [Session(base, name, world["password"]) for name in world["owners"]]
        # The portal's day is UTC's, whatever this machine's zone.
        today = datetime.now(UTC).date()
        expiry = (today + timedelta(days=30)).isoformat()

        answers: collections.Counter = collections.Counter()  # (what, status, code)
        during_outage: collections.Counter = collections.Counter()
        timings: list[float] = []
        lock = threading.Lock()
        outage = threading.Event()
        stop_at = time.monotonic() + args.seconds

        def record(what: str, started: float, answer: tuple[int, bytes]) -> None:
            status, body = answer
            code = code_of(body) if 400 <= status < 500 else ""
            with lock:
                answers[(what, status, code)] += 1
                if outage.is_set():
                    during_outage[status] += 1
                timings.append(time.monotonic() - started)

        def owner_client(session: Session, seed: int) -> None:
            rng = random.Random(seed)
            while time.monotonic() < stop_at:
                risk = rng.choice(world["risks"])
                started = time.monotonic()
                if rng.random() < 0.7:
                    exception = {
                        "finding": "Postcode stands in for ethnicity in some regions.",
                        "conditions": "Monthly proxy test; postcode dropped in pilots.",
                        "owner": world["owners"][0],
                        "expires_on": expiry,
                    }
                    body = {"status": "accepted", "rationale": "Pilot.", "exception": exception}
                    record(
                        "risk_exception",
                        started,
                        session.send("PATCH", f"/api/v1/risks/{risk}/", body),
                    )
                elif rng.random() < 0.5:
                    body = {"mitigation": f"Reviewed on pass {rng.random():.6f}."}
                    record(
                        "risk_edit", started, session.send("PATCH", f"/api/v1/risks/{risk}/", body)
                    )
                else:
                    record(
                        "gate", started, session.send("GET", f"/api/v1/projects/{project}/gates/")
                    )

        def engineer_client(seed: int) -> None:
            rng = random.Random(seed)
            key = world["engineer"]
            while time.monotonic() < stop_at:
                started = time.monotonic()
                if rng.random() < 0.5:
                    body = {"body": f"Binned the ages again ({rng.random():.6f})."}
                    answer = fetch(request(base + f"/api/v1/audits/{audit}/comments/", key, body))
                    record("comment", started, answer)
                else:
                    due = (today + timedelta(days=rng.randint(1, 9))).isoformat()
                    body = {"reviewer": rng.choice(world["reviewers"]), "due_on": due}
                    path = f"/api/v1/audits/{audit}/review-requests/"
                    record("review_request", started, fetch(request(base + path, key, body)))

        def auditor_client(key: str, seed: int) -> None:
            rng = random.Random(seed)
            while time.monotonic() < stop_at:
                started = time.monotonic()
                roll = rng.random()
                if roll < 0.4:
                    body = {"decision": "request_changes", "rationale": "Group F is thin."}
                    path = f"/api/v1/audits/{audit}/reviews/"
                    record("review", started, fetch(request(base + path, key, body)))
                elif roll < 0.7:
                    body = {"body": f"Which bins? ({rng.random():.6f})"}
                    path = f"/api/v1/audits/{audit}/comments/"
                    record("comment", started, fetch(request(base + path, key, body)))
                else:
                    record("inbox", started, fetch(request(base + "/api/v1/audits/inbox/", key)))

        threads = [
            threading.Thread(target=owner_client, args=(session, n))
            for n, session in enumerate(owners)
        ]
        threads.append(threading.Thread(target=engineer_client, args=(100,)))
        threads += [
            threading.Thread(target=auditor_client, args=(key, 200 + n))
            for n, key in enumerate(world["auditors"])
        ]
        for thread in threads:
            thread.start()
        if args.outage:
            redis_outage(
                stack.redis, seconds=args.seconds, outage=args.outage, kill=args.kill, flag=outage
            )
        for thread in threads:
            thread.join()

        report = REPORT.replace("{audit}", str(audit)).replace("{auditor}", "load_auditor")
        state = json.loads(manage(env, "shell", "-c", report).split("STATE ", 1)[1])
        verify = subprocess.run(
            [PYTHON, "manage.py", "verify_events"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        deadlocks = int(
            stack.psql(f"SELECT deadlocks FROM pg_stat_database WHERE datname = '{stack.db_name}'")
            or 0
        )

        def count(what: str, status: int) -> int:
            return sum(n for (w, s, _), n in answers.items() if w == what and s == status)

        expected_refusals = {("risk_exception", 409, "excepted_already")}
        unexpected = {
            f"{w} {s} {c}": n
            for (w, s, c), n in answers.items()
            if s >= 500 or s == 0 or (s >= 400 and (w, s, c) not in expected_refusals)
        }
        granted = sum(state["exceptions_per_risk"].values())
        problems = {
            "unexpected_answers": unexpected,
            "a_risk_with_two_exceptions": max(state["exceptions_per_risk"].values(), default=0) > 1,
            "exceptions_not_as_answered": granted != count("risk_exception", 200),
            "requests_not_as_answered": state["requests"] != count("review_request", 201),
            "comments_not_as_answered": state["comments"] != count("comment", 201),
            "reviews_not_as_answered": state["reviews"] != count("review", 201),
            "events_not_as_rows": state["events"]
            != {
                "audit.review_requested": state["requests"],
                "audit.commented": state["comments"],
                "audit.reviewed": state["reviews"],
                "exception.granted": granted,
            },
            "inbox_wrong": not (
                state["awaiting"] == state["in_inbox"] == state["expected_waiting"]
            ),
            "verify_events_failed": verify.returncode != 0,
            "deadlocks": deadlocks,
        }
        print(
            json.dumps(
                {
                    "clients": {"owners": len(owners), "engineers": 1, "auditors": 2},
                    "seconds": args.seconds,
                    "redis_outage_seconds": args.outage,
                    "answers": {
                        f"{w} {s} {c}".strip(): n for (w, s, c), n in sorted(answers.items())
                    },
                    "answers_during_outage": dict(sorted(during_outage.items())),
                    "answer_seconds": answer_seconds(timings),
                    "state": state,
                    "verify_events": (verify.stdout or verify.stderr).strip().splitlines()[0],
                    "problems": problems,
                },
                indent=2,
            )
        )
        ok = not any(problems.values())
        print("RESULT", "ok" if ok else "FAILED", flush=True)
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
