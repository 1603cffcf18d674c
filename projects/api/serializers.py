"""API shapes. Fields are named one by one; owner, stage, hashes and times are read-only."""

from __future__ import annotations

from rest_framework import serializers

from portal.api.schema import json_of
from portal.inputs import LONG_TEXT_MAX
from projects import selectors
from projects.api.shapes import OBJECT
from projects.models import Event, EventExport, Membership, Project, ProjectShare, Role, Team


class TeamSerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["slug", "name", "description", "created_at"]
        read_only_fields = fields


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)
    full_name = serializers.SerializerMethodField()
    job_title = serializers.SerializerMethodField()
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "team", "username", "full_name", "job_title", "role", "is_admin"]
        fields += ["created_at"]
        read_only_fields = fields

    def get_full_name(self, membership: Membership) -> str:
        return membership.user.get_full_name()

    def get_job_title(self, membership: Membership) -> str:
        return selectors.job_title(membership.user)


class ProfileSerializer(serializers.Serializer):
    """The caller's own name and job title, as packs and trails show them."""

    username = serializers.CharField(read_only=True)
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    full_name = serializers.CharField(read_only=True)
    job_title = serializers.CharField(max_length=120, required=False, allow_blank=True)

    @staticmethod
    def of(user) -> dict:
        return {
            "username": user.get_username(),
            "first_name": user.first_name,
            "last_name": user.last_name,
            "full_name": user.get_full_name(),
            "job_title": selectors.job_title(user),
        }


class MembershipCreateSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Role.choices)
    is_admin = serializers.BooleanField(default=False)


class MembershipChangeSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices, required=False)
    is_admin = serializers.BooleanField(required=False)


class ProjectSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    url = serializers.HyperlinkedIdentityField(view_name="api-project-detail", lookup_field="slug")
    candidate_model = serializers.HyperlinkedRelatedField(
        view_name="api-model-detail",
        read_only=True,
        allow_null=True,
        help_text="The model version the gate and the criteria judge (marked by the team).",
    )
    cycle = serializers.IntegerField(
        read_only=True,
        help_text="Starts at 1; each return to prototyping from deployment or monitoring "
        "starts the next cycle, whose gates count only its own evidence.",
    )

    class Meta:
        model = Project
        fields = [
            "url",
            "slug",
            "name",
            "description",
            "intended_use",
            "out_of_scope_use",
            "limitations",
            "task_type",
            "stage",
            "cycle",
            "team",
            "candidate_model",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ProjectCreateSerializer(serializers.Serializer):
    team = serializers.SlugField(max_length=60, help_text="Slug of the team that owns the project.")
    slug = serializers.SlugField(max_length=80)
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=LONG_TEXT_MAX
    )
    task_type = serializers.ChoiceField(
        choices=Project.TaskType.choices, default=Project.TaskType.CLASSIFICATION
    )


class ProjectUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=LONG_TEXT_MAX)
    intended_use = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=LONG_TEXT_MAX,
        help_text="Who uses the model's output, for which decision; shown in the approval pack.",
    )
    out_of_scope_use = serializers.CharField(
        required=False, allow_blank=True, max_length=LONG_TEXT_MAX
    )
    limitations = serializers.CharField(required=False, allow_blank=True, max_length=LONG_TEXT_MAX)
    task_type = serializers.ChoiceField(choices=Project.TaskType.choices, required=False)


class CheckSerializer(serializers.Serializer):
    name = serializers.CharField()
    passed = serializers.BooleanField()
    detail = serializers.CharField()
    key = serializers.CharField(help_text="What the check is about, stable across wordings.")
    next_step = serializers.CharField(
        allow_null=True, help_text="What to do next while the check fails; null when it passes."
    )
    next_url = serializers.CharField(
        allow_null=True, help_text="The web page where that step is taken."
    )


class GateSerializer(serializers.Serializer):
    stage = serializers.CharField()
    target = serializers.CharField()
    passed = serializers.BooleanField()
    checks = CheckSerializer(many=True)


class TransitionSerializer(serializers.Serializer):
    to = serializers.CharField(max_length=20, help_text="The stage to move to.")
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=2000,
        help_text="Why the project moves; a move without a reason is refused (400).",
    )


class EventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_label", read_only=True)
    project = serializers.SlugRelatedField(
        slug_field="slug",
        read_only=True,
        allow_null=True,
        help_text="Null for a team's or the portal's events.",
    )
    payload = json_of(OBJECT, read_only=True)

    class Meta:
        model = Event
        fields = [
            "chain",
            "seq",
            "created_at",
            "actor",
            "verb",
            "target_type",
            "target_id",
            "project",
            "payload",
            "prev_hash",
            "hash",
        ]
        read_only_fields = fields


class ShareSerializer(serializers.ModelSerializer):
    """Shared with a team or with one person: the other is null."""

    team = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    username = serializers.CharField(
        source="user.username", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = ProjectShare
        fields = ["id", "team", "username", "role", "created_at"]
        read_only_fields = fields


class ShareCreateSerializer(serializers.Serializer):
    team = serializers.SlugField(
        max_length=60, required=False, help_text="Share with this team ..."
    )
    username = serializers.CharField(
        max_length=150, required=False, help_text="... or with this person."
    )
    role = serializers.ChoiceField(choices=Role.choices)

    def validate(self, attrs):
        if ("team" in attrs) == ("username" in attrs):
            raise serializers.ValidationError("Give either a team or a username.")
        return attrs


class EventExportSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-event-export-detail")
    download = serializers.SerializerMethodField()
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = EventExport
        fields = [
            "url",
            "id",
            "project",
            "status",
            "progress",
            "message",
            "error",
            "rows",
            "sha256",
            "created_at",
            "started_at",
            "finished_at",
            "download",
        ]
        read_only_fields = fields

    def get_download(self, export: EventExport) -> str | None:
        if export.status != EventExport.Status.SUCCEEDED:
            return None
        from django.urls import reverse

        request = self.context["request"]
        return request.build_absolute_uri(reverse("api-event-export-download", args=[export.pk]))
