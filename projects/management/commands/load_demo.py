from __future__ import annotations

from django.core.management.base import BaseCommand

from projects.demo import DEMO_PASSWORD, load_demo


class Command(BaseCommand):
    help = "Create the demo teams, people and projects (safe to run again)."

    def handle(self, *args, **options):
        logins = load_demo()
        self.stdout.write(f"Demo logins (password: {DEMO_PASSWORD}):")
        for username, team, role in logins:
            self.stdout.write(f"  {username:<18} {team:<16} {role}")
