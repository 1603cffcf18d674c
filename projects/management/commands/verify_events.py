from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from projects.models import Project
from projects.selectors import checkpoint_verify, events_verify
from projects.services.events import chain_key


class Command(BaseCommand):
    help = (
        "Walk the audit trail's hash chains and report the first broken link; with "
        "--checkpoint, also check that every head in a checkpoint file is still there."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--project", help="Check only this project's chain (its slug).", default=None
        )
        parser.add_argument(
            "--checkpoint",
            type=Path,
            default=None,
            help="A file written by export_checkpoint to check the trail against.",
        )

    def handle(self, *args, **options):
        chains = None
        if options["project"]:
            project = Project.objects.filter(slug=options["project"]).first()
            if project is None:
                raise CommandError(f"No project {options['project']!r}.")
            chains = [chain_key(project, None)]
        reports = events_verify(chains)
        for key, report in reports.items():
            if not report.ok:
                brk = report.first_break
                raise CommandError(
                    f"Audit trail broken in chain {key} at event #{brk.seq}: {brk.reason}. "
                    f"{report.checked} events before it are intact."
                )
        if options["checkpoint"] is not None:
            try:
                checkpoint = json.loads(options["checkpoint"].read_text())
            except (OSError, ValueError) as exc:
                raise CommandError(f"Cannot read the checkpoint: {exc}") from None
            problem = checkpoint_verify(checkpoint)
            if problem is not None:
                raise CommandError(f"Audit trail does not match the checkpoint: {problem}.")
            self.stdout.write(
                f"Checkpoint {checkpoint['root'][:16]}… of {checkpoint.get('created_at', '?')} "
                f"holds: {len(checkpoint['chains'])} chain heads found."
            )
        events = sum(r.checked for r in reports.values())
        self.stdout.write(
            self.style.SUCCESS(f"Audit trail intact: {events} events in {len(reports)} chains.")
        )
        for key, report in reports.items():
            self.stdout.write(f"  {key}: head #{report.head_seq} {report.head_hash}")
