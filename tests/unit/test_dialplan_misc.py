"""Expressions, JSON schema, CLI commands, loader robustness."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.dialplan import Catalog, parse_plan
from ivr.dialplan import expr
from ivr.cli.main import main
from hotline_lab.lab import write_config
from ivr.dialplan.schema import json_schema

ROOT = Path(__file__).resolve().parents[2]
HOTLINE_TEXT = (ROOT / "dialplans/hotline.yaml").read_text()


@pytest.mark.parametrize("text, variables, expected", [
    ('contact_type == "doctor"', {"contact_type": "doctor"}, True),
    ('contact_type != "doctor"', {}, True),
    ('language in ["fr", "en"] and not vip', {"language": "en"}, True),
    ('calls >= 10', {"calls": "9"}, False),
    ('calls >= 10', {"calls": "12"}, True),
    ('name > "m"', {"name": "x"}, True),  # non-numeric: string comparison
    ('a == "1" or b == "2"', {"b": "2"}, True),
    ('1 < n < 5', {"n": "3"}, True),
])
def test_conditions(text: str, variables: dict, expected: bool) -> None:
    assert expr.eval_condition(text, variables) is expected


@pytest.mark.parametrize("bad", ['__import__("os")', "a.b", "a + 1", "x[0]", "lambda: 1",
                                 "a ==", "(a := 1)"])
def test_conditions_reject_code(bad: str) -> None:
    with pytest.raises(expr.ExprError):
        expr.condition_names(bad)


def test_skills_use_the_acd_language() -> None:
    e = "medinfo >= 3 and ({language} or en) and not trainee"
    assert expr.skill_names(e, "fr") == {"medinfo", "fr", "en", "trainee"}
    assert expr.resolve_skills(e, "fr") == "medinfo >= 3 and (fr or en) and not trainee"
    with pytest.raises(expr.ExprError):
        expr.skill_names("pv + fr")
    with pytest.raises(expr.ExprError):
        expr.skill_names("medinfo & fr")      # the ACD would refuse it at the first call


def test_json_schema() -> None:
    s = json_schema()
    assert s["type"] == "object" and {"nodes", "policy", "start"} <= set(s["required"])
    assert s["properties"]["nodes"]["additionalProperties"] is False  # bad ids flagged
    (nodes,) = s["properties"]["nodes"]["patternProperties"].values()
    assert nodes["discriminator"]["propertyName"] == "type"
    assert set(nodes["discriminator"]["mapping"]) == {
        "menu", "say", "collect", "route", "transfer", "hours", "lookup", "language",
        "hangup", "condition", "speech"}
    assert {"if", "then", "else"} <= set(s["$defs"]["ConditionNode"]["properties"])
    json.dumps(s)


def test_schema_says_retries_count_tries_and_what_uses_one() -> None:
    defs = json_schema()["$defs"]
    described = {"Policy": defs["Policy"]["properties"]["max_retries"]}
    for node in ("MenuNode", "CollectNode", "LanguageNode", "SpeechNode"):
        described[node] = defs[node]["properties"]["retries"]
    for where, field in described.items():
        text = field["description"]
        assert "the first ask included" in text, where
        assert "invalid key" in text and "timeout" in text, where
        assert '"minimum": 1' in json.dumps(field), where   # zero tries would never ask


def test_retries_zero_is_refused_with_its_line() -> None:
    text = HOTLINE_TEXT.replace("  max_retries: 3\n", "  max_retries: 0\n")
    plan, _, problems = parse_plan(text, "hotline.yaml")
    line = HOTLINE_TEXT.splitlines().index("  max_retries: 3") + 1
    assert plan is None and [p.line for p in problems] == [line], problems


def ivr(*args: str, **kw):
    return CliRunner().invoke(main, list(args), **kw)


def test_cli_check_reports_several_problems_and_exit_code() -> None:
    res = ivr("check", str(ROOT / "tests/dialplans/broken/schema_errors.yaml"),
              str(ROOT / "tests/dialplans/broken/unknown_node.yaml"))
    assert res.exit_code == 1
    lines = [line for line in res.output.splitlines() if ".yaml:" in line]
    assert len(lines) >= 6
    assert any(line.endswith("unknown node 'nowhere'") and ":12:20:" in line for line in lines)


def test_cli_check_names_queues_and_agents_missing_from_config() -> None:
    res = ivr("check", str(ROOT / "tests/dialplans/broken/unknown_catalog.yaml"))
    assert res.exit_code == 1
    assert "unknown queue 'sales'" in res.output and "unknown agent 'nobody'" in res.output


def test_cli_check_ok_and_strict() -> None:
    assert ivr("check", str(ROOT / "dialplans")).exit_code == 0
    unreachable = str(ROOT / "tests/dialplans/broken/unreachable.yaml")
    assert ivr("check", unreachable).exit_code == 0
    assert ivr("check", "--strict", unreachable).exit_code == 1


def test_cli_schema_and_sounds(tmp_path: Path) -> None:
    res = ivr("schema")
    assert res.exit_code == 0 and json.loads(res.output)["title"] == "Hotline dialplan"
    plan = ROOT / "tests/dialplans/broken/no_human.yaml"
    config = write_config(tmp_path / "config", base_port=30000, dialplan=plan,
                          crm=tmp_path / "crm.db", sounds=tmp_path / "sounds")
    res = ivr("--config", str(config), "sounds", "build", "--no-progress", str(plan))
    assert res.exit_code == 0 and "5 created" in res.output   # the plan's 1 + 2 destinations x fr, en


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_mangled_plans_never_crash_the_loader(data) -> None:
    """Deleting or duplicating lines, or cutting the file, only ever yields Problems."""
    lines = HOTLINE_TEXT.splitlines(keepends=True)
    op = data.draw(st.sampled_from(["delete", "duplicate", "truncate", "swap"]))
    i = data.draw(st.integers(0, len(lines) - 1))
    if op == "delete":
        del lines[i]
    elif op == "duplicate":
        lines.insert(i, lines[i])
    elif op == "truncate":
        lines = lines[:i]
    else:
        j = data.draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
    plan, _, problems = parse_plan("".join(lines), "h.yaml")
    for p in problems:
        assert p.file == "h.yaml" and p.line >= 1 and p.col >= 1
    assert plan is not None or problems


def test_an_unknown_yaml_tag_is_a_located_problem_not_a_crash() -> None:
    from ivr.dialplan.source import load_yaml
    _, _, problems = load_yaml("version: 1\nname: !pharma-hotline\n", "plan.yaml")
    assert [(p.line, p.col) for p in problems] == [(2, 7)] and "tag" in problems[0].message
