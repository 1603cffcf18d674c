"""Mail sent once the transaction that decided it has committed."""

from __future__ import annotations

import logging
from collections.abc import Iterable

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
