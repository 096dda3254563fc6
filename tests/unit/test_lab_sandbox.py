"""The lab (lab/hotline_lab) on a sandbox folder that was never built: nothing may be written
into the chroot before the build (bench/load.py on a fresh machine failed with `Directory not
empty: …/root.partial -> …/root`), and its settings live beside the engine's, not in them."""
from __future__ import annotations

import pytest
import yaml

from hotline_lab.lab import PROJECT, Lab, write_config
from hotline_lab.sandbox import SandboxError
from hotline_lab.settings import SandboxSettings, load_sandbox_settings
from hotline_lab.sipp import AwaitHangup, CallerHangsUp, Pause, caller_scenario
from ivr.config import load_settings


@pytest.fixture
def unbuilt_lab(tmp_path, monkeypatch) -> Lab:
    monkeypatch.setenv("IVR_AMI_SECRET", "unit-test")
    config = write_config(tmp_path / "config", base_port=31000,
                          dialplan=PROJECT / "dialplans/minimal.yaml", crm=tmp_path / "crm.db",
                          sounds=tmp_path / "sounds", sandbox={"dir": str(tmp_path / "sandbox")})
    return Lab(config)


def test_creating_a_lab_writes_nothing_into_a_chroot_not_built_yet(unbuilt_lab, tmp_path):
    assert unbuilt_lab.sandbox.root == tmp_path / "sandbox/root"
    assert not unbuilt_lab.sandbox.root.exists()


def test_sipp_on_an_unbuilt_sandbox_says_to_build_it_and_writes_nothing(unbuilt_lab):
    with pytest.raises(SandboxError, match="not built.*sandbox build"):
        unbuilt_lab.call("0611000001", [Pause(1.0), CallerHangsUp()])
    assert not unbuilt_lab.sandbox.root.exists()


def test_a_build_over_a_leftover_chroot_folder_says_what_to_do(unbuilt_lab):
    leftover = unbuilt_lab.sandbox.root / "tmp/ivr-sipp/dtmf"    # what the old lab wrote
    leftover.mkdir(parents=True)
    with pytest.raises(SandboxError, match=r"holds no Asterisk.*rm -rf"):
        unbuilt_lab.sandbox.build(log=lambda *_: None)
    assert not (unbuilt_lab.sandbox.base / "root.partial").exists()   # mmdebstrap never ran


def test_write_config_puts_the_sandbox_beside_the_engine_settings(tmp_path):
    config = write_config(tmp_path / "config", base_port=31000,
                          dialplan=PROJECT / "dialplans/minimal.yaml", crm=tmp_path / "crm.db",
                          sounds=tmp_path / "sounds", sandbox={"dir": str(tmp_path / "sb")})
    assert "sandbox" not in yaml.safe_load(config.read_text())
    box = load_sandbox_settings(config)
    assert (box.dir, box.sip_port, box.agent_phone_base_port) == (str(tmp_path / "sb"), 31060, 31100)
    # The engine reads this sandbox's CDRs because the config names them, not by fallback.
    settings = load_settings(config)
    assert settings.cdr_csv_path() == box.cdr_csv_path(settings)
    assert str(settings.cdr_csv_path()).startswith(str(tmp_path / "sb/root/"))


def test_without_a_sandbox_file_the_defaults_apply_in_the_folder_ivr_sandbox_dir_names(
        tmp_path, monkeypatch):
    monkeypatch.delenv("IVR_SANDBOX_DIR", raising=False)
    assert load_sandbox_settings(tmp_path / "engine.yaml") == SandboxSettings()
    monkeypatch.setenv("IVR_SANDBOX_DIR", str(tmp_path / "mine"))
    assert load_sandbox_settings(tmp_path / "engine.yaml").dir == str(tmp_path / "mine")


def test_a_caller_who_hangs_up_sends_bye_and_one_who_waits_expects_it():
    hangs_up = caller_scenario("0611", [Pause(1.0), CallerHangsUp()])
    waits = caller_scenario("0611", [Pause(1.0), AwaitHangup(30)])
    assert "CSeq: 2 BYE" in hangs_up and '<recv request="BYE"' not in hangs_up
    assert '<recv request="BYE" timeout="30000"/>' in waits and "CSeq: 2 BYE" not in waits
