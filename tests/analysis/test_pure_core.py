"""The analysis packages stay plain Python: no Django import, directly or indirectly."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PURE_MODULES = sorted(
    path
    for app in ("projects", "audits", "deployments")
    for path in (ROOT / app / "analysis").glob("*.py")
)


@pytest.mark.parametrize("path", PURE_MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_it_imports_no_django_or_app_code(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            assert top not in {"django", "rest_framework", "guardian", "celery", "portal"}, (
                f"{path.name} imports {name}"
            )
            if top in {"projects", "audits", "deployments"}:
                assert ".analysis" in name, f"{path.name} imports app code {name}"


def test_importing_every_analysis_module_loads_no_django():
    modules = [
        ".".join(p.relative_to(ROOT).with_suffix("").parts)
        for p in PURE_MODULES
        if p.name != "__init__.py"
    ]
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'celery'))\n"
        + "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""
