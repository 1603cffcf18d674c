from django.urls import path

from audits import views

urlpatterns = [
    path("projects/<slug:slug>/risks/", views.risk_list, name="risk-list"),
    path("projects/<slug:slug>/risks/starter/", views.risk_starter, name="risk-starter"),
    path("risks/<int:pk>/edit/", views.risk_edit, name="risk-edit"),
]
