"""Approval packs: a snapshot of the project's case, laid out as a PDF by a worker."""

from __future__ import annotations

import functools
import gc
import hashlib
import json
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from audits.analysis.fetch import static_fetcher
from audits.analysis.memo import decision_memo
from audits.analysis.mitigation_charts import tradeoff_svg
from audits.analysis.pack_file import SNAPSHOT_NAME, pack_sign
from audits.analysis.risks import heat_map
from audits.models import ApprovalPack
from audits.reports import LABELS, result_report
from audits.rollout_charts import analysis_charts, chart_series
from audits.services.pack_signing import signing_identity, signing_passphrase
from audits.snapshot import pack_state, state_sha256
from deployments.analysis.plan import monitoring_gaps, plan_summary
from deployments.models import RolloutMove
from portal.exceptions import ApplicationError
from portal.jobs import Progress, job_enqueue, job_run
from portal.storage import storage_errors
from projects.analysis.charts import LineageNode, comparison_charts, lineage_svg
from projects.analysis.criteria import content_sha256
from projects.analysis.evaluation_charts import evaluation_figures, threshold_text
from projects.analysis.rigor import comparison_deltas
from projects.models import Evaluation, Project
from projects.services.events import event_record, job_failed_record
from projects.services.signoffs import project_lock

if TYPE_CHECKING:
    from projects.models import ApiToken

#: The group metrics a pack's audit tables show (the report page shows every one).
PACK_GROUP_METRICS = (
    "selection_rate",
    "base_rate",
    "precision",
    "recall",
    "false_positive_rate",
    "false_negative_rate",
    "mae",
    "rmse",
    "mean_error",
)

#: What a pack names as "produced with": the portal, and the libraries that read the data,
#: compute the numbers and lay out the PDF (display name, distribution name).
SOFTWARE = (
    ("Stagegate", "stagegate"),
    ("NumPy", "numpy"),
    ("pandas", "pandas"),
    ("PyArrow", "pyarrow"),
    ("scikit-learn", "scikit-learn"),
    ("WeasyPrint", "weasyprint"),
    ("pyHanko", "pyhanko"),
)


def software_versions() -> list[dict[str, str]]:
    """The installed version of each of :data:`SOFTWARE`, in that order; one that is not
    installed is left out rather than guessed."""
    out = []
    for name, distribution in SOFTWARE:
        try:
            out.append({"name": name, "version": version(distribution)})
        except PackageNotFoundError:
            continue
    return out


def pack_request(
    *, actor, project: Project, token: ApiToken | None = None
) -> tuple[ApprovalPack, bool]:
    """Take a snapshot and queue its rendering; a pack of the same state (rendering or
    rendered) is reused instead (returned with False)."""
    with transaction.atomic():
        # Sign-offs and criteria edits take the same lock, so the snapshot is one state.
        project = project_lock(project)
        state = pack_state(project)
        digest = state_sha256(state)
        existing = _existing(project, digest)
        if existing is not None:
            return existing, False
        snapshot = {
            "state": state,
            "meta": {
                "requested_by": actor.username,
                "stage": project.get_stage_display(),
                "requested_at": timezone.now().isoformat(timespec="seconds"),
                "site_url": settings.SITE_URL,
                # A list, not a dict: PostgreSQL's jsonb would reorder the keys.
                "software": software_versions(),
            },
            # The points of analysed rollout windows, to chart (not part of the state).
            "charts": chart_series(state),
            # The candidate evaluation's curve data, to chart (not part of the state: it
            # is computed from the predictions file whose sha256 is).
            "evaluation_curves": _evaluation_curves(state),
        }
        try:
            with transaction.atomic():
                pack = ApprovalPack.objects.create(
                    project=project,
                    snapshot=snapshot,
                    snapshot_sha256=content_sha256([snapshot]),
                    state_sha256=digest,
                    requested_by=actor,
                )
        except IntegrityError:  # asked twice at the same moment
            return _existing(project, digest), False
        event_record(
            actor=actor,
            verb="pack.requested",
            target=pack,
            project=project,
            token=token,
            payload={"state_sha256": digest, "snapshot_sha256": pack.snapshot_sha256},
        )
        job_enqueue(pack)
        return pack, True


