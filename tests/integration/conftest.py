"""Integration tests: a real Asterisk 22 (sandbox chroot), the real engine process, SIPp.

They need root (chroot) and the sandbox build (`make setup`); without them they fail loudly
rather than skip, since skipping would hide a missing feature.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ivr.lab import PROJECT, Lab, write_config

BASE_PORT = int(os.environ.get("IVR_TEST_BASE_PORT", "15000"))


@pytest.fixture(scope="session")
def lab_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("lab")


@pytest.fixture(scope="session")
def lab(lab_dir: Path):
    sounds = lab_dir / "sounds"
    config = write_config(lab_dir / "config", base_port=BASE_PORT,
                          dialplan=PROJECT / "dialplans/minimal.yaml",
                          crm=lab_dir / "crm.db", sounds=sounds)
    lab = Lab(config)
    lab.ivr("sounds", "build")
    lab.up(log=lambda *_: None)
    yield lab
    lab.down()


@pytest.fixture
def engine(lab: Lab):
    """A fresh engine process per test, every agent ready."""
    lab.start_engine("--grace", "2")
    yield lab
    lab.stop_phones()
    lab.stop_engine()
