"""Brute-force protection: lockouts on both login pages, a throttle on invalid API tokens,
and the password change and reset pages a locked-out person is pointed to."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from portal.settings import env_int
from projects.models import Role
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LOGIN_PAGES = {"site": "/accounts/login/", "admin": "/admin/login/"}
LIMIT = 5
NEW_PASSWORD = "a-fresh-long-passphrase-42"
TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "registration"


@pytest.fixture(autouse=True)
def _limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT


@pytest.fixture
def alice():
    # Staff, so that the admin's login page lets her in once the password is right.
    return UserFactory(username="alice", email="alice@example.com", is_staff=True)


def log_in(client: Client, page: str, username: str, password: str, address="10.0.0.1"):
    data = {"username": username, "password": password}
    if page == "admin":
        data["next"] = "/admin/"
    return client.post(LOGIN_PAGES[page], data, REMOTE_ADDR=address)


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def fail(client: Client, page: str, username: str, times: int = LIMIT, address="10.0.0.1"):
    for _ in range(times):
        response = log_in(client, page, username, "wrong-password", address)
    return response


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_it_refuses_the_right_password_after_too_many_wrong_ones(client, alice, page):
    fail(client, page, "alice")
    response = log_in(client, page, "alice", PASSWORD)
    assert response.status_code == 429
    assert not logged_in(client)
    text = response.content.decode()
    assert "Too many failed log-ins" in text
    assert "15 minutes" in text
    assert "administrator" in text
    # Counted from the last failure, which a busy machine may have sent a moment ago.
    assert 14 * 60 < int(response["Retry-After"]) <= 15 * 60


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_it_locks_out_at_the_limit_and_not_before(client, alice, page):
    fail(client, page, "alice", LIMIT - 1)
    assert log_in(client, page, "alice", PASSWORD).status_code == 302
    assert logged_in(client)


def test_it_resets_the_count_after_a_successful_log_in(client, alice):
    fail(client, "site", "alice", LIMIT - 1)
    assert log_in(Client(), "site", "alice", PASSWORD).status_code == 302
    fail(client, "site", "alice", LIMIT - 1)
    assert log_in(client, "site", "alice", PASSWORD).status_code == 302


def test_it_counts_both_login_pages_together(client, alice):
    fail(client, "site", "alice", LIMIT - 2)
    fail(client, "admin", "alice", 2)
    assert log_in(client, "site", "alice", PASSWORD).status_code == 429


def test_it_does_not_lock_out_another_user_from_the_same_address(client, alice):
    UserFactory(username="bob")
    fail(client, "site", "alice")
    assert log_in(client, "site", "bob", PASSWORD).status_code == 302


def test_it_does_not_lock_out_the_same_user_from_another_address(client, alice):
    fail(client, "site", "alice", address="10.0.0.1")
    assert log_in(client, "site", "alice", PASSWORD, address="10.0.0.2").status_code == 302


def test_it_ignores_a_forwarded_address_unless_told_to_trust_the_proxy(client, alice, settings):
    # Each request claims another client address: without a trusted proxy that is noise.
    for n in range(LIMIT):
        client.post(
            LOGIN_PAGES["site"],
            {"username": "alice", "password": "wrong"},
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR=f"203.0.113.{n}",
        )
    assert log_in(client, "site", "alice", PASSWORD, address="10.0.0.1").status_code == 429


def test_it_takes_the_address_the_trusted_proxy_saw(client, alice, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.9.9.9"}
    for _ in range(LIMIT):
        client.post(
            LOGIN_PAGES["site"],
            {"username": "alice", "password": "wrong"},
            HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.7",
            **proxy,
        )
    attacker = {"HTTP_X_FORWARDED_FOR": "203.0.113.7", **proxy}
    colleague = {"HTTP_X_FORWARDED_FOR": "203.0.113.8", **proxy}
    data = {"username": "alice", "password": PASSWORD}
    assert client.post(LOGIN_PAGES["site"], data, **attacker).status_code == 429
    assert client.post(LOGIN_PAGES["site"], data, **colleague).status_code == 302


def test_it_lets_them_in_once_staff_lift_the_lockout_in_the_admin(client, alice):
    from axes.models import AccessAttempt

    fail(client, "site", "alice")
    staff = Client()
    staff.force_login(get_user_model().objects.create_superuser("root", password=PASSWORD))
    changelist = reverse("admin:axes_accessattempt_changelist")
    page = staff.get(changelist, {"username": "alice"})
    assert page.status_code == 200
    assert "alice" in page.content.decode()
    attempt = AccessAttempt.objects.get(username="alice")
    response = staff.post(
        changelist,
        {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert log_in(client, "site", "alice", PASSWORD).status_code == 302


def test_it_lets_them_in_once_the_command_lifts_the_lockout(client, alice):
    fail(client, "admin", "alice")
    assert log_in(client, "admin", "alice", PASSWORD).status_code == 429
    call_command("axes_reset_username", "alice", stdout=None)
    response = log_in(client, "admin", "alice", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == "/admin/"


def test_it_lets_them_in_after_the_cool_off(client, alice):
    from axes.models import AccessAttempt

    fail(client, "site", "alice")
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=16)
    )
    assert log_in(client, "site", "alice", PASSWORD).status_code == 302


def test_it_does_not_extend_the_lockout_for_attempts_made_during_it(client, alice):
    from axes.models import AccessAttempt

    fail(client, "site", "alice")
    tripped = AccessAttempt.objects.get().attempt_time
    fail(client, "site", "alice", 3)
    assert AccessAttempt.objects.get().attempt_time == tripped


# --- API tokens ---------------------------------------------------------------


def token_get(api, key: str, address: str = "10.0.0.1"):
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api.get("/api/v1/projects/", REMOTE_ADDR=address)


def test_it_throttles_invalid_tokens_from_one_address(api, world, settings):
    limit = int(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["invalid_token"].split("/")[0])
    for n in range(limit):
        assert token_get(api, f"sg_0000_guess{n}").status_code == 401
    refused = token_get(api, "sg_0000_another")
    assert refused.status_code == 429
    assert refused.json()["code"] == "throttled"
    assert int(refused["Retry-After"]) > 0
    # From the same address even a valid key is refused: a 200 would tell a guess apart.
    valid = world["a"].token_key
    assert token_get(api, valid).status_code == 429
    assert token_get(api, valid, address="10.0.0.2").status_code == 200
    assert token_get(api, "sg_0000_guess", address="10.0.0.2").status_code == 401


def test_it_does_not_count_valid_tokens(api, world, settings):
    limit = int(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["invalid_token"].split("/")[0])
    for _ in range(limit + 5):
        assert token_get(api, world["a"].token_key).status_code == 200
    assert token_get(api, "sg_0000_guess").status_code == 401


def test_it_answers_invalid_tokens_alike_whether_or_not_they_exist(api, world):
    owner = world["a"].people[Role.BUSINESS_OWNER]
    from projects.services import tokens

    token, revoked = tokens.token_create(user=owner, name="old", scopes=["read"])
    tokens.token_revoke(actor=owner, token=token)
    unknown = token_get(api, "sg_0000_nothing")
    known = token_get(api, revoked)
    assert (unknown.status_code, unknown.json()) == (known.status_code, known.json())


def test_it_lets_invalid_tokens_through_to_401_when_the_cache_is_down(api, world, monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "get", down)
    monkeypatch.setattr(cache, "set", down)
    for n in range(30):
        assert token_get(api, f"sg_0000_guess{n}").status_code == 401
    assert token_get(api, world["a"].token_key).status_code == 200


# --- Password change and reset --------------------------------------------------


def test_it_links_the_password_page_from_the_header(client, alice):
    client.force_login(alice)
    assert reverse("password_change") in client.get("/").content.decode()


def test_it_changes_the_password_and_the_old_one_stops_working(client, alice):
    assert log_in(client, "site", "alice", PASSWORD).status_code == 302
    page = client.get(reverse("password_change"))
    assert page.status_code == 200
    assert "Change your password" in page.content.decode()
    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("password_change_done")
    # The session that changed it stays signed in.
    assert client.get(reverse("password_change_done")).status_code == 200
    fresh = Client()
    assert log_in(fresh, "site", "alice", PASSWORD).status_code == 200
    assert not logged_in(fresh)
    assert log_in(fresh, "site", "alice", NEW_PASSWORD).status_code == 302


def test_it_refuses_a_wrong_old_password(client, alice):
    client.force_login(alice)
    response = client.post(
        reverse("password_change"),
        {"old_password": "nope", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 200
    assert "incorrectly" in response.content.decode()
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_it_sends_the_password_page_to_log_in_when_signed_out(client):
    response = client.get(reverse("password_change"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def reset_link(body: str) -> str:
    match = re.search(r"https?://[^/\s]+(/accounts/reset/\S+/)", body)
    assert match, body
    return match.group(1)


def test_it_resets_a_password_by_email(client, alice, mailoutbox, settings):
    settings.SITE_URL = "https://stagegate.example.com"
    assert reverse("password_reset") in client.get(reverse("login")).content.decode()
    response = client.post(reverse("password_reset"), {"email": "alice@example.com"})
    assert response.status_code == 302
    assert response["Location"] == reverse("password_reset_done")
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["alice@example.com"]
    assert "https://stagegate.example.com/accounts/reset/" in message.body
    form = client.get(reset_link(message.body), follow=True)
    assert form.status_code == 200
    assert "Choose a new password" in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert done["Location"] == reverse("password_reset_complete")
    fresh = Client()
    assert log_in(fresh, "site", "alice", PASSWORD).status_code == 200
    assert log_in(fresh, "site", "alice", NEW_PASSWORD).status_code == 302
    # The link works once.
    again = client.get(reset_link(message.body), follow=True)
    assert "no longer valid" in again.content.decode()


def test_it_answers_an_unknown_email_the_same_and_sends_nothing(client, alice, mailoutbox):
    known = client.post(reverse("password_reset"), {"email": "alice@example.com"}, follow=True)
    mailoutbox.clear()
    unknown = client.post(reverse("password_reset"), {"email": "nobody@example.com"}, follow=True)
    assert unknown.redirect_chain == known.redirect_chain
    assert unknown.content == known.content
    assert mailoutbox == []


def test_it_lifts_a_lockout_once_the_password_is_reset(client, alice, mailoutbox):
    fail(client, "site", "alice")
    client.post(reverse("password_reset"), {"email": "alice@example.com"})
    form = client.get(reset_link(mailoutbox[0].body), follow=True)
    client.post(
        form.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert log_in(client, "site", "alice", NEW_PASSWORD).status_code == 302


def test_it_points_a_locked_out_person_to_the_reset_page(client, alice):
    response = fail(client, "site", "alice")
    assert response.status_code == 429
    assert reverse("password_reset") in response.content.decode()


# --- Settings and templates -----------------------------------------------------


@pytest.mark.parametrize("value", ["0", "-3"])
def test_it_refuses_a_failure_limit_below_one(monkeypatch, value):
    monkeypatch.setenv("SOME_LIMIT", value)
    with pytest.raises(ImproperlyConfigured, match="SOME_LIMIT"):
        env_int("SOME_LIMIT", 5, minimum=1)


@pytest.mark.parametrize(
    "name",
    [
        "lockout.html",
        "password_change.html",
        "password_changed.html",
        "password_reset.html",
        "password_reset_sent.html",
        "password_reset_new.html",
        "password_reset_finished.html",
    ],
)
def test_it_keeps_scripts_and_handlers_out_of_the_account_pages(name):
    # A Content-Security-Policy without 'unsafe-inline' would block them.
    text = (TEMPLATES / name).read_text()
    assert "<script" not in text
    assert not re.search(r"\son[a-z]+\s*=", text)