def _evaluation_curves(state: dict[str, Any]) -> dict[str, Any]:
    shown = (state.get("candidate") or {}).get("evaluation")
    if not shown:
        return {}
    found = Evaluation.objects.filter(pk=shown["id"]).values("curves", "mapping").first()
    if found is None:
        return {}
    return {"curves": found["curves"] or {}, "y_pred": found["mapping"].get("y_pred", "")}


def _evaluation_charts(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The candidate evaluation's charts, its threshold in words and its metrics against the
    best baselines. Packs taken before curves were kept have no ``evaluation_curves``."""
    state = snapshot["state"]
    kept = snapshot.get("evaluation_curves")
    evaluation = (state.get("candidate") or {}).get("evaluation") or {}
    curves = (kept or {}).get("curves") or {}
    threshold = ""
    if kept and evaluation.get("task") == "classification":
        threshold = threshold_text(curves, kept.get("y_pred") or "y_pred")
    return {
        "figures": evaluation_figures(curves),
        "missing": kept is not None and bool(evaluation) and not curves,
        "threshold": threshold,
        "deltas": comparison_deltas(state["baselines"]["comparison"]),
    }


def _existing(project: Project, digest: str) -> ApprovalPack | None:
    return (
        ApprovalPack.objects.filter(project=project, state_sha256=digest)
        .exclude(status=ApprovalPack.Status.FAILED)
        .first()
    )


# --- Layout ---------------------------------------------------------------------------
#: A rollout move as its history reads: "Promoted", "Rolled back".
MOVE_LABELS = dict(RolloutMove.Action.choices)


def _lineage_chart(lineage: dict[str, Any] | None) -> str:
    if not lineage or not lineage["nodes"]:
        return ""
    nodes = [
        LineageNode(id=str(n["id"]), label=n["label"], sublabel=f"sha256 {n['sha256'][:10]}…")
        for n in lineage["nodes"]
    ]
    current = next((str(n["id"]) for n in lineage["nodes"] if n["current"]), nodes[0].id)
    edges = [(str(p), str(c)) for p, c in lineage["edges"]]
    return lineage_svg(nodes, edges, current=current, width=620)


def _audit(audit: dict[str, Any] | None) -> dict[str, Any] | None:
    if audit is None:
        return None
    report = result_report(audit["result"])
    for feature in report.get("features", []):
        keep = [i for i, m in enumerate(feature["columns"]) if m in PACK_GROUP_METRICS]
        feature["columns"] = [feature["columns"][i] for i in keep]
        for group in feature["groups"]:
            group["cells"] = [group["cells"][i] for i in keep]
    mitigation = audit.get("mitigation")
    return {
        **audit,
        "report": report,
        "mitigation_svg": tradeoff_svg(mitigation, width=620) if mitigation else "",
    }


def _go_live(deployment: dict[str, Any] | None, charts: list[dict[str, Any]]) -> dict[str, Any]:
    """The deployment part laid out: the plan as rows, and each rollout's analyses with
    their charts (the charted ones) and the Prometheus queries the charts do not show."""
    if deployment is None:
        return {}
    plan = deployment["plan"]
    drawn = analysis_charts(charts)
    rollouts = []
    for rollout in deployment["rollouts"]:
        analyses = []
        for analysis in rollout["analyses"]:
            queried = sorted(
                {
                    c["source"].removeprefix("prometheus: ")
                    for c in analysis["checks"]
                    if str(c.get("source", "")).startswith("prometheus")
                }
            )
            analyses.append(
                {**analysis, "charts": drawn.get(analysis["id"], []), "queried": queried}
            )
        moves = [
            {**move, "action_label": MOVE_LABELS.get(move["action"], move["action"])}
            for move in rollout["moves"]
        ]
        rollouts.append({**rollout, "moves": moves, "analyses": analyses})
    return {
        "plan_rows": plan_summary(plan["content"]) if plan else [],
        "gaps": monitoring_gaps(plan["content"]) if plan else [],
        "monitoring": plan["content"]["monitoring"] if plan else None,
        "rollouts": rollouts,
        "charted": sum(len(figures) for figures in drawn.values()),
    }


def _monitoring_rows(deployment: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The monitoring part of the plan in force, as the memo shows it."""
    plan = (deployment or {}).get("plan")
    if not plan:
        return []
    return [row for row in plan_summary(plan["content"]) if row[0] in ("Monitoring", "Notify")]


def pack_context(snapshot: dict[str, Any], pack_id: int, snapshot_sha256: str) -> dict[str, Any]:
    """What the pack template needs: the snapshot, and the charts drawn from it."""
    state = snapshot["state"]
    signoffs = state["signoffs"]
    return {
        "s": state,
        "meta": snapshot["meta"],
        "pack_id": pack_id,
        "snapshot_sha256": snapshot_sha256,
        "lineage_svg": _lineage_chart(state["lineage"]),
        "comparison": comparison_charts(state["baselines"]["comparison"], width=620),
        "evaluation_charts": _evaluation_charts(snapshot),
        "audit": _audit(state["audit"]),
        # Packs taken before the go-live part have no charts.
        "go_live": _go_live(state.get("deployment"), snapshot.get("charts", [])),
        "labels": LABELS,
        "current_signoffs": [s for s in signoffs if not s["revoked_at"] and not s["stale"]],
        "memo": decision_memo(state),
        # Names and titles by username; packs of states before people had them have none.
        "people": state.get("people") or {},
        "heat": heat_map((r["likelihood"], r["impact"]) for r in state["risks"]),
        "monitoring_rows": _monitoring_rows(state.get("deployment")),
    }


def pack_html(snapshot: dict[str, Any], pack_id: int, snapshot_sha256: str) -> str:
    return render_to_string("packs/pack.html", pack_context(snapshot, pack_id, snapshot_sha256))


def static_root() -> Path:
    """The project's own static files: the only files a pack may load."""
    return Path(settings.STATICFILES_DIRS[0])


@functools.cache
def _font_keeping_its_timestamp() -> type:
    from fontTools.ttLib import TTFont  # a dependency of WeasyPrint

    class FontKeepingItsTimestamp(TTFont):
        """A fontTools font that, when saved, keeps its own 'head' modified date."""

        def __init__(self, *args: Any, recalcTimestamp: bool = False, **kwargs: Any) -> None:
            super().__init__(*args, recalcTimestamp=recalcTimestamp, **kwargs)

    return FontKeepingItsTimestamp


def _keep_font_timestamps() -> None:
    """Make the fonts WeasyPrint embeds independent of the clock.

    Without HarfBuzz's subsetter (the system library libharfbuzz-subset0, which WeasyPrint
    uses when it is there) WeasyPrint subsets fonts with fontTools, and it also rewrites
    variable, emoji and WOFF fonts with fontTools on any machine. fontTools stamps the
    current time into a saved font's 'head' table unless asked not to, and WeasyPrint does
    not ask (as of 66-70), so each second gave different font bytes, hence a different PDF.
    Every fontTools release does this, so pinning one would not help. Keeping the font's
    own date is what HarfBuzz's subsetter does.
    """
    from weasyprint.pdf import fonts as pdf_fonts
    from weasyprint.text import fonts as text_fonts

    keeping = _font_keeping_its_timestamp()
    for module in (pdf_fonts, text_fonts):
        if module.TTFont is keeping:
            continue
        if module.TTFont is not keeping.__base__:  # WeasyPrint reaches fontTools otherwise
            raise RuntimeError(f"{module.__name__}.TTFont is not fontTools' TTFont")
        module.TTFont = keeping


#: Every document the portal renders is archival: PDF/A-3b (which may carry the
#: machine-readable evidence as associated files) and tagged, for screen readers.
PDF_OPTIONS = {"pdf_variant": "pdf/a-3b", "pdf_tags": True}


def render_pdf(
    html: str, refused: list[str] | None = None, attachments: list | None = None
) -> tuple[bytes, int]:
    """Lay ``html`` out with WeasyPrint as PDF/A-3b, tagged, with ``attachments``
    (WeasyPrint ``Attachment`` objects); the same input gives the same bytes."""
    try:
        from weasyprint import HTML  # loads system libraries; only workers need it
    except OSError as exc:
        raise ApplicationError(
            "PDF rendering needs the Pango library on the worker's machine "
            f"(apt-get install libpango-1.0-0 libpangoft2-1.0-0): {exc}",
            code="renderer_missing",
        ) from None

    _keep_font_timestamps()
    root = static_root()
    # Layout makes many short-lived objects; each automatic collection would also walk
    # every long-lived object of the worker (Django, the imported libraries). One
    # collection afterwards frees the same memory for much less time.
    collecting = gc.isenabled()
    gc.disable()
    try:
        document = HTML(
            string=html, base_url=root.as_uri() + "/", url_fetcher=static_fetcher(root, refused)
        ).render()
        pdf = document.write_pdf(attachments=attachments or [], **PDF_OPTIONS)
        return pdf, len(document.pages)
    finally:
        if collecting:
            gc.enable()
        gc.collect()


def snapshot_bytes(snapshot: dict[str, Any]) -> bytes:
    """The snapshot as the pack carries it: canonical JSON, whose parse hashes back to the
    pack's snapshot_sha256."""
    return json.dumps(snapshot, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def snapshot_attachment(pack: ApprovalPack):
    from weasyprint import Attachment

    # Dated by the request, not the clock, so the same pack lays out the same bytes.
    when = datetime.fromisoformat(pack.snapshot["meta"]["requested_at"])
    return Attachment(
        string=snapshot_bytes(pack.snapshot),
        name=SNAPSHOT_NAME,
        description=f"The snapshot of approval pack {pack.pk}: the evidence it shows, as JSON",
        relationship="Data",
        created=when,
        modified=when,
    )


def _render_work(pack: ApprovalPack, progress: Progress):
    key, cert = signing_identity()  # before the work: a missing key fails the job at once
    progress(5, "Laying out the pack")
    html = pack_html(pack.snapshot, pack.pk, pack.snapshot_sha256)
    progress(20, "Rendering the PDF")
    refused: list[str] = []
    pdf, pages = render_pdf(html, refused, [snapshot_attachment(pack)])
    progress(90, "Signing the PDF")
    pdf = pack_sign(
        pdf,
        key_path=key,
        cert_path=cert,
        key_passphrase=signing_passphrase(),
        reason=f"Approval pack {pack.pk} of {pack.project.name}, as rendered by Stagegate",
        location=settings.SITE_URL,
    )
    digest = hashlib.sha256(pdf).hexdigest()

    def store() -> None:
        name = f"approval-pack-{pack.pk}-{digest[:12]}.pdf"
        with storage_errors(name):
            pack.pdf.save(name, ContentFile(pdf), save=False)
        ApprovalPack.objects.filter(pk=pack.pk).update(
            html=html, pdf=pack.pdf.name, pdf_sha256=digest, pdf_bytes=len(pdf), pages=pages
        )
        event_record(
            actor=pack.requested_by,
            verb="pack.rendered",
            target=pack,
            project=pack.project,
            payload={
                "pdf_sha256": digest,
                "pages": pages,
                "snapshot_sha256": pack.snapshot_sha256,
                "refused_urls": refused,
            },
        )

    return store


def pack_render(*, pack_id: int) -> None:
    job_run(ApprovalPack, pack_id, _render_work, on_failure=job_failed_record("pack.failed"))
