"""Staff manage teams and memberships here. Writes go through the services, so the
grants and the audit trail stay right whatever page they come from."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group

from projects import selectors
from projects.models import ApiToken, Event, Membership, Profile, Project, Team
from projects.services import teams

# Team role groups are managed through memberships; editing them by hand would grant
# rights that no membership, gate or audit event knows about.
admin.site.unregister(Group)


class ProfileInline(admin.StackedInline):
    """The job title beside the user's name, as packs and trails show them."""

    model = Profile
    can_delete = False
    fields = ["job_title"]


class PersonAdmin(UserAdmin):
    inlines = [*UserAdmin.inlines, ProfileInline]
    list_display = ["username", "first_name", "last_name", "job_title", "email", "is_staff"]
    list_select_related = ["profile"]

    @admin.display(description="Job title")
    def job_title(self, user) -> str:
        return selectors.job_title(user)

    # A name or title edited here is recorded as the profile page's are: packs and trails
    # show them. The values before are kept on the object being saved (one per request).
    def save_model(self, request, obj, form, change) -> None:
        obj._profile_before = teams.profile_values(obj) if change else {}
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        user = form.instance
        teams.profile_change_record(
            actor=request.user, user=user, before=getattr(user, "_profile_before", {})
        )


admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), PersonAdmin)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ["user", "role", "is_admin"]
    readonly_fields = ["user", "role", "is_admin"]
    can_delete = False
    show_change_link = True


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    fields = ["name", "slug", "description"]
    search_fields = ["name", "slug"]
    inlines = [MembershipInline]

    def get_readonly_fields(self, request, obj=None):
        return ["slug"] if obj else []

    def get_prepopulated_fields(self, request, obj=None):
        # A read-only slug has no form field to fill; naming it breaks the change page.
        return {} if obj else {"slug": ["name"]}

    def save_model(self, request, obj, form, change):
        if change:
            teams.team_update(
                actor=request.user, team=obj, name=obj.name, description=obj.description
            )
            return
        created = teams.team_create(
            actor=request.user, slug=obj.slug, name=obj.name, description=obj.description
        )
        obj.pk = created.pk


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "team", "role", "is_admin"]
    fields = ["team", "user", "role", "is_admin"]
    list_filter = ["team", "role"]
    search_fields = ["user__username", "team__name"]
    autocomplete_fields = ["user", "team"]

    def get_readonly_fields(self, request, obj=None):
        return ["team", "user"] if obj else []

    def save_model(self, request, obj, form, change):
        if change:
            teams.membership_change(
                actor=request.user,
                membership=Membership.objects.get(pk=obj.pk),
                role=obj.role,
                is_admin=obj.is_admin,
            )
        else:
            created = teams.membership_add(
                actor=request.user,
                team=obj.team,
                user=obj.user,
                role=obj.role,
                is_admin=obj.is_admin,
            )
            obj.pk = created.pk

    def delete_model(self, request, obj):
        teams.membership_remove(actor=request.user, membership=obj)

    def delete_queryset(self, request, queryset):
        for membership in queryset:
            teams.membership_remove(actor=request.user, membership=membership)


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "team", "stage", "task_type"]
    list_filter = ["stage", "team"]
    search_fields = ["name", "slug"]
    # Stage moves through the gate; projects are retired, not deleted.
    readonly_fields = [
        "team",
        "slug",
        "name",
        "description",
        "task_type",
        "stage",
        "created_by",
        "created_at",
        "updated_at",
    ]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["chain", "seq", "created_at", "actor_label", "verb", "target_type", "target_id"]
    list_filter = ["verb"]
    search_fields = ["verb", "actor_label", "target_id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["prefix", "name", "user", "project", "expires_at", "revoked_at"]
    readonly_fields = [
        "user",
        "name",
        "prefix",
        "project",
        "scopes",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    ]
    exclude = ["digest"]

    # Tokens are revoked on the tokens page, which keeps the row and writes an event.
    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
