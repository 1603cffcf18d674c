"""Account pages: the lockout page, password change, and password reset by email.

Django's own views with the portal's templates. Two additions: the reset email links to
``SITE_URL`` (not to whatever Host header the request carried), and a completed reset
lifts the person's login lockout, since they have just proved they own the address.
"""

from __future__ import annotations

import math

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_username, get_cool_off
from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone

from portal import sudo


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None
) -> HttpResponse:
    """The page (429) for a username and address that failed too often: when they can try
    again, and that an administrator can lift the lock sooner. Axes calls this."""
    now = timezone.now()
    cool_off = get_cool_off(request)
    attempts = AxesProxyHandler.get_implementation().get_user_attempts(request, credentials)
    latest = [qs.aggregate(last=Max("attempt_time"))["last"] for qs in attempts]
    last = max((t for t in latest if t is not None), default=now)
    # Failures during a lockout are not counted, so it ends a fixed time after the last one.
    retry_at = max(last + cool_off, now)
    seconds = math.ceil((retry_at - now).total_seconds())
    context = {
        "username": get_client_username(request, credentials) or "",
        "retry_at": retry_at,
        "minutes": max(1, math.ceil(seconds / 60)),
    }
    response = render(
        request, "registration/lockout.html", context, status=settings.AXES_HTTP_RESPONSE_CODE
    )
    response["Retry-After"] = str(seconds)
    return response


class PasswordResetView(auth_views.PasswordResetView):
    # The same page and no email for an unknown address: the form says nothing either way.
    template_name = "registration/password_reset.html"
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_email_subject.txt"

    @property
    def extra_email_context(self) -> dict:
        return {"site_url": settings.SITE_URL.rstrip("/")}


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "registration/password_reset_new.html"

    def form_valid(self, form):
        response = super().form_valid(form)
        axes_reset(username=self.user.get_username())
        return response


urlpatterns = [
    path("confirm-password/", sudo.password_confirm, name="password-confirm"),
    path(
        "password_change/",
        auth_views.PasswordChangeView.as_view(template_name="registration/password_change.html"),
        name="password_change",
    ),
    path(
        "password_change/done/",
        auth_views.PasswordChangeDoneView.as_view(
            template_name="registration/password_changed.html"
        ),
        name="password_change_done",
    ),
    path("password_reset/", PasswordResetView.as_view(), name="password_reset"),
    path(
        "password_reset/done/",
        auth_views.PasswordResetDoneView.as_view(
            template_name="registration/password_reset_sent.html"
        ),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name="registration/password_reset_finished.html"
        ),
        name="password_reset_complete",
    ),
]
