"""Integration tests: a real Asterisk 22 (sandbox chroot), the real engine process, SIPp.

They need root (chroot) and the sandbox build (`make setup`); without them they fail loudly
rather than skip, since skipping would hide a missing feature.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hotline_lab.lab import PROJECT, Lab, write_config

BASE_PORT = int(os.environ.get("IVR_TEST_BASE_PORT", "15000"))
HERE = Path(__file__).parent
# Opening hours of dialplans/hotline.yaml are Europe/Paris, Monday–Friday 08:30–18:30.
OFFICE_HOURS = "2026-11-24T10:00:00+01:00"
AFTER_HOURS = "2026-11-24T22:00:00+01:00"


@pytest.fixture(scope="session")
def lab_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("lab")


def lab_config(directory: Path, dialplan: Path, sounds: Path, **kw) -> Path:
    return write_config(directory / "config", base_port=BASE_PORT, dialplan=dialplan,
                        crm=directory / "crm.db", sounds=sounds,
                        queues_file=HERE / "queues.yaml", **kw)


def sounds_of(lab: Lab) -> Path:
    return lab.settings.path(lab.settings.sounds.dir)


@pytest.fixture(scope="session")
def lab(lab_dir: Path):
    lab = Lab(lab_config(lab_dir / "minimal", PROJECT / "dialplans/minimal.yaml",
                         lab_dir / "sounds"))
    lab.ivr("sounds", "build", *(str(PROJECT / "dialplans" / f"{name}.yaml")
                                 for name in ("minimal", "hotline", "speech")))
    lab.up(log=lambda *_: None)
    yield lab
    lab.down()


@pytest.fixture
def engine(lab: Lab):
    """A fresh engine process per test on dialplans/minimal.yaml, every agent ready."""
    lab.start_engine("--grace", "2")
    yield lab
    lab.stop_phones()
    lab.stop_engine()


@pytest.fixture
def hotline(lab: Lab, tmp_path: Path):
    """A lab on a copy of the demo plan (tests may break the copy), engine not started yet."""
    plan = tmp_path / "hotline.yaml"
    shutil.copy(PROJECT / "dialplans/hotline.yaml", plan)
    other = Lab(lab_config(tmp_path, plan, sounds_of(lab)))
    other.plan_path = plan
    yield other
    other.stop_phones()
    other.stop_engine()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def mqtt_broker(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen]]:
    """A mosquitto on a free loopback port: (port, process); tests may kill it."""
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(50):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    yield port, proc
    if proc.poll() is None:
        proc.terminate()
    proc.wait(5)
