"""Mail held in memory while the demo loads, so the console shows the portal's banner
first."""

from __future__ import annotations

from django.core import mail

from portal.mail import mail_held

CONSOLE = "django.core.mail.backends.console.EmailBackend"


def test_mail_sent_while_held_stays_in_memory_and_the_backend_comes_back(capsys, settings):
    settings.EMAIL_BACKEND = CONSOLE
    mail.send_mail("Demo", "Sign the criteria.", None, ["owner@example.com"])
    assert "Sign the criteria." in capsys.readouterr().out  # the console backend prints

    with mail_held():
        mail.send_mail("Demo", "An audit waits for review.", None, ["auditor@example.com"])
    assert capsys.readouterr().out == ""
    assert mail.outbox[-1].body == "An audit waits for review."
    assert settings.EMAIL_BACKEND == CONSOLE


def test_the_backend_comes_back_when_the_load_fails(settings):
    settings.EMAIL_BACKEND = CONSOLE
    try:
        with mail_held():
            raise RuntimeError("the demo failed to load")
    except RuntimeError:
        pass
    assert settings.EMAIL_BACKEND == CONSOLE
