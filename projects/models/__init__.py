from projects.models.criteria import BusinessMeasurement, CriteriaVersion, SignOff
from projects.models.datasets import Dataset, DatasetLineage, DatasetVersion
from projects.models.evaluations import Baseline, Evaluation, Metric, ModelVersion
from projects.models.events import Event, EventExport, EventHead
from projects.models.people import Profile
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
    "Baseline",
    "BusinessMeasurement",
    "CriteriaVersion",
    "Dataset",
    "DatasetLineage",
    "DatasetVersion",
    "Evaluation",
    "Event",
    "EventExport",
    "EventHead",
    "Membership",
    "Metric",
    "ModelVersion",
    "Profile",
    "Project",
    "ProjectGroupObjectPermission",
    "ProjectShare",
    "ProjectUserObjectPermission",
    "Role",
    "SignOff",
    "Team",
    "TeamGroupObjectPermission",
    "TeamUserObjectPermission",
]
