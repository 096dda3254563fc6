"""`ivr desk user add|passwd|disable|enable|list` through click's runner on a real SQLite CRM."""
from __future__ import annotations

import csv
import io
import json
import shutil
import socket
import sqlite3
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from ivr.cli.main import main

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "config").mkdir()
    for name in ("agents.yaml", "queues.yaml"):
        shutil.copy(PROJECT / "config" / name, tmp_path / "config" / name)
    path = tmp_path / "config/engine.yaml"
    path.write_text(yaml.safe_dump({"crm": {"url": "sqlite:///../crm.db"}, "desk": {"language": "en"}}))
    return path


def ivr(config: Path, *args: str, stdin: str | None = None):
    return CliRunner().invoke(main, ["--config", str(config), "desk", "user", *args], input=stdin)


def listed(config: Path) -> list[dict]:
    result = ivr(config, "list", "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_add_then_list_in_every_format(config: Path):
    result = ivr(config, "add", "alice", "--role", "agent", "--full-name", "Alice M.", "--password-stdin",
                 stdin="a long enough secret\n")
    assert result.exit_code == 0, result.output
    assert ivr(config, "add", "root", "--role", "admin", "--language", "fr",
               "--password-stdin", stdin="another secret!\n").exit_code == 0
    rows = listed(config)
    assert [(r["name"], r["role"], r["language"], r["full_name"], r["disabled"]) for r in rows] == [
        ("alice", "agent", "en", "Alice M.", False), ("root", "admin", "fr", "", False)]
    assert not any("hash" in key for key in rows[0])
    table = ivr(config, "list")
    assert table.exit_code == 0 and "alice" in table.output and "root" in table.output
    as_csv = list(csv.DictReader(io.StringIO(ivr(config, "list", "--format", "csv").output)))
    assert [r["name"] for r in as_csv] == ["alice", "root"]
    with sqlite3.connect(config.parent.parent / "crm.db") as db:
        (stored,) = db.execute("SELECT password_hash FROM desk_users WHERE name = 'alice'").fetchone()
    assert stored.startswith("$argon2id$") and "secret" not in stored


def test_the_password_prompt_asks_twice(config: Path):
    result = ivr(config, "add", "bob", "--role", "agent", stdin="first secret 1\nfirst secret 1\n")
    assert result.exit_code == 0, result.output
    mismatch = ivr(config, "add", "carol", "--role", "agent",
                   stdin="one secret 123\nother secret 1\ntwo secrets 12\ntwo secrets 12\n")
    assert "do not match" in mismatch.output and mismatch.exit_code == 0


def test_weak_passwords_bad_names_and_duplicates_are_user_errors(config: Path):
    weak = ivr(config, "add", "alice", "--role", "agent", "--password-stdin", stdin="short\n")
    assert weak.exit_code == 1 and "at least 10 characters" in weak.output
    bad = ivr(config, "add", "Alice Smith", "--role", "agent", "--password-stdin", stdin="long enough 1\n")
    assert bad.exit_code == 1 and "lower-case" in bad.output
    assert ivr(config, "add", "alice", "--role", "agent", "--password-stdin", stdin="long enough 1\n").exit_code == 0
    again = ivr(config, "add", "alice", "--role", "agent", "--password-stdin", stdin="long enough 1\n")
    assert again.exit_code == 1 and "already exists" in again.output
    assert listed(config)[0]["name"] == "alice" and len(listed(config)) == 1


def test_an_agent_user_missing_from_agents_yaml_is_a_warning_not_an_error(config: Path):
    result = ivr(config, "add", "zoe", "--role", "agent", "--password-stdin", stdin="long enough 1\n")
    assert result.exit_code == 0 and "warning: zoe is not an agent" in result.output
    quiet = ivr(config, "add", "alice", "--role", "agent", "--password-stdin", stdin="long enough 1\n")
    assert "warning" not in quiet.output
    sup = ivr(config, "add", "sam", "--role", "supervisor", "--password-stdin", stdin="long enough 1\n")
    assert "warning" not in sup.output


def test_passwd_and_disable_end_the_sessions(config: Path):
    assert ivr(config, "add", "bob", "--role", "agent", "--password-stdin", stdin="long enough 1\n").exit_code == 0
    db = config.parent.parent / "crm.db"

    def add_session(token_hash: str) -> None:
        with sqlite3.connect(db) as conn:
            conn.execute("INSERT INTO desk_sessions VALUES (?, 'bob', 'c', 'x', 'x', 'x')", (token_hash,))

    def sessions() -> int:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT COUNT(*) FROM desk_sessions").fetchone()[0]

    with sqlite3.connect(db) as conn:
        (before,) = conn.execute("SELECT password_hash FROM desk_users").fetchone()
    add_session("s1")
    result = ivr(config, "passwd", "bob", "--password-stdin", stdin="a new long secret\n")
    assert result.exit_code == 0, result.output
    with sqlite3.connect(db) as conn:
        (after,) = conn.execute("SELECT password_hash FROM desk_users").fetchone()
    assert after != before and sessions() == 0
    add_session("s2")
    assert ivr(config, "disable", "bob").exit_code == 0
    assert sessions() == 0 and listed(config)[0]["disabled"] is True
    assert ivr(config, "enable", "bob").exit_code == 0 and listed(config)[0]["disabled"] is False
    unknown = ivr(config, "disable", "nobody")
    assert unknown.exit_code == 1 and "no desk user named 'nobody'" in unknown.output


def serve(config: Path, *args: str):
    return CliRunner().invoke(main, ["--config", str(config), "desk", "serve", *args])


def test_serve_refuses_tls_files_it_cannot_load_with_a_clear_message(config: Path):
    settings = yaml.safe_load(config.read_text())
    settings["desk"] |= {"tls_cert": "missing.crt", "tls_key": "missing.key"}
    config.write_text(yaml.safe_dump(settings))
    result = serve(config)
    assert result.exit_code == 1, result.output
    assert "missing.crt" in result.output and "or remove both" in result.output


def test_serve_on_a_port_in_use_is_a_user_error(config: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = serve(config, "--port", str(port))
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
