"""The product wheel carries the engine and nothing of the test lab (lab/hotline_lab: sandbox,
SIPp, demo), and the engine's settings know nothing of a sandbox."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from pydantic import ValidationError

from ivr.config import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
# What a source checkout holds besides the sources: caches, chroots, virtualenvs, build output.
NOT_SOURCES = shutil.ignore_patterns(".git", ".cache", ".venv", "var", "build", "*.egg-info",
                                     "__pycache__", ".hypothesis", ".pytest_cache", "sounds")
LAB_NAMES = re.compile(r"lab|sandbox|sipp|demo", re.IGNORECASE)
LAB_IMPORT = re.compile(r"^\s*(from|import)\s+(hotline_lab|ivr\.(lab|sandbox|sipp|demo))\b",
                        re.MULTILINE)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> dict[str, bytes]:
    """Path → content of each file in the wheel built from pyproject.toml, offline, from a
    copy of the checkout (a build in place would leave build/ and *.egg-info behind)."""
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    shutil.copytree(ROOT, src, ignore=NOT_SOURCES)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-q", "-w", str(work / "out"), str(src)],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"pip wheel failed:\n{result.stdout}\n{result.stderr}"
    (built,) = (work / "out").glob("hotline_ivr-*.whl")
    with zipfile.ZipFile(built) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def test_the_wheel_holds_the_engine_and_the_acd(wheel):
    assert "ivr/__init__.py" in wheel and "ivr/cli/main.py" in wheel
    assert "acd/__init__.py" in wheel and "acd/core.py" in wheel


def test_the_wheel_holds_the_desks_templates_and_static_files(wheel):
    """`ivr desk serve` from an installed wheel needs its pages, CSS and JS (package data)."""
    desk = ROOT / "ivr/desk"
    shipped = [p.relative_to(ROOT).as_posix() for folder in ("templates", "static")
               for p in (desk / folder).iterdir() if p.is_file()]
    assert "ivr/desk/templates/login.html" in shipped and "ivr/desk/static/desk.js" in shipped
    assert [name for name in shipped if name not in wheel] == []
    assert wheel["ivr/desk/static/desk.css"] == (desk / "static/desk.css").read_bytes()


def test_the_wheel_holds_no_lab_sandbox_sipp_or_demo_code(wheel):
    assert [name for name in wheel if LAB_NAMES.search(name)] == []
    assert [name for name, data in wheel.items()
            if name.endswith(".py") and LAB_IMPORT.search(data.decode())] == []


def test_no_product_module_imports_the_lab():
    offenders = [str(p.relative_to(ROOT)) for folder in ("ivr", "acd")
                 for p in (ROOT / folder).rglob("*.py") if LAB_IMPORT.search(p.read_text())]
    assert offenders == []


def test_the_engine_settings_have_no_sandbox_section(tmp_path):
    with pytest.raises(ValidationError, match="sandbox"):
        Settings.model_validate({"sandbox": {"dir": ".cache/sandbox"}})
    config = tmp_path / "config/engine.yaml"
    config.parent.mkdir()
    config.write_text("sandbox:\n  sip_port: 5060\n")
    with pytest.raises(ConfigError, match="sandbox"):
        load_settings(config)
