"""The project's section navigation, shown on the project page and on each page that is one
of its sections (the page says which, and that section is marked current)."""

from __future__ import annotations

from django import template
from django.urls import reverse

from projects.models import Project

register = template.Library()

#: Section key -> its label, in the order a project is worked through.
SECTIONS = {
    "overview": "Overview",
    "data": "Data",
    "baselines": "Baselines",
    "models": "Models",
    "audits": "Audits",
    "risks": "Risks",
    "criteria": "Criteria",
    "packs": "Packs",
    "deployment": "Deployment",
    "monitoring": "Monitoring",
}


def section_urls(project: Project) -> dict[str, str]:
    """Where each section opens. Deployment and monitoring open the newest deployment (its
    page, its dashboard) once there is one; until then the project page's panel."""
    page = project.get_absolute_url()
    by_slug = {
        "baselines": "baseline-list",
        "models": "model-list",
        "audits": "audit-settings",
        "risks": "risk-list",
        "criteria": "criteria",
        "packs": "pack-list",
    }
    urls = {"overview": page, "data": f"{page}#data"}
    urls.update({key: reverse(name, args=[project.slug]) for key, name in by_slug.items()})
    newest = project.deployments.order_by("-pk").values_list("pk", flat=True).first()
    if newest is None:
        urls["deployment"] = urls["monitoring"] = f"{page}#deployments"
    else:
        urls["deployment"] = reverse("deployment", args=[newest])
        urls["monitoring"] = reverse("deployment-dashboard", args=[newest])
    return urls


@register.inclusion_tag("projects/_sections.html")
def project_sections(project: Project, current: str = "overview") -> dict:
    if current not in SECTIONS:
        raise template.TemplateSyntaxError(f"Unknown project section {current!r}.")
    urls = section_urls(project)
    return {
        "sections": [(key, label, urls[key]) for key, label in SECTIONS.items()],
        "current": current,
    }
