"""ivr.cli.check: config/*.yaml, asterisk/*.conf and security checks, each at file:line."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from ivr.config import load_settings
from ivr.cli.check import check_config, parse_conf, weak_secret
from ivr.dialplan import load_plan
from ivr.dialplan.model import all_prompts
from ivr.dialplan.problems import Problem
from ivr.app.prompts import sound_path

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
STRONG = "k3T9-vQz7-Lm2P-x8Rw"


def _check(root: Path, env: dict[str, str] | None = None, **kw: object) -> list[Problem]:
    settings = load_settings(root / "config/engine.yaml")
    return check_config(settings, config_file=root / "config/engine.yaml",
                        env={} if env is None else env, **kw)  # type: ignore[arg-type]


def _where(problems: list[Problem], root: Path) -> list[str]:
    return [f"{Path(p.file).relative_to(root)}:{p.line}: {p.severity}: {p.message}" for p in problems]


def _sounds(root: Path) -> None:
    """The prompt files the engine needs (generated in real life, never tracked)."""
    plan = load_plan(root / "dialplans/minimal.yaml")
    for pid, _texts, _path in all_prompts(plan):
        for lang in plan.languages:
            f = sound_path(root / "sounds", lang, pid)
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(b"RIFF")


@pytest.fixture
def good(tmp_path: Path) -> Path:
    root = tmp_path / "good"
    shutil.copytree(CONFIGS / "good", root)
    _sounds(root)
    return root


@pytest.fixture
def broken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "broken"
    shutil.copytree(CONFIGS / "broken", root)
    _sounds(root)
    secret = root / "ami.secret"
    secret.write_text(STRONG + "\n")
    os.chmod(secret, 0o644)
    monkeypatch.chdir(tmp_path)            # ami.secret_file is found from engine.yaml, not from here
    return root


def test_good_installation_has_no_problem(good: Path) -> None:
    assert _check(good) == []
    assert _check(good, {"IVR_AMI_SECRET": STRONG}) == []


BROKEN_EXPECTED = [
    ("asterisk/extensions_hotline.conf", 4, "error", "no fallback after AGI(${IVR_ENGINE}/hotline)"),
    ("asterisk/manager_hotline.conf", 5, "error", "secret in a tracked file"),
    ("asterisk/manager_hotline.conf", 8, "warning", "read rights beyond least privilege: config ("),
    ("asterisk/manager_hotline.conf", 9, "warning", "write rights beyond least privilege: command, config"),
    ("config/agents.yaml", 6, "error", "agents.bob.phone: Extra inputs are not permitted"),
    ("config/agents.yaml", 8, "error", "skill 'pv': level 9 outside 1-5"),
    ("config/engine.yaml", 3, "warning", "FastAGI listens on 0.0.0.0 and accepts any host"),
    ("config/engine.yaml", 9, "error", "is readable by others (mode 644): chmod 600"),
    ("config/engine.yaml", 11, "warning", "AudioSocket listens on 192.0.2.10"),
    ("config/queues.yaml", 5, "error", "congestion_destination: 'nowhere' is neither a queue nor"),
    ("config/queues.yaml", 8, "error", "queues.orders.strategy: Input should be 'longest-idle'"),
    ("config/queues.yaml", 10, "error", "overflow: no queue named 'sales'"),
    ("config/queues.yaml", 11, "error", "divert: 'voicemail-orders' is neither a queue nor"),
    ("config/queues.yaml", 13, "warning", "queue pharmacovigilance: no agent can ever meet"),
    ("config/queues.yaml", 17, "error", "queues.complaints.requirement: expected a skill name"),
    ("config/queues.yaml", 19, "error", "destinations.pv-line: a destination is one of"),
    ("knowledge/orders-fr.md", 4, "error", "unknown language 'de': use one of fr, en, zh"),
]


def test_broken_installation_reports_every_problem_at_its_line(broken: Path) -> None:
    problems = _check(broken)
    got = _where(problems, broken)
    for file, line, severity, text in BROKEN_EXPECTED:
        assert any(g.startswith(f"{file}:{line}: {severity}: ") and text in g for g in got), \
            f"missing {file}:{line} {text!r}; got:\n" + "\n".join(got)
    assert len(problems) == len(BROKEN_EXPECTED), "\n".join(got)
    for p in problems:                                          # file:line:col: message
        assert str(p).startswith(f"{p.file}:{p.line}:{p.col}: ") and p.line >= 1 and p.col >= 1


def test_least_privilege_warning_names_the_extra_rights(broken: Path) -> None:
    (broken / "asterisk/manager_hotline.conf").write_text(
        "[general]\nenabled = yes\n\n[hotline]\nread = system,call,config\nwrite = all , call\n")
    text = "\n".join(map(str, _check(broken, asterisk_dir=broken / "asterisk")))
    assert "manager_hotline.conf:5:1: AMI user hotline: read rights beyond least privilege: config" in text
    assert "manager_hotline.conf:6:1: AMI user hotline: write rights beyond least privilege: all" in text


def test_ami_user_must_match_settings(good: Path) -> None:
    engine = good / "config/engine.yaml"
    engine.write_text(engine.read_text().replace("username: ivr-engine", "username: ivr"))
    [p] = _check(good)
    assert (Path(p.file).name, p.line, p.severity) == ("manager_hotline.conf", 5, "error")
    assert "AMI user ['ivr-engine'] does not match ami.username 'ivr'" in p.message


@pytest.mark.parametrize("secret,why", [
    ("changeme", "well-known default"), ("123456", "well-known default"), ("admin", "default"),
    ("s3cr3t", "shorter than 12"), ("aaaaaaaaaaaaaa", "repeats"),
])
def test_weak_ami_secret_from_environment_is_a_warning(good: Path, secret: str, why: str) -> None:
    [p] = _check(good, {"IVR_AMI_SECRET": secret})
    assert (Path(p.file).name, p.line, p.severity) == ("engine.yaml", 6, "warning")
    assert "IVR_AMI_SECRET" in p.message and why in p.message
    assert secret not in p.message                              # never echo the secret
    assert weak_secret(STRONG) is None


def test_private_secret_file_passes_and_weak_content_warns(good: Path) -> None:
    secret = good / "ami.secret"
    secret.write_text(STRONG)
    os.chmod(secret, 0o600)
    engine = good / "config/engine.yaml"
    engine.write_text(engine.read_text().replace("username: ivr-engine",
                                                 f"username: ivr-engine\n  secret_file: {secret}"))
    assert _check(good) == []
    secret.write_text("password")
    [p] = _check(good)
    assert (p.line, p.severity) == (10, "warning") and "well-known default" in p.message


def test_missing_hotline_context_and_agi(good: Path) -> None:
    ext = good / "asterisk/extensions_hotline.conf"
    ext.write_text("[other]\nexten => s,1,Hangup()\n")
    [p] = _check(good)
    assert (Path(p.file).name, p.line, p.col) == ("extensions_hotline.conf", 1, 1)
    assert "no [hotline] context" in p.message
    ext.write_text("; header\n[hotline]\nexten => _X.,1,Dial(PJSIP/op)\n")
    [p] = _check(good)
    assert p.line == 2 and "never calls AGI(${IVR_ENGINE}/hotline" in p.message


def test_yaml_syntax_and_duplicate_keys_point_at_their_lines(good: Path) -> None:
    (good / "config/agents.yaml").write_text("agents:\n  alice: {skills: {fr: 5}}\n  alice: {}\n")
    (good / "config/queues.yaml").write_text("queues:\n  operator: [\n")
    text = "\n".join(map(str, _check(good)))
    assert "agents.yaml:3:3: duplicate key 'alice'" in text
    assert "queues.yaml:3:1: YAML syntax" in text


def test_missing_dialplan_and_invalid_dialplan_are_reported(good: Path) -> None:
    (good / "dialplans/minimal.yaml").write_text("version: 1\nnodes: {}\n")
    problems = _check(good)
    assert problems and all(Path(p.file).name == "minimal.yaml" for p in problems)
    (good / "dialplans/minimal.yaml").unlink()
    [p] = _check(good)
    assert Path(p.file).name == "engine.yaml" and "does not exist" in p.message


def test_missing_sound_files_are_warnings(good: Path) -> None:
    shutil.rmtree(good / "sounds/en")
    problems = _check(good)
    assert problems and all(p.severity == "warning" and Path(p.file).name == "minimal.yaml"
                            and "missing sound" in p.message and "refuse to start" in p.message
                            for p in problems)
    assert {p.line for p in problems} == {13, 19}              # the callback confirmation, main's prompt


def test_dialplan_is_checked_against_the_queues_of_the_config(good: Path) -> None:
    q = good / "config/queues.yaml"
    q.write_text(q.read_text().replace("  orders:\n", "  sales:\n"))
    text = "\n".join(map(str, _check(good)))
    assert "minimal.yaml:24:" in text and "orders" in text


def test_parse_conf_templates_includes_and_comments() -> None:
    conf = parse_conf("[a](!)\n#include other.conf\nkey = v\\;x ; comment\n;-- block\n"
                      "secret = no --;\n  same => n,NoOp()\n[b]\nnot a pair\n", "t.conf")
    assert conf.sections == {"a": 1, "b": 7}
    assert [(i.line, i.key, i.value) for i in conf.lines] == [
        (2, "#include", "other.conf"), (3, "key", "v;x"), (6, "same", "n,NoOp()")]
    assert conf.lines[2].col == 3
    assert [(p.line, "not a [section]" in p.message) for p in conf.problems] == [(8, True)]


def test_check_command_whole_installation_and_paths(good: Path, broken: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from ivr.cli.check import check_cmd

    monkeypatch.delenv("IVR_AMI_SECRET", raising=False)
    runner = CliRunner()
    res = runner.invoke(check_cmd, [], obj={"config": str(good / "config/engine.yaml")})
    assert res.exit_code == 0 and "ok: installation checked" in res.output, res.output
    res = runner.invoke(check_cmd, [], obj={"config": str(broken / "config/engine.yaml")})
    assert res.exit_code == 1 and "12 problem(s)" in res.output           # errors only
    assert f"{broken}/config/queues.yaml:10:39: queues.orders.escalation.0.overflow" in res.output
    res = runner.invoke(check_cmd, [str(good / "dialplans/minimal.yaml")],
                        obj={"config": str(good / "config/engine.yaml")})
    assert res.exit_code == 0 and "ok: 1 path(s) checked" in res.output
    res = runner.invoke(check_cmd, ["--strict"], obj={"config": str(broken / "config/engine.yaml")})
    assert res.exit_code == 1 and "17 problem(s)" in res.output           # warnings too


# ------------------------------------------------------------------ one rule for relative paths
PROJECT = Path(__file__).resolve().parents[2]


def test_relative_paths_start_from_the_settings_file_not_the_current_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    (site / "etc").mkdir(parents=True)
    (site / "etc/engine.yaml").write_text(
        "dialplan: ../plans/hotline.yaml\nagents_file: agents.yaml\nqueues_file: /abs/queues.yaml\n"
        "asterisk_dir: ../pbx\ncrm: {url: 'sqlite:///../var/crm.db'}\n"
        "ami: {secret_file: ../secrets/ami}\n")
    monkeypatch.chdir(tmp_path)                           # anywhere but the settings' folder
    settings = load_settings("site/etc/engine.yaml")
    assert settings.file == site / "etc/engine.yaml"
    assert settings.path(settings.dialplan) == site / "plans/hotline.yaml"
    assert settings.path(settings.agents_file) == site / "etc/agents.yaml"
    assert settings.path(settings.queues_file) == Path("/abs/queues.yaml")
    assert settings.asterisk_path() == site / "pbx"
    assert settings.crm_url() == f"sqlite:///{site}/var/crm.db"
    assert settings.ami.secret_file == str(site / "secrets/ami")
    assert settings.path(settings.control.socket) == site / "var/run/ivr-control.sock"   # default


def test_the_project_settings_name_the_project_files_from_any_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(PROJECT / "config/engine.yaml")
    assert settings.path(settings.dialplan) == PROJECT / "dialplans/hotline.yaml"
    assert settings.path(settings.agents_file) == PROJECT / "config/agents.yaml"
    assert settings.path(settings.sounds.dir) == PROJECT / "sounds"
    assert settings.cdr_csv_path() == PROJECT / ".cache/sandbox/root/var/log/asterisk/cdr-csv/Master.csv"
    assert settings.asterisk_path() == PROJECT / "asterisk"
    assert settings.crm_url() == f"sqlite:///{PROJECT}/var/crm.db"


def test_check_of_a_copied_config_reads_the_asterisk_folder_the_sandbox_installs(
        tmp_path: Path) -> None:
    """`ivr --config COPY/engine.yaml check` on a lab's copy (absolute paths, no asterisk_dir):
    the engine's own asterisk/ is checked, as the sandbox installs it, and every file read is
    named."""
    from click.testing import CliRunner
    from ivr.cli.main import main
    from hotline_lab.lab import write_config
    copy = write_config(tmp_path / "copy", base_port=31000, crm=tmp_path / "crm.db",
                        dialplan=PROJECT / "dialplans/minimal.yaml", sounds=tmp_path / "sounds")
    res = CliRunner().invoke(main, ["--config", str(copy), "check"], env={"IVR_AMI_SECRET": STRONG})
    assert "asterisk" not in "".join(line for line in res.stdout.splitlines()), res.stdout
    assert f"checking settings {copy}" in res.stderr
    assert f"checking asterisk {PROJECT / 'asterisk'}" in res.stderr
    assert f"checking dialplan {PROJECT / 'dialplans/minimal.yaml'}" in res.stderr
    assert res.exit_code == 0, res.output
    # A copy that names a missing folder is told which rule found it, at its line.
    copy.write_text(copy.read_text() + "asterisk_dir: ../asterisk\n")
    res = CliRunner().invoke(main, ["--config", str(copy), "check"], env={"IVR_AMI_SECRET": STRONG})
    line = len(copy.read_text().splitlines())
    assert res.exit_code == 1
    assert (f"{copy}:{line}:15: asterisk_dir {tmp_path / 'asterisk'} is not a folder; fix "
            f"`asterisk_dir:` (relative paths in {copy} start from {copy.parent}") in res.stdout


def test_a_destination_must_tell_the_caller_what_happens_next_in_every_language(good: Path) -> None:
    q = good / "config/queues.yaml"
    text = q.read_text()
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines, 1) if line.startswith("  callback:"))
    q.write_text(text.replace(
        '    prompt: {fr: "Nous vous rappellerons à ce numéro dans l\'heure.", en: "We will call you back at this number within the hour."}\n',
        '    prompt: {fr: "Nous vous rappellerons à ce numéro dans l\'heure."}\n'))
    problems = [p for p in _check(good) if p.is_error]
    assert [(Path(p.file).name, p.line) for p in problems] == [("queues.yaml", at + 2)]
    assert "no prompt in en" in problems[0].message and "what happens next" in problems[0].message
    q.write_text(text.replace("    pv-emergency-line:", "    pv-emergency-line:", 1).replace(
        '    prompt: {fr: "Nous vous transférons vers la pharmacovigilance.", en: "We are transferring you to drug safety."}\n', ""))
    problems = [p for p in _check(good) if p.is_error]
    assert len(problems) == 1 and "must tell the caller what happens next" in problems[0].message


def test_email_channel_queues_and_password(good: Path) -> None:
    engine = good / "config/engine.yaml"
    data = yaml.safe_load(engine.read_text()) or {}
    data["channels"] = {"email": {"imap_host": "imap.example", "user": "u", "from_address": "h@example",
                                  "queue": "nowhere", "password_env": "IVR_TEST_MAIL_PW"}}
    engine.write_text(yaml.safe_dump(data))
    got = _where(_check(good), good)
    assert any("channels.email.queue: queue 'nowhere' is not in" in p and ": error:" in p for p in got), got
    assert any("channels.email.pv_queue" in p for p in got) == ("pharmacovigilance" not in
                                                              (good / "config/queues.yaml").read_text())
    assert any("$IVR_TEST_MAIL_PW" in p and ": warning:" in p for p in got), got
    assert not any("IVR_TEST_MAIL_PW" in p for p in _where(_check(good, {"IVR_TEST_MAIL_PW": "x"}), good))
