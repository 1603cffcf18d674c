"""Run the web server, a Celery worker and Celery beat in one foreground command.

The asynchronous path is the one production uses: jobs go through the broker
to a real worker. Ctrl-C or SIGTERM stops all three.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from portal.health import workers_check
from portal.mail import mail_held
from projects.demo import DEMO_PASSWORD


class Command(BaseCommand):
    help = "Serve the portal with a real Celery worker and beat (the local run command)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--no-demo", action="store_true", help="Do not load demo data.")

    def handle(self, *args, **options):
        host, port = options["host"], options["port"]
        call_command("migrate", interactive=False, verbosity=0)
        # Packs are signed; locally with a self-signed certificate made once into var/.
        call_command("pack_signing_key", verbosity=0)
        logins = []
        if not options["no_demo"]:
            from projects.demo import load_demo

            with mail_held():
                logins = load_demo()
        python = sys.executable
        celery = [python, "-m", "celery", "-A", "portal"]
        beat_schedule = str(settings.VAR_DIR / "celerybeat-schedule")
        commands = {
            "web": [python, "manage.py", "runserver", f"{host}:{port}", "--noreload"],
            "worker": [
                *celery,
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                "2",
                "--hostname",
                "worker@%h",
            ],
            "beat": [*celery, "beat", "--loglevel", "INFO", "--schedule", beat_schedule],
        }
        children: dict[str, subprocess.Popen] = {}
        stopping = False

        def stop(signum=None, frame=None):
            nonlocal stopping
            if stopping:
                return
            stopping = True
            self.stdout.write("\nStopping web, worker and beat …")
            for proc in children.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 15
            for proc in children.values():
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.kill()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        for name, command in commands.items():
            # Each child in its own process group, so Ctrl-C reaches them only through us
            # and they stop in order.
            children[name] = subprocess.Popen(command, start_new_session=True)

        url = f"http://{host}:{port}/"
        self._wait_for(url + "healthz", children)
        self.stdout.write(self.style.SUCCESS(f"\nStagegate is running at {url}"))
        self.stdout.write(f"  health: {url}healthz   API docs: {url}api/docs/")
        if logins:
            self.stdout.write(f"  demo logins (password: {DEMO_PASSWORD}):")
            for username, team, role in logins:
                self.stdout.write(f"    {username:<18} {team:<16} {role}")
        self.stdout.write("Press Ctrl-C to stop.\n")

        while not stopping:
            for name, proc in children.items():
                if proc.poll() is not None and not stopping:
                    self.stderr.write(f"{name} exited with {proc.returncode}; stopping the rest.")
                    stop()
                    sys.exit(1)
            time.sleep(0.5)

    def _wait_for(self, url: str, children: dict[str, subprocess.Popen]) -> None:
        """Wait until the health check answers 200 (web, broker and worker up), up to a minute.

        The worker is pinged first, so the check is not asked (and does not log a 503 as an
        error) while the worker is still starting."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(proc.poll() is not None for proc in children.values()):
                return
            if not workers_check()["ok"]:
                time.sleep(1)
                continue
            try:
                with urllib.request.urlopen(url, timeout=10) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(1)
        self.stderr.write("The health check did not turn green within a minute; see the logs.")
