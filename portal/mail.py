"""Mail sent once the transaction that decided it has committed."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.mail import send_mass_mail
from django.db import transaction

log = logging.getLogger(__name__)


def mail_on_commit(subject: str, body: str, people: Iterable, about: object) -> None:
    """Mail ``people`` who have an address after the current transaction commits; a mail
    server that is down is logged (naming ``about``) and never undoes the record."""
    messages = [(subject, body, None, [u.email]) for u in people if u.email]

    def send() -> None:
        try:
            send_mass_mail(messages)
        except Exception:
            log.exception("Could not send the mail about %s", about)

    if messages:
        transaction.on_commit(send)


@contextmanager
def mail_held() -> Iterator[None]:
    """Inside, mail goes to memory (``django.core.mail.outbox``), not to the configured
    backend: for writes made on nobody's behalf, such as loading the demo, whose mails
    to example.com people would fill the console before the portal says where it runs."""
    configured = settings.EMAIL_BACKEND
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    try:
        yield
    finally:
        settings.EMAIL_BACKEND = configured
