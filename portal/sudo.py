"""Recent password confirmation, as GitHub's sudo mode: signing, approving, reviewing and
granting exceptions in a signed-in session need the password entered within
``SUDO_SECONDS`` (15 minutes). Signing in counts as entering it; the confirmation page
renews it. API calls with a token are a program's, not a session's, and are not asked."""

from __future__ import annotations

import time

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from rest_framework.authentication import SessionAuthentication

from portal.exceptions import Forbidden

SESSION_KEY = "password_confirmed_at"


class PasswordRequired(Forbidden):
    code = "password_required"

    def __init__(self) -> None:
        minutes = settings.SUDO_SECONDS // 60
        super().__init__(
            f"Enter your password again: signing, approving, reviewing and exceptions need it "
            f"entered within the last {minutes} minutes ({reverse('password-confirm')}).",
            code=self.code,
        )


@receiver(user_logged_in)
def _confirmed_at_login(sender, request, user, **kwargs) -> None:
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_KEY] = time.time()


def password_fresh(request: HttpRequest) -> bool:
    confirmed = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    return isinstance(confirmed, int | float) and time.time() - confirmed < settings.SUDO_SECONDS


def require_recent_password(request: HttpRequest, token=None) -> None:
    """Refuse (403 ``password_required``) a signed-in session whose password is older than
    ``SUDO_SECONDS``. Only sessions are asked: not a call with an API token, nor one an
    API authenticator other than the session's let in."""
    authenticator = getattr(request, "successful_authenticator", None)  # an API request's
    by_session = authenticator is None or isinstance(authenticator, SessionAuthentication)
    if token is None and by_session and not password_fresh(request):
        raise PasswordRequired()


class ConfirmForm(forms.Form):
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )


def _next(request: HttpRequest) -> str:
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    safe = url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return wanted if safe and wanted.startswith("/") else reverse("home")


@login_required
def password_confirm(request: HttpRequest) -> HttpResponse:
    """Enter the password again; then back to the page that asked."""
    form = ConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        # Through authenticate, so failed attempts count towards the login lockout.
        user = authenticate(
            request, username=request.user.get_username(), password=form.cleaned_data["password"]
        )
        if user is not None and user.pk == request.user.pk:
            request.session[SESSION_KEY] = time.time()
            messages.success(request, "Password confirmed; go ahead.")
            return redirect(_next(request))
        form.add_error("password", "That is not your password.")
    return render(
        request,
        "registration/password_confirm.html",
        {"form": form, "next": _next(request), "minutes": settings.SUDO_SECONDS // 60},
    )
