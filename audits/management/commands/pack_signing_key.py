from django.core.management.base import BaseCommand

from audits.services.pack_signing import signing_key_ensure


class Command(BaseCommand):
    help = (
        "Generate a self-signed key and certificate for signing approval packs, at "
        "PACK_SIGNING_KEY and PACK_SIGNING_CERT, unless they exist. For local use."
    )

    def handle(self, *args, **options):
        from django.conf import settings

        made = signing_key_ensure()
        verb = "Generated" if made else "Kept"
        self.stdout.write(f"{verb} the pack-signing certificate {settings.PACK_SIGNING_CERT}")
