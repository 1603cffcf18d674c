"""Backup and restore as docs/operations.md tells it: pg_dump and a tar of the media
folder; wipe both; restore; the trail verifies and every stored file matches the hash
its row recorded. Runs in its own scratch database and folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from projects.services.tokens import KEY_PREFIX

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="the documented backup is pg_dump / pg_restore of the PostgreSQL database",
    ),
]

ROOT = Path(__file__).resolve().parents[2]

BUILD = """
from tests.factories import UserFactory, build_team
world = build_team("bk", UserFactory(username="bk_external"), with_pack=True)
print("KEY", world.token_key)
"""

CHECK = """
import hashlib
from audits.models import ApprovalPack
from projects.models import DatasetVersion, EventExport
def digest(field):
    with field.open("rb") as f:
        return hashlib.sha256(f.read()).hexdigest()
files = [(v.file, v.sha256) for v in DatasetVersion.objects.all()]
files += [(p.pdf, p.pdf_sha256) for p in ApprovalPack.objects.exclude(pdf="")]
files += [(e.file, e.sha256) for e in EventExport.objects.exclude(file="")]
bad = [f.name for f, expected in files if digest(f) != expected]
print("FILES", len(files), "MISMATCHED", bad)
"""


def _run(args: list[str], env: dict) -> str:
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_a_backup_restored_into_an_empty_database_verifies(tmp_path):
    settings_dict = connection.settings_dict
    server = f"postgres://{settings_dict['USER']}@{settings_dict['HOST']}:{settings_dict['PORT']}"
    name = "stagegate_backup_check"
    url = f"{server}/{name}"
    media = tmp_path / "var" / "media"
    env = {**os.environ, "DATABASE_URL": url, "VAR_DIR": str(tmp_path / "var")}
    manage = [sys.executable, "manage.py"]
    psql = ["psql", f"{server}/postgres", "-qc"]

    _run([*psql, f"DROP DATABASE IF EXISTS {name}"], env)
    _run([*psql, f"CREATE DATABASE {name}"], env)
    try:
        _run([*manage, "migrate", "--no-input"], env)
        # Packs are signed: this installation's key, as an operator provides one.
        _run([*manage, "pack_signing_key"], env)
        key = _run([*manage, "shell", "-c", BUILD], env).split("KEY ")[1].strip()
        before = _run([*manage, "verify_events"], env)

        # Tokens are stored hashed: the whole database, dumped, holds the prefix only.
        dump = _run(["pg_dump", "--format=plain", "--data-only", url], env)
        prefix = key[: len(KEY_PREFIX) + 8]  # the stored part: "sg_" and 8 hex digits
        secret = key[len(prefix) + 1 :]
        assert prefix in dump
        assert secret not in dump

        # Back up (docs/operations.md, "Backup and restore").
        _run(["pg_dump", "--format=custom", f"--file={tmp_path / 'db.dump'}", url], env)
        _run(["tar", "-C", str(media), "-czf", str(tmp_path / "media.tgz"), "."], env)

        # Lose everything.
        _run([*psql, f"DROP DATABASE {name}"], env)
        shutil.rmtree(media)

        # Restore.
        _run([*psql, f"CREATE DATABASE {name}"], env)
        _run(["pg_restore", "--no-owner", f"--dbname={url}", str(tmp_path / "db.dump")], env)
        media.mkdir(parents=True)
        _run(["tar", "-C", str(media), "-xzf", str(tmp_path / "media.tgz")], env)

        after = _run([*manage, "verify_events"], env)
        assert after.splitlines()[0] == before.splitlines()[0]
        assert after.startswith("Audit trail intact")
        checked = _run([*manage, "shell", "-c", CHECK], env).split("FILES ")[1]
        count, mismatched = checked.split(" MISMATCHED ")
        assert int(count) >= 3  # a dataset version, an export, an approval pack's PDF
        assert mismatched.strip() == "[]"
    finally:
        subprocess.run([*psql, f"DROP DATABASE IF EXISTS {name}"], env=env, timeout=60)
