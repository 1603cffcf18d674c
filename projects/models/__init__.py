from projects.models.events import Event, EventExport, EventHead
from projects.models.teams import (
    Membership,
    Project,
    ProjectGroupObjectPermission,
    ProjectShare,
    ProjectUserObjectPermission,
    Role,
    Team,
    TeamGroupObjectPermission,
    TeamUserObjectPermission,
)
from projects.models.tokens import ApiToken

__all__ = [
    "ApiToken",
    "Event",
    "EventExport",
    "EventHead",
    "Membership",
    "Project",
    "ProjectGroupObjectPermission",
    "ProjectShare",
    "ProjectUserObjectPermission",
    "Role",
    "Team",
    "TeamGroupObjectPermission",
    "TeamUserObjectPermission",
]
