"""A project's snapshot as a model card in the Model Card Toolkit JSON schema, version 0.0.2.

Pure Python (no Django): it reads the plain-JSON state of :func:`audits.snapshot.pack_state`,
so a card can be made from a stored snapshot as well as from the live project.

Schema facts this module follows (``model_card_toolkit/schema/v0.0.2/model_card.schema.json``
of tensorflow/model-card-toolkit, as shipped in its 2.0.0 release):

* the top level allows only ``schema_version``, ``model_details``, ``model_parameters``,
  ``quantitative_analysis`` and ``considerations`` (``additionalProperties: false``), so
  anything else (when the card was made, the audit reviews, ...) goes in prose fields;
* ``model_parameters.data`` is a list of datasets (``name``, ``link``, ``sensitive``,
  ``graphics``, ``description``), not the ``train``/``eval`` object of schema 0.0.1;
* a performance metric's ``value`` and its ``confidence_interval`` bounds are strings;
* ``version.date`` has format ``date`` and ``reference``/``link`` have format ``uri``.

Numbers become strings with :func:`repr`: the shortest text that reads back as the same
float, so the card carries the stored precision and no rounding choice of ours.
Empty fields are left out, as the toolkit's own ``to_dict`` does.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from projects.analysis.metric_names import metric_name, metric_phrase

SCHEMA_VERSION = "0.0.2"

#: The slice name of a metric computed on the whole evaluation set.
OVERALL = "overall"

_VERDICTS = {
    "pass": "pass",
    "fail": "fail",
    "insufficient_evidence": "insufficient evidence",
    "reported": "reported (no thresholds apply)",
}


# --- small helpers --------------------------------------------------------------------------
def _number(value: Any) -> str | None:
    """A metric value as the schema wants it (a string), or None when there is none."""
    # bool is an int subclass, and NaN/inf are not measurements: neither becomes a metric.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return repr(value)


def _prose(value: Any) -> str:
    """A number for a sentence: four significant digits are enough to read a gap."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return format(value, ".4g")
    return str(value)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _clause(value: Any) -> str:
    """Free text to embed in a sentence of ours: trimmed, without its own final stop."""
    return _text(value).rstrip(".").rstrip()


def _date(value: Any) -> str:
    """The calendar date of an ISO timestamp ("" when unreadable), for ``format: date``."""
    try:
        return datetime.fromisoformat(value).date().isoformat()
    except (TypeError, ValueError):
        return ""


def _is_uri(value: str) -> bool:
    # ``format: uri`` needs an absolute URI: a scheme and something after it.
    parts = urlsplit(value)
    return bool(parts.scheme) and bool(parts.netloc or parts.path) and " " not in value


