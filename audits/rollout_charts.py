"""Charts of a rollout's analysed windows in an approval pack: the pushed points read for
the snapshot, and the SVG drawn from them when the pack is laid out.

The charts are the deployment page's (:mod:`deployments.analysis.charts`, fed by
:mod:`deployments.series`): one metric over one analysed window, each target the analysis
judged drawn as a dashed line with its verdict. A pack charts the newest analysis of each
step of each rollout, the last :data:`MAX_CHARTED` of them (:func:`charted_analyses`);
every analysis keeps its table of checks.

The points are read once, when the pack is asked for (:func:`chart_series`), and kept in
the snapshot beside the state, not in it: the analysis, hashed and in the state, is the
judgement of those points, and reading every window on each gate check would cost a scan
of each. Laying the pack out again draws the same SVG from the same stored numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from deployments.analysis.catalog import metric_info
from deployments.analysis.charts import MetricSeries, Target, chart_description, window_chart_svg
from deployments.models import Analysis
from deployments.series import chart_window, window_series
from projects.analysis.metric_names import words

#: Values per metric a chart keeps (time buckets over the window): plenty for a chart half
#: a page wide, and a few kilobytes of snapshot each.
CHART_POINTS = 150
#: At most this many analyses charted, the newest: two five-step canaries and a retry or
#: two (each analysis draws one chart per metric it checks, two charts to a row).
MAX_CHARTED = 12
#: Drawn two to a row on A4: wide enough for a target's label, small enough to stay sharp.
CHART_WIDTH = 380
CHART_HEIGHT = 190


def charted_analyses(deployment: dict[str, Any] | None) -> list[int]:
    """Ids of the analyses a pack charts: the newest of each step of each rollout of the
    state's ``deployment`` (a step tried again shows its last try), oldest first, the last
    :data:`MAX_CHARTED` of them."""
    if not deployment:
        return []
    chosen = []
    for rollout in deployment["rollouts"]:
        newest: dict[int, int] = {}
        for analysis in rollout["analyses"]:
            newest[analysis["step"]] = analysis["id"]
        chosen += sorted(newest.values())
    return chosen[-MAX_CHARTED:]


def _rounded(values: Iterable[float], digits: int = 6) -> list[float]:
    return [float(f"{value:.{digits}g}") for value in values]


def chart_series(state: dict[str, Any]) -> list[dict[str, Any]]:
    """For each charted analysis of ``state`` (a pack's state): its window and, per metric
    it checks (in the order of its checks), the targets it was judged against and the
    pushed points of the window in at most :data:`CHART_POINTS` time buckets."""
    ids = charted_analyses(state.get("deployment"))
    if not ids:
        return []
    analyses = Analysis.objects.select_related("rollout__deployment").in_bulk(ids)
    charts = []
    for pk in ids:
        analysis = analyses[pk]
        window = chart_window(None, analysis=analysis)
        series = window_series(
            analysis.rollout.deployment,
            window.targets,
            window.start,
            window.end,
            max_points=CHART_POINTS,
        )
        charts.append(
            {
                "analysis": pk,
                "start": window.start.isoformat(),
                "end": window.end.isoformat(),
                "metrics": [
                    {
                        "metric": metric,
                        "targets": [asdict(target) for target in targets],
                        "series": {
                            "times": [round(t, 3) for t in series[metric].times],
                            "values": _rounded(series[metric].values),
                            "lows": _rounded(series[metric].lows),
                            "highs": _rounded(series[metric].highs),
                            "counts": list(series[metric].counts),
                        },
                    }
                    for metric, targets in window.targets.items()
                ],
            }
        )
    return charts


def _label(metric: str) -> tuple[str, str | None]:
    info = metric_info(metric)
    if info is not None:
        return info.label, info.unit
    return words(metric), None


def analysis_charts(charts: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """Analysis id -> its charts (label, SVG, the same in words, number of points), drawn
    from what :func:`chart_series` stored."""
    drawn: dict[int, list[dict[str, Any]]] = {}
    for chart in charts:
        start = datetime.fromisoformat(chart["start"])
        end = datetime.fromisoformat(chart["end"])
        figures = []
        for item in chart["metrics"]:
            stored = item["series"]
            series = MetricSeries(
                item["metric"],
                tuple(stored["times"]),
                tuple(stored["values"]),
                tuple(stored["lows"]),
                tuple(stored["highs"]),
                tuple(stored["counts"]),
            )
            targets = [Target(**target) for target in item["targets"]]
            label, unit = _label(item["metric"])
            if unit is None:
                unit = targets[0].unit if targets else ""
            window = {"window_start": start, "window_end": end, "unit": unit}
            figures.append(
                {
                    "metric": item["metric"],
                    "label": label,
                    "points": series.points,
                    "svg": window_chart_svg(
                        series,
                        targets,
                        title=label,
                        width=CHART_WIDTH,
                        height=CHART_HEIGHT,
                        **window,
                    ),
                    "description": chart_description(series, targets, label=label, **window),
                }
            )
        drawn[chart["analysis"]] = figures
    return drawn
