"""The lab's template for two site sandboxes (lab/hotline_lab/sandbox.py): each Asterisk
gets its own AMI, only its agents' phones, a trunk to the other site and its site name."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from hotline_lab.sandbox import Sandbox, SandboxError, render_configs
from hotline_lab.settings import SandboxSettings
from ivr.config import load_settings

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("IVR_AMI_SECRET", "k3T9-vQz7-Lm2P-x8Rw")
    root = tmp_path / "inst"
    shutil.copytree(CONFIGS / "good", root)
    engine = root / "config/engine.yaml"
    data = yaml.safe_load(engine.read_text())
    data["sites"] = [{"name": "paris", "ami": {"host": "127.0.0.1", "port": 6038},
                      "trunk": "to-paris", "agents": ["alice"]},
                     {"name": "lyon", "ami": {"host": "127.0.0.1", "port": 6538},
                      "trunk": "to-lyon", "agents": ["bob"]}]
    engine.write_text(yaml.safe_dump(data))
    return load_settings(engine)


def test_each_site_sandbox_has_its_ami_phones_trunk_and_name(settings, tmp_path: Path) -> None:
    ports = {"paris": 6060, "lyon": 6560}
    lyon = Sandbox(settings, SandboxSettings(dir=str(tmp_path / "b"), sip_port=6560,
                                             site="lyon", site_sip_ports=ports))
    files = render_configs(lyon.settings, lyon.box)
    assert "port = 6538" in files["manager.conf"]
    assert "IVR_SITE=lyon" in files["extensions.conf"]
    assert "systemname = lyon" in files["asterisk.conf"]
    assert "[bob](hotline-agent)" in files["pjsip_agents.conf"]
    assert "alice" not in files["pjsip_agents.conf"]          # reached through the trunk
    pjsip = files["pjsip.conf"]
    assert "[to-paris](hotline-site-trunk)" in pjsip and "from_user = to-lyon" in pjsip
    assert "contact = sip:127.0.0.1:6060" in pjsip and "[to-lyon]" not in pjsip


def test_a_single_site_sandbox_is_unchanged_and_a_wrong_site_is_refused(settings, tmp_path: Path) -> None:
    files = render_configs(settings, SandboxSettings(dir=str(tmp_path / "a")))
    assert "IVR_SITE" not in files["extensions.conf"] and "asterisk.conf" not in files
    assert "[alice](hotline-agent)" in files["pjsip_agents.conf"]
    assert "[bob](hotline-agent)" in files["pjsip_agents.conf"]
    with pytest.raises(SandboxError, match="site 'nice'"):
        Sandbox(settings, SandboxSettings(dir=str(tmp_path / "c"), site="nice"))
