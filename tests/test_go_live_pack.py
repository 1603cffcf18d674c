"""The go-live pack: once the candidate has a deployment, the approval pack carries its plan
and sign-offs, every rollout with its moves and analyses (charted), and the monitoring
spec; and the gate into monitoring wants a pack of exactly that state."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from pypdf import PdfReader

from audits.models import ApprovalPack
from audits.rollout_charts import CHART_POINTS, MAX_CHARTED, charted_analyses
from audits.services.packs import pack_html, render_pdf, snapshot_attachment
from audits.snapshot import pack_state, state_sha256
from deployments.models import Analysis, Rollout
from deployments.services.metrics import metrics_push
from deployments.services.rollouts import PromotionRefused, rollout_promote, rollout_start
from projects import selectors
from projects.analysis.gates import MONITORING
from projects.models import Project, Role
from projects.services.signoffs import signoff_revoke
from tests.factories import healthy_points, make_deployment, make_pack, plan_content

# Each test renders a PDF: CI's PostgreSQL stage runs them (make test-slow here).
pytestmark = [pytest.mark.django_db, pytest.mark.slow]

PACK_CHECK = "Approval pack rendered for exactly this state"
SECURITY = "Scores leave the service only over mutual TLS; no applicant names are logged."


def _plan() -> dict:
    content = plan_content()
    content["serving"]["security_notes"] = SECURITY
    content["serving"]["logging"]["personal_data"] = "applicant id, pseudonymised"
    content["monitoring"]["drift"] = [
        {"column": "income", "test": "psi", "threshold": 0.2},
        {"column": "age", "test": "ks", "threshold": 0.1},
    ]
    content["monitoring"]["alerts"].append(
        {"name": "Income drifts", "metric": "drift:income", "severity": "page"}
    )
    content["monitoring"]["notify"] = ["oncall@example.com", "credit-desk@example.com"]
    content["monitoring"]["review_cadence_days"] = 14
    return content


def _pdf_text(pack: ApprovalPack) -> str:
    with pack.pdf.open("rb") as stored:
        reader = PdfReader(io.BytesIO(stored.read()))
    raw = " ".join(page.extract_text() or "" for page in reader.pages)
    # Table cells hyphenate long words at line ends with U+2010: read them whole.
    return " ".join(re.sub("\u2010\\s+", "", raw).split())


def _bare(text: str) -> str:
    """The text without white space: a hash broken across lines reads whole again."""
    return re.sub(r"\s", "", text)


def _pack_check(project: Project):
    """The pack check of the gate into monitoring, on the project as stored now."""
    fresh = Project.objects.get(pk=project.pk)
    gate = selectors.project_gate(fresh, MONITORING)
    return next(c for c in gate.checks if c.name == PACK_CHECK)


def _close_and_push(
    w, deployment, rollout: Rollout, key: str, *, ago: timedelta = timedelta(0), **kwargs
) -> datetime:
    """Let the current step's window run its time and push points into the minute before
    ``ago`` ago; the moment to promote at (that minute's end)."""
    now = datetime.now(UTC)
    Rollout.objects.filter(pk=rollout.pk).update(step_started_at=now - timedelta(minutes=10))
    end = now - ago
    metrics_push(
        actor=w.people[Role.ML_ENGINEER],
        deployment=deployment,
        points=healthy_points(end - timedelta(seconds=50), end, **kwargs),
        idempotency_key=key,
    )
    return end


def _promote(w, deployment, step: int, reason: str, at: datetime | None = None):
    return rollout_promote(
        actor=w.people[Role.ML_ENGINEER], deployment=deployment, reason=reason, step=step, now=at
    )


@pytest.fixture
def live(world):
    """Team A's candidate deployed by a signed plan and rolled out to 100 %: step 1's
    first analysis failed on slow answers, then each step passed."""
    w = world["a"]
    deployment, plan = make_deployment(w, content=_plan())
    rollout = rollout_start(actor=w.people[Role.ML_ENGINEER], deployment=deployment, reason="go")
    # Five minutes ago the answers were slow; the retry reads the last minute, healthy.
    slow = _close_and_push(w, deployment, rollout, "slow", ago=timedelta(minutes=5), latency=450)
    with pytest.raises(PromotionRefused):
        _promote(w, deployment, 0, "first try", at=slow)
    for step in range(5):
        _close_and_push(w, deployment, rollout, f"s{step}")
        _promote(w, deployment, step, f"step {step + 1} healthy")
    rollout.refresh_from_db()
    assert rollout.status == Rollout.Status.FINISHED
    return w, deployment, plan, rollout


def test_it_puts_the_plan_its_signoffs_the_rollout_and_the_monitoring_spec_in_the_pdf(live):
    w, _deployment, plan, rollout = live
    pack = make_pack(w)
    assert pack.status == "succeeded", pack.error
    text = _pdf_text(pack)
    bare = _bare(text)

    assert "GO-LIVE APPROVAL PACK" in text  # the kicker, in capitals
    # The plan: serving, deployment type, pattern and steps, its version and hash.
    for shown in (
        "Real-time, cloud",
        "2 CPU cores, 2,048 MB memory, GPU: none",
        "p50 50 ms, p95 200 ms, p99 400 ms",
        "10 requests/s",
        "personal data: applicant id, pseudonymised",
        SECURITY,
        "New capability",
        "1 % → 5 % → 25 % → 50 % → 100 %, 1 minute each",
        "Plan version 1",
    ):
        assert shown in text, f"the pack does not show {shown!r}"
    assert plan.content_sha256 in bare
    # Its sign-offs: who, role, decision, and that they still count.
    start = text.index("Sign-offs of the plan")
    trail = text[start : text.index("Rollout history", start)]
    for person in (w.people[Role.BUSINESS_OWNER], w.people[Role.ML_ENGINEER]):
        assert person.username in trail
    assert trail.count("Approved") == 2 and trail.count("Current") == 2
    assert "Business owner" in trail and "ML engineer" in trail

    # The rollout: each move with its reason, each analysis with its hash and checks.
    history = text[text.index("Rollout history", 2000) : text.index("Metrics watched")]
    assert f"Rollout {rollout.pk}: Canary, finished" in history
    # A refused promotion moves nothing: its analysis is on record, not a move.
    for reason in ["go", *(f"step {n} healthy" for n in range(1, 6))]:
        assert reason in history, f"the move {reason!r} is missing"
    assert "first try" not in history
    for move in ("Started", "Promoted", "Finished"):
        assert move in history
    analyses = list(Analysis.objects.filter(rollout=rollout).order_by("pk"))
    assert [a.outcome for a in analyses] == ["fail", *["pass"] * 5]
    for analysis in analyses:
        assert f"Analysis {analysis.pk}: step {analysis.step + 1}" in history
        assert analysis.sha256 in bare
    failed = analyses[0].checks["checks"]
    slow = next(c for c in failed if c["status"] == "fail")
    assert slow["reason"] in history
    assert "p95 latency" in history and "≤ 200 ms" in history and "pushed" in history

    # Charts: the newest analysis of each step, one per metric it checks, targets drawn.
    charted = [chart["analysis"] for chart in pack.snapshot["charts"]]
    assert charted == [a.pk for a in analyses[1:]]
    assert all(
        len(item["series"]["values"]) <= CHART_POINTS
        for chart in pack.snapshot["charts"]
        for item in chart["metrics"]
    )
    metrics_charted = sum(len(chart["metrics"]) for chart in pack.snapshot["charts"])
    assert pack.html.count('<figure class="chart half window">') == metrics_charted > 5
    assert "(met)" in history and "times in UTC" in history

    # The monitoring spec: metrics, drift tests, alerts, who is told, the cadence.
    spec = text[text.index("Metrics watched") :]
    for shown in (
        "latency_ms",
        "missing_value_rate",
        "null_output_rate",
        "≤ 0.05",
        "60 min",
        "income",
        "psi",
        "age",
        "Income drifts",
        "drift:income",
        "Page",
        "oncall@example.com, credit-desk@example.com",
        "Every 14 days",
    ):
        assert shown in spec, f"the monitoring spec does not show {shown!r}"


def test_a_promotion_makes_the_pack_stale_for_the_gate_into_monitoring_until_rendered_again(
    world,
):
    w = world["a"]
    deployment, _plan = make_deployment(w)
    rollout = rollout_start(actor=w.people[Role.ML_ENGINEER], deployment=deployment)
    first = make_pack(w)
    check = _pack_check(w.project)
    assert check.passed, check.detail

    _close_and_push(w, deployment, rollout, "s0")
    _promote(w, deployment, 0, "healthy")
    check = _pack_check(w.project)
    assert not check.passed
    assert check.detail == f"Pack {first.pk} was rendered before the last change; render it again."

    second = make_pack(w)
    assert second.pk != first.pk and second.state_sha256 != first.state_sha256
    check = _pack_check(w.project)
    assert check.passed and check.detail == f"Pack {second.pk}."
    promoted = second.snapshot["state"]["deployment"]["rollouts"][0]
    assert [m["action"] for m in promoted["moves"]] == ["start", "promote"]
    assert promoted["traffic"] == 5


def test_a_plan_signoff_revoked_makes_the_pack_stale(world):
    w = world["a"]
    _deployment, plan = make_deployment(w)
    pack = make_pack(w)
    assert _pack_check(w.project).passed
    signed = plan.signoffs.get(signed_by=w.people[Role.ML_ENGINEER])
    signoff_revoke(actor=w.people[Role.ML_ENGINEER], signoff=signed, reason="wrong window")

    check = _pack_check(w.project)
    assert check.detail == f"Pack {pack.pk} was rendered before the last change; render it again."
    trail = pack_state(w.project)["deployment"]["signoffs"]
    revoked = next(row for row in trail if row["user"] == w.people[Role.ML_ENGINEER].username)
    assert revoked["revoke_reason"] == "wrong window" and revoked["revoked_at"]


def test_a_go_live_pack_renders_to_the_same_bytes_again(live):
    w, *_ = live
    pack = make_pack(w)
    assert pack_html(pack.snapshot, pack.pk, pack.snapshot_sha256) == pack.html
    first, pages = render_pdf(pack.html, None, [snapshot_attachment(pack)])
    second, _ = render_pdf(pack.html, None, [snapshot_attachment(pack)])
    assert first == second
    assert pages == pack.pages
    with pack.pdf.open("rb") as stored:
        signed = stored.read()
    assert signed[: len(first)] == first  # the signature is a revision appended to the layout
    assert hashlib.sha256(signed).hexdigest() == pack.pdf_sha256


def test_the_state_is_the_same_read_twice_and_late_points_leave_the_pack_current(live):
    w, deployment, _plan, rollout = live
    pack = make_pack(w)
    assert state_sha256(pack_state(w.project)) == pack.state_sha256
    # Points pushed later into an analysed window: the analysis on record judged the
    # window as it was; the pack keeps the chart it drew then.
    newest = Analysis.objects.filter(rollout=rollout).order_by("-pk").first()
    late = healthy_points(newest.window_start, newest.window_end, latency=90, count=5)
    metrics_push(
        actor=w.people[Role.ML_ENGINEER], deployment=deployment, points=late, idempotency_key="l"
    )
    assert _pack_check(w.project).passed


def test_a_project_without_a_deployment_says_no_plan_yet(packed_world):
    pack = ApprovalPack.objects.get(project=packed_world["a"].project)
    assert pack.snapshot["state"]["deployment"] is None
    assert pack.snapshot["charts"] == []
    text = _pdf_text(pack)
    assert "MODEL APPROVAL PACK" in text and "GO-LIVE" not in text
    assert "No deployment plan is recorded yet; the gate into monitoring asks for one." in text
    assert "Rollout history" not in text


def test_it_charts_the_newest_analysis_of_each_step_and_the_newest_few_in_all():
    def rollout(*steps: tuple[int, int]) -> dict:
        return {"analyses": [{"id": pk, "step": step} for pk, step in steps]}

    tried_again = rollout((1, 0), (2, 0), (3, 1), (4, 1), (5, 2))
    assert charted_analyses({"rollouts": [tried_again]}) == [2, 4, 5]
    assert charted_analyses(None) == []
    many = [rollout(*((10 * r + s, s) for s in range(5))) for r in range(4)]
    chosen = charted_analyses({"rollouts": many})
    assert len(chosen) == MAX_CHARTED < 20
    assert chosen == [10 * r + s for r in range(4) for s in range(5)][-MAX_CHARTED:]
