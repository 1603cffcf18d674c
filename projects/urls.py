from django.urls import path

from projects import views

urlpatterns = [
    path("", views.home, name="home"),
    path("projects/new/", views.project_create, name="project-create"),
    path("projects/<slug:slug>/", views.project_detail, name="project-detail"),
    path("projects/<slug:slug>/edit/", views.project_edit, name="project-edit"),
    path("projects/<slug:slug>/transition/", views.project_transition, name="project-transition"),
    path("projects/<slug:slug>/share/", views.project_share, name="project-share"),
    path("shares/<int:pk>/revoke/", views.share_revoke, name="share-revoke"),
    path("projects/<slug:slug>/exports/", views.export_create, name="export-create"),
    path("exports/<int:pk>/", views.export_status, name="export-status"),
    path("exports/<int:pk>/download/", views.export_download, name="export-download"),
    path("teams/<slug:slug>/", views.team_detail, name="team-detail"),
    path("teams/<slug:slug>/members/", views.membership_add, name="membership-add"),
    path("memberships/<int:pk>/", views.membership_change, name="membership-change"),
    path("memberships/<int:pk>/remove/", views.membership_remove, name="membership-remove"),
    path("tokens/", views.token_list, name="token-list"),
    path("tokens/<int:pk>/revoke/", views.token_revoke, name="token-revoke"),
]
