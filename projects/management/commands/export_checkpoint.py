from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand

from projects.services.events import checkpoint_build


class Command(BaseCommand):
    help = (
        "Write every audit-trail chain's head and their Merkle root to a file, to keep "
        "outside the database; verify_events --checkpoint FILE checks the trail against it."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path, help="Where to write the checkpoint (JSON).")

    def handle(self, *args, **options):
        checkpoint = checkpoint_build()
        options["file"].write_text(json.dumps(checkpoint, indent=2, sort_keys=True) + "\n")
        self.stdout.write(
            f"Checkpoint of {len(checkpoint['chains'])} chains, root {checkpoint['root']}, "
            f"written to {options['file']}."
        )
