"""The risk register: failure modes added, edited and pulled in from the starter list."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction

from audits.analysis.audit_config import WATCHING_CHECKS
from audits.analysis.risks import SCALE, STARTER_RISKS, is_high
from audits.analysis.risks import severity as severity_of
from audits.models import RiskItem
from audits.services.exceptions import (
    exception_clean,
    require_business_owner,
    risk_exception_grant,
)
from portal.exceptions import ApplicationError, Conflict
from projects.models import Project
from projects.services.events import changes_record, event_record

if TYPE_CHECKING:
    from projects.models import ApiToken


RISK_FIELDS = (
    "title",
    "description",
    "category",
    "likelihood",
    "impact",
    "mitigation",
    "owner",
    "status",
    "rationale",
    "audit_checks",
)


def _check_risk(fields: dict) -> None:
    unknown = set(fields) - set(RISK_FIELDS)
    if unknown:
        raise ApplicationError(f"Unknown fields: {', '.join(sorted(unknown))}.")
    for key in ("likelihood", "impact"):
        if key in fields and fields[key] not in SCALE:
            raise ApplicationError(f"{key.title()} runs from 1 to 5.", code="invalid")
    checks = fields.get("audit_checks", [])
    if not isinstance(checks, list) or not set(checks) <= set(WATCHING_CHECKS):
        raise ApplicationError(
            f"audit_checks lists audit thresholds: {', '.join(WATCHING_CHECKS)}.", code="invalid"
        )
    if fields.get("status") == RiskItem.Status.ACCEPTED and not fields.get("rationale", "").strip():
        raise ApplicationError(
            "An accepted risk needs the rationale for accepting it.", code="rationale_missing"
        )


def _exception_needed(
    actor, project: Project, fields: dict, exception: dict | None, holding, token
) -> dict | None:
    """The cleaned exception a write must grant, or None. Accepting a high or critical risk
    takes a business owner and an exception, unless one holds for the risk already; an
    exception anywhere else is refused, so nothing is granted by mistake. ``holding`` is
    the risk's exception in force, if any: a second one while it holds is refused, as for
    criteria, so repeated saves do not pile up grants."""
    needed = fields.get("status") == RiskItem.Status.ACCEPTED and is_high(
        fields["likelihood"], fields["impact"]
    )
    if needed and holding is not None and exception is not None:
        require_business_owner(actor, project, "a high or critical risk", token)
        raise Conflict(
            f"This risk is accepted as an exception until {holding.expires_on} already.",
            code="excepted_already",
        )
    if not needed or (holding is not None and exception is None):
        if exception is not None:
            raise ApplicationError(
                "An exception is for accepting a high or critical risk; this risk is "
                f"{'not accepted' if fields.get('status') != 'accepted' else 'not high'}.",
                code="exception_not_needed",
            )
        return None
    require_business_owner(actor, project, "a high or critical risk", token)
    if exception is None:
        raise ApplicationError(
            "A high or critical risk is accepted only as an exception: give its finding, "
            "conditions (the compensating controls), an owner and the last day it holds.",
            code="exception_required",
        )
    return exception_clean(project, exception)


def risk_create(
    *,
    actor,
    project: Project,
    token: ApiToken | None = None,
    exception: dict | None = None,
    **fields,
) -> RiskItem:
    _check_risk(fields)
    whole = {"likelihood": 3, "impact": 3, **fields}
    cleaned = _exception_needed(actor, project, whole, exception, None, token)
    with transaction.atomic():
        risk = RiskItem.objects.create(project=project, created_by=actor, **fields)
        event_record(
            actor=actor,
            verb="risk.created",
            target=risk,
            project=project,
            token=token,
            payload={**fields, "severity": risk.severity},
        )
        if cleaned is not None:
            risk_exception_grant(actor=actor, risk=risk, cleaned=cleaned, token=token)
        return risk


def risk_update(
    *,
    actor,
    risk: RiskItem,
    token: ApiToken | None = None,
    exception: dict | None = None,
    **changes,
) -> RiskItem:
    with transaction.atomic():
        risk = (
            RiskItem.objects.select_for_update(no_key=True, of=("self",))
            .select_related("project")
            .get(pk=risk.pk)
        )
        # The rules about accepting are checked on the row as it will be.
        after = {**{k: getattr(risk, k) for k in RISK_FIELDS}, **changes}
        _check_risk(after)
        newest = risk.exceptions.order_by("-created_at", "-pk").first()
        holding = newest if newest is not None and newest.holds else None
        cleaned = _exception_needed(actor, risk.project, after, exception, holding, token)
        severity = severity_of(after["likelihood"], after["impact"])
        changes_record(
            actor=actor,
            target=risk,
            changes=changes,
            verb="risk.updated",
            project=risk.project,
            token=token,
            payload={"severity": severity},
        )
        if cleaned is not None:
            risk_exception_grant(actor=actor, risk=risk, cleaned=cleaned, token=token)
        return risk


def risk_starter_import(*, actor, project: Project, token: ApiToken | None = None) -> int:
    """Add the starter list's failure modes the project does not have yet; how many."""
    with transaction.atomic():
        Project.objects.select_for_update(no_key=True).filter(pk=project.pk).first()
        present = set(project.risks.values_list("starter_key", flat=True))
        added = [
            RiskItem.objects.create(
                project=project,
                title=item.title,
                description=item.description,
                category=item.category,
                likelihood=item.likelihood,
                impact=item.impact,
                mitigation=item.mitigation,
                starter_key=item.key,
                audit_checks=list(item.audit_checks),
                created_by=actor,
            )
            for item in STARTER_RISKS
            if item.key not in present
        ]
        if added:
            event_record(
                actor=actor,
                verb="risk.starter_imported",
                target=project,
                project=project,
                token=token,
                payload={"added": [r.starter_key for r in added]},
            )
        return len(added)
