from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from portal.exceptions import ApplicationError
from projects.models import ApiToken, Project
from projects.services.tokens import token_create

DEFAULT_SCOPES = (ApiToken.Scope.READ, ApiToken.Scope.WRITE, ApiToken.Scope.TRANSITION)


class Command(BaseCommand):
    help = "Mint an API token for USERNAME. The key is printed alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--project", help="Bind the token to this project (a CI token).")
        parser.add_argument(
            "--scope",
            action="append",
            # A metrics token is made on its deployment's page, bound to it.
            choices=DEFAULT_SCOPES,
            help="Repeat for several scopes (default: read, write, transition).",
        )
        parser.add_argument("--name", default="command line")
        parser.add_argument("--days", type=int, default=None)

    def handle(self, *args, **options):
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None or not user.is_active:
            raise CommandError(f"No active user {options['username']!r}.")
        project = None
        if options["project"]:
            project = Project.objects.filter(slug=options["project"]).first()
            if project is None:
                raise CommandError(f"No project {options['project']!r}.")
        scopes = options["scope"] or list(DEFAULT_SCOPES)
        try:
            token, key = token_create(
                user=user,
                name=options["name"],
                scopes=scopes,
                project=project,
                days=options["days"],
            )
        except ApplicationError as exc:
            raise CommandError(exc.detail) from None
        where = f"project {project.slug}" if project else "all of the user's projects"
        self.stdout.write(
            f"Token {token.prefix}… for {user.username} on {where}, scopes "
            f"{', '.join(token.scopes)}, expires {token.expires_at:%Y-%m-%d}. "
            "Keep the key now; it is not shown again:"
        )
        self.stdout.write(key)
