"""Teams, memberships, projects and the grants that share a project beyond its team."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase


class Role(models.TextChoices):
    BUSINESS_OWNER = "business_owner", "Business owner"
    ML_ENGINEER = "ml_engineer", "ML engineer"
    AUDITOR = "auditor", "Auditor"
    VIEWER = "viewer", "Viewer"


class Team(models.Model):
    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("create_project", "Can create projects in the team"),
            ("manage_team", "Can manage the team's memberships"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("team-detail", args=[self.slug])


class Membership(models.Model):
    Role = Role

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role)
    is_admin = models.BooleanField(
        default=False, help_text="Team admins add, change and remove the team's members."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["team__name", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="membership_once_per_team"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} as {self.get_role_display()}"


class Project(models.Model):
    class Stage(models.TextChoices):
        PROTOTYPING = "prototyping", "Prototyping"
        DEPLOYMENT = "deployment", "Deployment"
        MONITORING = "monitoring", "Monitoring"
        RETIRED = "retired", "Retired"

    class TaskType(models.TextChoices):
        CLASSIFICATION = "classification", "Classification"
        REGRESSION = "regression", "Regression"
        OTHER = "other", "Other"

    # Projects keep their audit trail, so they are retired rather than deleted.
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="projects")
    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    #: What the model is for, what it must not be used for, and what it is known not to do:
    #: the approval pack's decision memo and the model card state them.
    intended_use = models.TextField(blank=True)
    out_of_scope_use = models.TextField(blank=True)
    limitations = models.TextField(blank=True)
    task_type = models.CharField(max_length=20, choices=TaskType, default=TaskType.CLASSIFICATION)
    stage = models.CharField(max_length=20, choices=Stage, default=Stage.PROTOTYPING, db_index=True)
    #: Each return from monitoring to prototyping starts a new cycle; evidence of earlier
    #: cycles is kept and never counts towards the gates of this one.
    cycle = models.PositiveIntegerField(default=1)
    #: The model version the team puts forward: the gate and the criteria judge this one.
    candidate_model = models.ForeignKey(
        "projects.ModelVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("transition_project", "Can move the project to another stage"),
            ("audit_project", "Can review the project's audits"),
            ("share_project", "Can share the project with other teams and people"),
            ("signoff_business_project", "Can sign off criteria as the business owner"),
            ("signoff_ml_project", "Can sign off criteria as the ML engineer"),
            ("measure_business_project", "Can enter business measurements"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("project-detail", args=[self.slug])


class ProjectShare(models.Model):
    """A role on one project granted to another team or to a single person."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="shares")
    team = models.ForeignKey(
        Team, on_delete=models.CASCADE, null=True, blank=True, related_name="shared_projects"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="shared_projects",
    )
    role = models.CharField(max_length=20, choices=Role)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(team__isnull=True) ^ Q(user__isnull=True),
                name="share_to_team_or_user",
            ),
            models.UniqueConstraint(
                fields=["project", "team"], condition=Q(team__isnull=False), name="share_team_once"
            ),
            models.UniqueConstraint(
                fields=["project", "user"], condition=Q(user__isnull=False), name="share_user_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project} shared with {self.team or self.user} as {self.role}"


# Direct foreign keys: grants die with their object and lookups use an index.
class ProjectUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Project, on_delete=models.CASCADE)


class ProjectGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Project, on_delete=models.CASCADE)


class TeamUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Team, on_delete=models.CASCADE)


class TeamGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Team, on_delete=models.CASCADE)
