"""A person's own profile: the name and job title others see."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from projects import forms, selectors
from projects.services import teams

__all__ = ["profile"]


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    user = request.user
    initial = {
        "first_name": user.first_name,
        "last_name": user.last_name,
        "job_title": selectors.job_title(user),
    }
    # Bound on every POST: an empty one clears the fields, as a form with blanks would.
    form = forms.ProfileForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        changed = teams.profile_update(actor=user, **form.cleaned_data)
        messages.success(request, "Profile saved." if changed else "Nothing changed.")
        return redirect("profile")
    return render(
        request,
        "registration/profile.html",
        {
            "form": form,
            "who": selectors.person(user),
            "memberships": selectors.memberships_of(user),
        },
    )
