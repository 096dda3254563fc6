"""`sites:` in engine.yaml (issue 16): refused with file:line by `ivr check` and by the
engine's start; without `sites:`, nothing changes."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from ivr.cli.main import main
from ivr.config import ConfigError, load_settings
from ivr.app.sites import load_site_map, site_ami, site_problems
from ivr.sites.rules import site_issues
from ivr.sites.settings import SiteSettings

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
STRONG = "k3T9-vQz7-Lm2P-x8Rw"


def _site(name: str, port: int, agents: list[str], trunk: str | None = "t") -> SiteSettings:
    return SiteSettings.model_validate({"name": name, "ami": {"host": "127.0.0.1", "port": port},
                                        "agents": agents, "trunk": trunk})


def test_a_sound_two_site_section_has_no_issue() -> None:
    sites = [_site("paris", 5038, ["alice"], "to-paris"), _site("lyon", 5039, ["bob"], "to-lyon")]
    assert site_issues(sites, {"alice", "bob"}, "agents.yaml") == []


def test_every_rule_is_reported_at_its_place() -> None:
    sites = [_site("paris", 5038, ["alice", "zoe"], None),
             _site("lyon", 5038, ["alice", "bob"], "to-lyon"),
             _site("lyon", 5040, [], None)]
    issues = {i.where: i.message for i in site_issues(sites, {"alice", "bob", "carol"}, "agents.yaml")}
    assert "unknown agent 'zoe'" in issues[("sites", 0, "agents", 1)]
    assert "homed at two sites, 'paris' and 'lyon'" in issues[("sites", 1, "agents", 0)]
    assert "same AMI address 127.0.0.1:5038 as site 'paris'" in issues[("sites", 1, "ami", "port")]
    assert "has agents but no trunk" in issues[("sites", 0, "name")]
    assert "named twice" in issues[("sites", 2, "name")]     # (no agents: no trunk needed)
    assert "carol" in issues[("sites",)] and "homed at no site" in issues[("sites",)]


def test_one_site_needs_no_trunk() -> None:
    assert site_issues([_site("only", 5038, ["alice"], None)], {"alice"}, "a.yaml") == []


def _installation(tmp_path: Path, sites: list[dict] | None) -> Path:
    root = tmp_path / "inst"
    shutil.copytree(CONFIGS / "good", root)
    engine = root / "config/engine.yaml"
    data = yaml.safe_load(engine.read_text())
    if sites is not None:
        data["sites"] = sites
    engine.write_text(yaml.safe_dump(data, sort_keys=False))
    return engine


BAD_SITES = [{"name": "paris", "ami": {"host": "127.0.0.1", "port": 5038}, "trunk": "to-paris",
              "agents": ["alice", "mallory"]},
             {"name": "lyon", "ami": {"host": "127.0.0.1", "port": 5038}, "agents": ["bob"]}]


def _line_of(engine: Path, text: str, nth: int = 0) -> int:
    lines = [n for n, line in enumerate(engine.read_text().splitlines(), 1) if text in line]
    return lines[nth]


def test_check_and_engine_start_refuse_with_file_and_line(tmp_path: Path) -> None:
    engine = _installation(tmp_path, BAD_SITES)
    problems = site_problems(load_settings(engine))
    where = {(p.line, p.message.split(":")[0]) for p in problems}
    assert (_line_of(engine, "mallory"), "site 'paris'") in where
    assert any(p.line == _line_of(engine, "port: 5038", 2) and "same AMI address" in p.message
               for p in problems)
    assert any("'lyon' has agents but no trunk" in p.message for p in problems)
    with pytest.raises(ConfigError) as refused:
        load_site_map(load_settings(engine))
    assert f"{engine}:{_line_of(engine, 'mallory')}:" in str(refused.value)

    # through the real CLI: `ivr check` exits 1 naming the line; `ivr serve` refuses to start
    env = {"IVR_AMI_SECRET": STRONG}
    res = CliRunner().invoke(main, ["--config", str(engine), "check"], env=env)
    assert res.exit_code == 1 and f"engine.yaml:{_line_of(engine, 'mallory')}:" in res.output
    res = CliRunner().invoke(main, ["--config", str(engine), "serve"], env=env)
    assert res.exit_code == 1 and "unknown agent 'mallory'" in res.output


def test_no_sites_is_the_single_site_engine(tmp_path: Path) -> None:
    settings = load_settings(_installation(tmp_path, None))
    assert settings.sites == [] and load_site_map(settings) is None
    assert site_problems(settings) == []


def test_a_sound_section_maps_homes_and_trunks(tmp_path: Path) -> None:
    good = [{"name": "paris", "ami": {"host": "127.0.0.1", "port": 5038, "secret_env": "PARIS_AMI"},
             "trunk": "to-paris", "agents": ["alice"]},
            {"name": "lyon", "ami": {"host": "127.0.0.1", "port": 5039}, "trunk": "to-lyon",
             "agents": ["bob"]}]
    settings = load_settings(_installation(tmp_path, good))
    sites = load_site_map(settings)
    assert sites.home == {"alice": "paris", "bob": "lyon"}
    assert sites.dial_target("alice", "lyon") == "PJSIP/alice@to-paris"
    assert sites.dial_target("alice", "paris") == "PJSIP/alice"
    assert sites.dial_target("bob", None) == "PJSIP/bob"
    with pytest.raises(ConfigError, match="site 'paris': no AMI secret .* set PARIS_AMI"):
        site_ami(settings.sites[0]).secret()


def test_a_wrong_shape_points_at_its_line(tmp_path: Path) -> None:
    engine = _installation(tmp_path, [{"name": "Paris!", "ami": {"host": "h"}}])
    with pytest.raises(ConfigError) as refused:
        load_settings(engine)
    assert f"{engine}:{_line_of(engine, 'Paris!')}:" in str(refused.value)