def _sentence(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def _prune(value: Any) -> Any:
    """Drop None, "", [] and {} recursively, as the toolkit's own to_dict does."""
    if isinstance(value, Mapping):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        pruned_items = [_prune(v) for v in value]
        return [v for v in pruned_items if v not in (None, "", [], {})]
    return value


def _project_url(project: Mapping[str, Any], site_url: str) -> str:
    slug = _text(project.get("slug"))
    if not site_url or not slug:
        return ""
    url = f"{site_url.rstrip('/')}/projects/{slug}/"
    return url if _is_uri(url) else ""


# --- model_details ---------------------------------------------------------------------------
def _owners(project: Mapping[str, Any], contact: str) -> list[dict[str, str]]:
    """Business owners, then ML engineers; one entry per person with all their roles."""
    roles: dict[str, list[str]] = {}
    # dict keeps insertion order: business owners first, each role's people sorted by name.
    for key, role in (("business_owners", "business owner"), ("ml_engineers", "ML engineer")):
        for user in sorted(project.get(key) or []):
            roles.setdefault(user, []).append(role)
    # People have no e-mail in the snapshot; the project page is where they are reached.
    return [{"name": f"{user} ({', '.join(r)})", "contact": contact} for user, r in roles.items()]


def _documentation(state: Mapping[str, Any], generated_at: str, url: str) -> str:
    """What the schema has no field for, as a few lines of prose."""
    project = state.get("project") or {}
    candidate = state.get("candidate") or {}
    model = candidate.get("model") or {}
    evaluation = candidate.get("evaluation") or {}
    audit = state.get("audit") or {}
    criteria = state.get("criteria") or {}
    lines = [
        _sentence(
            f"Project {_text(project.get('name'))} ({_text(project.get('slug'))})",
            f"of team {_text(project.get('team'))}," if project.get("team") else "",
            f"task type {_text(project.get('task_type'))}." if project.get("task_type") else "",
        )
    ]
    if model:
        lines.append(
            _sentence(
                f"Model {_text(model.get('name'))} {_text(model.get('version'))}",
                f"registered by {model['registered_by']}" if model.get("registered_by") else "",
                f"at {model['registered_at']}." if model.get("registered_at") else "",
                f"Code commit {model['code_commit']}." if model.get("code_commit") else "",
            )
        )
    else:
        lines.append("No candidate model is registered yet.")
    if evaluation:
        lines.append(
            _sentence(
                f"Evaluation {evaluation.get('id')} on {evaluation.get('dataset_version')}",
                f"({evaluation.get('rows')} rows, task {evaluation.get('task')})",
                f"at {evaluation.get('evaluated_at')}," if evaluation.get("evaluated_at") else "",
                f"sha256 {evaluation.get('sha256')}.",
            )
        )
    if audit:
        reviews = "; ".join(
            f"{r.get('reviewer')} {r.get('decision')}: {_clause(r.get('rationale'))}".rstrip(": ")
            for r in audit.get("reviews") or []
        )
        lines.append(
            _sentence(
                f"Fairness audit {audit.get('id')}, verdict",
                f"{_VERDICTS.get(audit.get('verdict'), audit.get('verdict'))}.",
                f"Reviews: {reviews}." if reviews else "Not reviewed yet.",
            )
        )
    if criteria:
        rows = "; ".join(
            f"{r.get('label')} {r.get('target')}: {str(r.get('status', '')).replace('_', ' ')}"
            + (f" ({_prose(r['value'])})" if _number(r.get("value")) is not None else "")
            for r in criteria.get("rows") or []
        )
        lines.append(f"Success criteria version {criteria.get('version')}: {rows}.")
    baselines = (state.get("baselines") or {}).get("recorded") or []
    if baselines:
        text = "; ".join(
            f"{b.get('name')} ({b.get('kind')}): {b.get('metric')} {_prose(b.get('value'))}"
            for b in sorted(baselines, key=lambda b: (str(b.get("name")), str(b.get("metric"))))
        )
        lines.append(f"Baselines: {text}.")
    lines.append(
        _sentence(f"Card generated by Stagegate at {generated_at}", f"from {url}" if url else "")
        + "."
    )
    return "\n".join(line for line in lines if line)


def _model_details(state: Mapping[str, Any], generated_at: str, url: str) -> dict[str, Any]:
    project = state.get("project") or {}
    model = (state.get("candidate") or {}).get("model") or {}
    artifact = _text(model.get("artifact_uri"))
    return {
        # Without a candidate, the card is the project's: it carries the project's name.
        "name": _text(model.get("name")) or _text(project.get("name")),
        "overview": _text(project.get("description")),
        "documentation": _documentation(state, generated_at, url),
        "owners": _owners(project, url),
        "version": {
            "name": _text(model.get("version")),
            "date": _date(model.get("registered_at")),
        },
        "references": [{"reference": url}] if url else [],
        "path": artifact,
    }


# --- model_parameters ------------------------------------------------------------------------
def _architecture(model: Mapping[str, Any]) -> str:
    parameters = model.get("parameters") or {}
    # json.dumps with sorted keys: the same parameters always read the same way.
    settings = ", ".join(
        f"{key}={json.dumps(parameters[key], sort_keys=True)}" for key in sorted(parameters)
    )
    return _sentence(
        _text(model.get("framework")) + ("." if model.get("framework") else ""),
        f"Parameters: {settings}." if settings else "",
    )


def _lineage_parents(lineage: Mapping[str, Any] | None) -> dict[str, list[str]]:
    """Dataset version label ("name vN") -> the labels of the versions it was made from."""
    if not lineage:
        return {}
    labels = {n.get("id"): n.get("label") for n in lineage.get("nodes") or []}
    parents: dict[str, list[str]] = {}
    for edge in lineage.get("edges") or []:
        parent, child = labels.get(edge[0]), labels.get(edge[1])
        if parent and child:
            parents.setdefault(child, []).append(parent)
    return {child: sorted(p) for child, p in parents.items()}


def _dataset(
    dataset: Mapping[str, Any], evaluated: str, parents: Mapping[str, list[str]], trained: str = ""
) -> dict[str, Any]:
    name = _text(dataset.get("name"))
    versions = sorted(dataset.get("versions") or [], key=lambda v: v.get("number") or 0)
    described = []
    for v in versions:
        label = f"{name} v{v.get('number')}"
        facts = [f"{v.get('rows')} rows", f"sha256 {v.get('sha256')}"]
        if v.get("status") != "succeeded":
            facts.append(f"status {v.get('status')}")
        if _text(v.get("code_reference")):
            facts.append(f"code {_text(v.get('code_reference'))}")
        if parents.get(label):
            facts.append(f"made from {', '.join(parents[label])}")
        if label == evaluated:
            facts.append("the evaluation set")
        if label == trained:
            facts.append("the model's training data")
        how = _clause(v.get("transformation"))
        described.append(f"v{v.get('number')} ({', '.join(facts)})" + (f": {how}" if how else ""))
    labelling = _sentence(
        f"Label column {dataset['label_column']}," if dataset.get("label_column") else "",
        f"labelled {_text(dataset.get('labeling_strategy')).lower()}"
        if dataset.get("labeling_strategy")
        else "",
    ).rstrip(",")
    description = _sentence(
        f"Purpose: {dataset['purpose']}." if dataset.get("purpose") else "",
        f"Source: {dataset['source']}." if dataset.get("source") else "",
        f"Owner: {dataset['owner']}." if dataset.get("owner") else "",
        f"Licence: {dataset['licence']}." if dataset.get("licence") else "",
        f"{labelling}." if labelling else "",
        f"{_clause(dataset.get('labeling_notes'))}."
        if _clause(dataset.get("labeling_notes"))
        else "",
        f"Versions: {'; '.join(described)}." if described else "No version uploaded.",
    )
    sensitive = sorted(f"{c} (sensitive feature)" for c in dataset.get("sensitive_columns") or [])
    sensitive += sorted(f"{c} (personal data)" for c in dataset.get("personal_data_columns") or [])
    # The newest version that says where it came from, when that is a real URI.
    link = next(
        (
            _text(v.get("source_uri"))
            for v in reversed(versions)
            if _text(v.get("source_uri")) and _is_uri(_text(v.get("source_uri")))
        ),
        "",
    )
    return {
        "name": name,
        "link": link,
        "sensitive": {"sensitive_data": sensitive},
        "description": description,
    }


def _model_parameters(state: Mapping[str, Any]) -> dict[str, Any]:
    candidate = state.get("candidate") or {}
    evaluation = candidate.get("evaluation") or {}
    evaluated = _text(evaluation.get("dataset_version"))
    parents = _lineage_parents(state.get("lineage"))
    datasets = sorted(state.get("datasets") or [], key=lambda d: str(d.get("name")))
    label = next(
        (
            _text(d.get("label_column"))
            for d in datasets
            if evaluated.startswith(f"{d.get('name')} v") and d.get("label_column")
        ),
        "",
    )
    task = _text(evaluation.get("task"))
    output = ""
    if task == "classification":
        output = f"A predicted class of {label}." if label else "A predicted class."
    elif task == "regression":
        output = f"A predicted value of {label}." if label else "A predicted number."
    return {
        "model_architecture": _architecture(candidate.get("model") or {}),
        "data": [
            _dataset(
                d, evaluated, parents, _text((candidate.get("model") or {}).get("training_data"))
            )
            for d in datasets
        ],
        "output_format": output,
    }


# --- quantitative_analysis -------------------------------------------------------------------
def _metric(kind: str, value: Any, slice_: str, interval: Any = None) -> dict[str, Any] | None:
    text = _number(value)
    if text is None:
        return None
    out: dict[str, Any] = {"type": kind, "value": text, "slice": slice_}
    if isinstance(interval, list | tuple) and len(interval) == 2:
        lower, upper = _number(interval[0]), _number(interval[1])
        if lower is not None and upper is not None:
            out["confidence_interval"] = {"lower_bound": lower, "upper_bound": upper}
    return out


def _features(audit: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    result = (audit or {}).get("result") or {}
    return sorted(result.get("features") or [], key=lambda f: str(f.get("feature")))


def _judged(audit: Mapping[str, Any] | None) -> dict[tuple[str, str], Any]:
    """(threshold, feature) -> the value its verdict judged: the figure the card repeats."""
    result = (audit or {}).get("result") or {}
    return {
        (str(v.get("threshold")), str(v.get("feature"))): v.get("value")
        for v in result.get("verdicts") or []
    }


def _headline_values(feature: Mapping[str, Any], judged: Mapping) -> dict[str, Any]:
    """A feature's headline gaps, each the very number its verdict judged when it has one
    (an older result computed the headline over other groups than the verdict did)."""
    name = str(feature.get("feature"))
    out = {}
    for metric, entry in (feature.get("summary") or {}).items():
        entry = dict(entry or {})
        if (metric, name) in judged and judged[(metric, name)] is not None:
            entry["value"] = judged[(metric, name)]
        out[metric] = entry
    return out


def _metrics_of(values: Mapping[str, Any], slice_: str) -> list[dict[str, Any] | None]:
    """``{metric: {value, interval?}}`` as performance metrics of one slice, sorted by name."""
    out = []
    for name in sorted(values):
        entry = values[name] or {}
        out.append(_metric(name, entry.get("value"), slice_, entry.get("interval")))
    return out


def _performance_metrics(state: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Overall evaluation metrics, then every audit group metric, then each feature's gaps."""
    evaluation = (state.get("candidate") or {}).get("evaluation") or {}
    overall = evaluation.get("metrics") or {}
    # Sorted by name: a JSON store may hand the keys back in any order.
    found = [_metric(name, overall[name], OVERALL) for name in sorted(overall)]
    judged = _judged(state.get("audit"))
    for feature in _features(state.get("audit")):
        name = str(feature.get("feature"))
        for group in sorted(feature.get("groups") or [], key=lambda g: str(g.get("name"))):
            found += _metrics_of(group.get("metrics") or {}, f"{name}={group.get('name')}")
        # The headline gaps are computed across the feature's groups: that is their slice.
        found += _metrics_of(_headline_values(feature, judged), name)
    return [m for m in found if m is not None]


# --- considerations --------------------------------------------------------------------------
def _risks(state: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    # Most severe first, as the register shows them; the title breaks ties.
    return sorted(
        state.get("risks") or [], key=lambda r: (-(r.get("severity") or 0), str(r.get("title")))
    )


def _risk_facts(risk: Mapping[str, Any]) -> str:
    return ", ".join(
        part
        for part in (
            _text(risk.get("category")),
            f"severity {risk['severity']}" if risk.get("severity") is not None else "",
            _text(risk.get("band")),
        )
        if part
    )


def _limitations(state: Mapping[str, Any]) -> list[str]:
    project = state.get("project") or {}
    # What the team states first, then what the evidence shows.
    out = [
        text
        for text in (
            _text(project.get("limitations")),
            f"Out of scope: {_text(project.get('out_of_scope_use'))}"
            if _text(project.get("out_of_scope_use"))
            else "",
        )
        if text
    ]
    candidate = state.get("candidate") or {}
    if not candidate:
        out.append("No candidate model is registered, so nothing about a model is measured yet.")
    elif not candidate.get("evaluation"):
        out.append("The candidate model has no evaluation on record.")
    elif not state.get("audit"):
        out.append("No fairness audit of the candidate model is on record.")
    evaluation = candidate.get("evaluation") or {}
    if evaluation.get("on_training_data"):
        out.append(f"Evaluated on training data: {_text(evaluation['on_training_data'])}.")
    if evaluation.get("below_baseline"):
        out.append(_text(evaluation["below_baseline"].get("detail")))
    for risk in _risks(state):
        if str(risk.get("status", "")).lower() == "open":
            facts = _risk_facts(risk)
            out.append(
                f"Open risk: {_text(risk.get('title'))}" + (f" ({facts})." if facts else ".")
            )
    for row in (state.get("criteria") or {}).get("rows") or []:
        if row.get("status") == "not_met":
            out.append(
                f"Success criterion not met: {row.get('label')} {row.get('target')}. "
                f"{_text(row.get('detail'))}".strip()
            )
    result = (state.get("audit") or {}).get("result") or {}
    smallest = (result.get("thresholds") or {}).get("min_group_size") or result.get(
        "min_group_size"
    )
    for feature in _features(state.get("audit")):
        for group in sorted(feature.get("groups") or [], key=lambda g: str(g.get("name"))):
            count = group.get("count")
            if isinstance(smallest, int) and isinstance(count, int) and count < smallest:
                out.append(
                    f"Group {feature.get('feature')}={group.get('name')} has {count} rows, "
                    f"fewer than {smallest}: its metrics are too uncertain to judge a gap."
                )
    out += [_text(note) for note in result.get("notes") or [] if _text(note)]
    return out


def _tradeoffs(state: Mapping[str, Any]) -> list[str]:
    audit = state.get("audit") or {}
    if not audit:
        return []
    result = audit.get("result") or {}
    verdict = _VERDICTS.get(audit.get("verdict"), audit.get("verdict") or "not finished")
    out = [f"Fairness audit {audit.get('id')} verdict: {verdict}."]
    for v in sorted(
        result.get("verdicts") or [], key=lambda v: (str(v.get("feature")), str(v.get("threshold")))
    ):
        status = _VERDICTS.get(v.get("status"), v.get("status"))
        measured = (
            f", measured {_prose(v['value'])} against the limit {_prose(v.get('limit'))}"
            if _number(v.get("value"))
            else ""
        )
        left_out = "; ".join(f"{g} ({why})" for g, why in (v.get("groups_excluded") or {}).items())
        out.append(
            _sentence(
                f"{metric_name(v.get('threshold'))} for {v.get('feature')}: {status}{measured}.",
                _text(v.get("explanation")),
                f"Not judged: {left_out}." if left_out else "",
            )
        )
    judged = _judged(audit)
    for feature in _features(audit):
        # Classification audits have fairlearn-style headline gaps; regression audits only
        # have the per-metric differences between groups, which are the headline there.
        summary = _headline_values(feature, judged)
        gaps = {metric_phrase(m): (summary[m] or {}).get("value") for m in summary}
        if not gaps:
            disparities = feature.get("disparities") or {}
            gaps = {
                f"{metric_phrase(m)} difference": (
                    (disparities[m] or {}).get("difference") or {}
                ).get("value")
                for m in disparities
            }
        text = ", ".join(f"{m} {_prose(gaps[m])}" for m in sorted(gaps) if _number(gaps[m]))
        if text:
            out.append(f"Gaps between groups of {feature.get('feature')}: {text}.")
    return out


def _ethical_considerations(state: Mapping[str, Any]) -> list[dict[str, str]]:
    out = []
    for risk in _risks(state):
        status = _text(risk.get("status")) or "Open"
        strategy = _sentence(
            _text(risk.get("mitigation")),
            f"Status: {status}.",
            f"Owner: {risk['owner']}." if _text(risk.get("owner")) else "",
            f"Why accepted: {_text(risk.get('rationale'))}" if _text(risk.get("rationale")) else "",
        )
        out.append({"name": _text(risk.get("title")), "mitigation_strategy": strategy})
    return out


def _considerations(state: Mapping[str, Any]) -> dict[str, Any]:
    project = state.get("project") or {}
    description = _text(project.get("intended_use")) or _text(project.get("description"))
    team = _text(project.get("team"))
    return {
        # The snapshot names no audience; the owning team is the one user it does name.
        "users": [{"description": f"The {team} team, which owns this project."}] if team else [],
        "use_cases": [{"description": description}] if description else [],
        "limitations": [{"description": d} for d in _limitations(state)],
        "tradeoffs": [{"description": d} for d in _tradeoffs(state)],
        "ethical_considerations": _ethical_considerations(state),
    }


# --- the card --------------------------------------------------------------------------------
def model_card(
    state: Mapping[str, Any], *, generated_at: str, site_url: str = ""
) -> dict[str, Any]:
    """The model card of a project snapshot, as a JSON-ready dict (MCT schema 0.0.2).

    ``generated_at`` is written into the documentation text (the schema has no field for it);
    ``site_url`` makes the project page the card's reference and the owners' contact.
    The same state and arguments always give the same card.
    """
    url = _project_url(state.get("project") or {}, site_url)
    card = {
        "schema_version": SCHEMA_VERSION,
        "model_details": _model_details(state, generated_at, url),
        "model_parameters": _model_parameters(state),
        "quantitative_analysis": {"performance_metrics": _performance_metrics(state)},
        "considerations": _considerations(state),
    }
    return _prune(card)
