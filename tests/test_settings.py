"""Configuration from the environment: strict parsing and a clean deploy check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal.settings import database_from_url, env_bool, env_int

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("value", ["yes", "on", "True!", "2"])
def test_env_bool_refuses_to_guess(monkeypatch, value):
    monkeypatch.setenv("SOME_FLAG", value)
    with pytest.raises(ImproperlyConfigured, match="SOME_FLAG"):
        env_bool("SOME_FLAG", False)


def test_env_int_names_the_variable(monkeypatch):
    monkeypatch.setenv("SOME_NUMBER", "ten")
    with pytest.raises(ImproperlyConfigured, match="SOME_NUMBER"):
        env_int("SOME_NUMBER", 1)


def test_database_urls_are_parsed():
    pg = database_from_url("postgres://app:s%40cret@db.internal:6543/stagegate?sslmode=require")
    assert pg["ENGINE"] == "django.db.backends.postgresql"
    assert (pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"], pg["NAME"]) == (
        "app",
        "s@cret",
        "db.internal",
        "6543",
        "stagegate",
    )
    assert pg["OPTIONS"] == {"sslmode": "require"}
    assert (pg["CONN_MAX_AGE"], pg["DISABLE_SERVER_SIDE_CURSORS"]) == (60, False)
    pooled = database_from_url("postgres://app@pooler:6432/stagegate?pooler=transaction")
    assert pooled["DISABLE_SERVER_SIDE_CURSORS"] and pooled["OPTIONS"] == {}
    with pytest.raises(ImproperlyConfigured, match="pooler"):
        database_from_url("postgres://app@pooler:6432/stagegate?pooler=statement")
    lite = database_from_url("sqlite:////tmp/x.sqlite3")
    assert lite["NAME"] == "/tmp/x.sqlite3"
    assert lite["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    with pytest.raises(ImproperlyConfigured):
        database_from_url("mysql://x/y")


@pytest.mark.slow  # a subprocess per settings module: CI's PostgreSQL stage runs it
def test_check_deploy_is_clean_with_production_settings(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DEBUG": "false",
        "HTTPS": "true",
        "SECRET_KEY": "x" * 20 + "-production-secret-key-with-enough-entropy-0123456789",
        "ALLOWED_HOSTS": "stagegate.example.com",
        "VAR_DIR": str(tmp_path),
    }
    out = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no issues" in out.stdout


def test_pyarrow_is_past_the_parquet_code_execution_bug():
    """CVE-2023-47248: pyarrow before 14.0.1 could run code from a Parquet file's
    extension-type metadata; uploads are Parquet files from anyone with a token."""
    import pyarrow
    from packaging.version import Version

    assert Version(pyarrow.__version__) >= Version("14.0.1")
