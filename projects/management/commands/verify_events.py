from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from projects.selectors import events_verify


class Command(BaseCommand):
    help = "Walk the audit trail's hash chain and report the first broken link."

    def handle(self, *args, **options):
        report = events_verify()
        if not report.ok:
            brk = report.first_break
            raise CommandError(
                f"Audit trail broken at event #{brk.seq}: {brk.reason}. "
                f"{report.checked} events before it are intact."
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Audit trail intact: {report.checked} events, head #{report.head_seq} "
                f"{report.head_hash}"
            )
        )
