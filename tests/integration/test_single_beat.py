"""Two `celery beat` processes against one database: one sends, the other stands by."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from portal.celery import app
from tests.harness import ROOT, child_env, wait_for

pytestmark = pytest.mark.integration


class Beat:
    def __init__(self, folder: Path, name: str):
        self.log = folder / f"{name}.log"
        command = [sys.executable, "-m", "celery", "-A", "portal", "beat", "--loglevel", "INFO"]
        command += ["--schedule", str(folder / f"{name}-schedule")]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                command,
                cwd=ROOT,
                env=child_env(BEAT_LEASE_SECONDS="3", LOG_FORMAT="plain"),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def says(self, words: str) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError("beat exited:\n" + self.log.read_text())
        return words in self.log.read_text()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=15)


@pytest.fixture
def beats(transactional_db, tmp_path):
    started: list[Beat] = []

    def start(name: str) -> Beat:
        beat = Beat(tmp_path, name)
        started.append(beat)
        return beat

    yield start
    for beat in started:
        beat.stop(signal.SIGKILL)
    app.control.purge()


def test_a_second_beat_stands_by_and_takes_over_when_the_first_dies(beats):
    first = beats("first")
    wait_for(
        lambda: first.says("holds the beat lease and sends"), 90, "the first beat to take the lease"
    )
    second = beats("second")
    wait_for(lambda: second.says("is standing by"), 90, "the second beat to stand by")
    assert not second.says("holds the beat lease and sends")

    first.stop(signal.SIGKILL)
    # The lease lasts 3 s and the standing beat asks every second.
    wait_for(
        lambda: second.says("holds the beat lease and sends"), 10, "the second beat to take over"
    )
