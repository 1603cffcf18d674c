from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audits.services.pack_signing import pack_file_verify


class Command(BaseCommand):
    help = (
        "Check an approval pack PDF: the portal's signature, its PDF/A-3b structure, the "
        "snapshot it carries against the database, and which pack it is. Exits 1 when any "
        "check fails, naming it."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="The pack's PDF file.")

    def handle(self, *args, **options):
        path: Path = options["file"]
        try:
            pdf = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}.") from None
        found = pack_file_verify(pdf)
        for passed, sentence in found.checks:
            self.stdout.write(f"{'ok  ' if passed else 'FAIL'} {sentence}")
        for note in found.notes:
            self.stdout.write(f"note {note}")
        if not found.ok:
            failed = sum(not passed for passed, _ in found.checks)
            raise CommandError(f"{path.name} is not a verified approval pack ({failed} failed).")
        self.stdout.write(self.style.SUCCESS(f"{path.name}: verified approval pack."))
