"""Campaign files through the real CLI: `ivr campaign list` and `ivr check` (issue 15)."""
from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from ivr.cli.campaign import check_campaign
from ivr.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
CAMPAIGN = """\
name: care-q4
purpose: care calls to patients on treatment X
caller_id: "+4930123456"
dialplan: care.yaml
list:
  csv: patients.csv
  country_code: "49"
"""
LIST = "number,name,consent\n030 1234567,Ann,yes\n12,Bob,yes\n+4930999999,Cy,perhaps\n"


def site(tmp_path: Path, campaign: str = CAMPAIGN, rows: str = LIST) -> Path:
    folder = tmp_path / "campaigns"
    folder.mkdir()
    shutil.copy(ROOT / "dialplans" / "minimal.yaml", folder / "care.yaml")
    (folder / "patients.csv").write_text(rows, encoding="utf-8")
    (folder / "care-q4.yaml").write_text(campaign, encoding="utf-8")
    return folder / "care-q4.yaml"


def test_list_writes_the_rejects_with_line_and_reason(tmp_path: Path) -> None:
    file = site(tmp_path)
    result = CliRunner().invoke(main, ["campaign", "list", str(file)])
    assert result.exit_code == 0, result.output
    assert "1 contact(s) accepted, 2 rejected" in result.output
    rejects = (file.parent / "patients.rejects.csv").read_text().splitlines()
    assert rejects[0] == "line,reason,number,name,consent"
    assert rejects[1].startswith("3,number '12' has too few digits")
    assert rejects[2].startswith("4,consent 'perhaps' is not yes or no")
    # fixed list: the old rejects file goes
    (file.parent / "patients.csv").write_text("number,consent\n+4930111111,yes\n")
    assert CliRunner().invoke(main, ["campaign", "list", str(file)]).exit_code == 0
    assert not (file.parent / "patients.rejects.csv").exists()


def test_a_bad_campaign_file_exits_1_with_file_and_line(tmp_path: Path) -> None:
    file = site(tmp_path, CAMPAIGN + "mode: progressive\nlimits: {ring_seconds: 5}\n")
    result = CliRunner().invoke(main, ["campaign", "list", str(file)])
    assert result.exit_code == 1
    assert f"{file}:9:" in result.output and "ring_seconds" in result.output


def test_check_finds_a_missing_dialplan_an_unknown_queue_and_rejected_rows(tmp_path: Path) -> None:
    file = site(tmp_path, CAMPAIGN.replace("care.yaml", "nowhere.yaml")
                + "mode: progressive\nqueue: nope\nabandon_message: id\n")
    problems = check_campaign(file, queues={"care"})
    texts = [(p.line, p.severity, p.message) for p in problems]
    assert any(line == 4 and "nowhere.yaml does not exist" in m for line, _, m in texts), texts
    assert any(line == 9 and "unknown queue 'nope'" in m for line, _, m in texts), texts
    assert any(line == 6 and sev == "warning" and "2 row(s)" in m for line, sev, m in texts), texts


def test_ivr_check_reads_the_campaigns_folder(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    engine = (config / "engine.yaml").read_text()
    (config / "engine.yaml").write_text(engine + f"\ncampaigns_dir: {tmp_path / 'campaigns'}\n"
                                        f"dialplan: {ROOT / 'dialplans' / 'hotline.yaml'}\n")
    site(tmp_path, CAMPAIGN.replace("caller_id: \"+4930123456\"", "caller_id: unknown"))
    result = CliRunner().invoke(main, ["--config", str(config / "engine.yaml"), "check"])
    assert result.exit_code == 1
    assert "care-q4.yaml:3:" in result.output and "caller_id" in result.output


def test_every_menu_of_an_outbound_dialplan_offers_the_opt_out_key(tmp_path: Path) -> None:
    file = site(tmp_path)                                  # minimal.yaml: its menu has no 8
    problems = check_campaign(file)
    assert any(p.line == 4 and "menu main does not offer the opt-out key '8'" in p.message
               for p in problems), problems
    shutil.copy(ROOT / "dialplans" / "outbound-care.yaml", file.parent / "care.yaml")
    assert [p for p in check_campaign(file) if p.is_error] == []
    file.write_text(CAMPAIGN + "opt_out_key: \"9\"\n")
    assert any("opt_out_key '9' is the dialplan's policy.safety_key" in p.message and p.line == 8
               for p in check_campaign(file))


def test_check_names_an_unknown_segment_and_an_unknown_contact_type(tmp_path: Path) -> None:
    base = CAMPAIGN.replace("  csv: patients.csv\n", "")
    file = site(tmp_path, base.replace("list:\n", "list:\n  segment: everyone\n"))
    assert any(p.line == 6 and "unknown segment 'everyone'" in p.message for p in check_campaign(file))
    file.write_text(base.replace("list:\n", "list:\n  segment: {types: [pharmacist, wizard]}\n"))
    problems = check_campaign(file)
    assert any("unknown contact type(s) 'wizard'" in p.message for p in problems), problems
    file.write_text(base.replace("list:\n", "list:\n  segment: {types: [pharmacist]}\n"))
    assert not [p for p in check_campaign(file) if "segment" in p.message or "type" in p.message]
