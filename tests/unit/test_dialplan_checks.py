"""Static checks: every broken sample plan reports what its header expects."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from ivr.dialplan import (Catalog, PlanInvalid, check_paths, check_plan, check_text, load_checked,
                         load_plan, load_plan_text, parse_plan)

ROOT = Path(__file__).resolve().parents[2]
BROKEN = sorted((ROOT / "tests/dialplans/broken").glob("*.yaml"))
CATALOG = Catalog(
    queues={"operator", "orders", "medinfo", "pharmacovigilance", "complaints"},
    skills={"fr", "en", "pv", "orders", "medinfo", "quality"},
    agents={"alice", "bob"},
)


def _expectations(path: Path) -> list[tuple[int, str]]:
    return [(int(m[1]), m[2]) for m in re.finditer(r"^# expect: (\d+): (.+)$",
                                                   path.read_text(), re.M)]


def test_broken_dir_is_populated() -> None:
    assert len(BROKEN) >= 12
    assert all(_expectations(p) for p in BROKEN)


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_broken_plan_reports_expected_problems(path: Path) -> None:
    problems = check_paths([path], CATALOG)
    for line, text in _expectations(path):
        hits = [p for p in problems if p.line == line and text in str(p)]
        assert hits, f"no problem containing {text!r} on line {line}; got:\n" + "\n".join(
            map(str, problems))
        assert all(str(p).startswith(f"{path}:{p.line}:{p.col}: ") for p in problems)


@pytest.mark.parametrize("name", ["hotline", "minimal"])
def test_shipped_plans_are_clean(name: str) -> None:
    problems = check_paths([ROOT / "dialplans" / f"{name}.yaml"], CATALOG)
    assert problems == []


def test_checks_take_text_not_files() -> None:
    # the same problems from the text alone, named after the file the caller says it came from
    path = ROOT / "tests/dialplans/broken/no_human.yaml"
    from_text = check_text(path.read_text(encoding="utf-8"), "plans/pasted.yaml", CATALOG)
    from_file = check_paths([path], CATALOG)
    assert from_text and [(p.line, p.message) for p in from_text] == \
        [(p.line, p.message) for p in from_file]
    assert all(p.file == "plans/pasted.yaml" for p in from_text)


def test_unreadable_plan_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    problems = check_paths([tmp_path / "absent.yaml"], CATALOG)
    assert [(p.line, p.message.split(":")[0]) for p in problems] == [(1, "cannot read")]


def test_check_paths_accepts_directory() -> None:
    problems = check_paths([ROOT / "tests/dialplans/broken"], CATALOG)
    assert {Path(p.file).name for p in problems} >= {p.name for p in BROKEN}


def test_several_problems_at_once() -> None:
    with pytest.raises(PlanInvalid) as exc:
        load_plan(ROOT / "tests/dialplans/broken/schema_errors.yaml")
    assert len(exc.value.problems) >= 4
    assert str(exc.value).count("\n") >= 3


def test_load_checked_refuses_policy_errors() -> None:
    with pytest.raises(PlanInvalid, match="offers no way to a person"):
        load_checked(ROOT / "tests/dialplans/broken/no_human.yaml", CATALOG)
    assert load_checked(ROOT / "dialplans/minimal.yaml", CATALOG).name == "minimal"


def test_warning_does_not_raise_on_load() -> None:
    plan = load_plan(ROOT / "tests/dialplans/broken/unreachable.yaml")
    (w,) = check_plan(plan, CATALOG)
    assert w.severity == "warning" and str(w) == f"{w.file}:14:3: node 'lost' is unreachable"
    assert w.display() == f"{w.file}:14:3: warning: node 'lost' is unreachable"


BASE = """
name: t
languages: [fr, en]
default_language: fr
start: main
policy: {human_route: operator, safety_route: safety, max_retries: 3}
nodes:
  operator: {type: route, queue: operator, intent: operator}
  safety: {type: route, queue: pharmacovigilance, intent: adverse-event}
"""


def _plan(extra: str):
    return load_plan_text(BASE + extra, "t.yaml")


def test_waiver_skips_human_rule() -> None:
    plan = _plan("""  main:
    type: menu
    prompt: {fr: M, en: M}
    options: {"1": operator}
    human_exit_waiver: "legal disclaimer must be acknowledged first"
""")
    assert [p for p in check_plan(plan, CATALOG) if p.is_error] == []


def test_prompt_files_catalog() -> None:
    plan = _plan("  main: {type: menu, prompt: {fr: M}, options: {'0': operator}}\n")
    assert [str(p) for p in check_plan(plan)] == ["t.yaml:10:30: prompt 'main' has no 'en' text"]
    probs = check_plan(plan, Catalog(prompt_files={"fr/main"}))
    assert [p.message for p in probs] == ["prompt 'main' has no 'en' text and no recording en/main.wav"]
    assert check_plan(plan, Catalog(prompt_files={"en/main"})) == []  # a recording stands in
    assert check_plan(plan, Catalog(prompt_files=lambda lang, pid: True)) == []


def test_catalog_ceilings() -> None:
    plan = _plan("  main: {type: menu, prompt: {fr: M, en: M}, options: {'0': operator}}\n")
    probs = check_plan(plan, Catalog(max_retries=2))
    assert any("exceeds the organisation limit 2" in str(p) for p in probs)


def test_on_fail_must_reach_person() -> None:
    plan = _plan("""  main: {type: menu, prompt: {fr: M, en: M}, options: {'0': operator}, on_fail: bye}
  bye: {type: hangup}
""")
    assert any("on_fail 'bye' must lead to a person" in str(p) for p in check_plan(plan))


def test_cycle_with_human_exit_is_fine() -> None:
    plan = _plan("""  main: {type: menu, prompt: {fr: M, en: M}, options: {'0': operator, '1': info}}
  info: {type: say, prompt: {fr: I, en: I}, next: main}
""")
    assert check_plan(plan, CATALOG) == []


def test_duplicate_prompt_id() -> None:
    with pytest.raises(PlanInvalid, match="prompt id 'main-invalid' also used"):
        _plan("""  main: {type: menu, prompt: {fr: M, en: M}, options: {'0': main-invalid},
         invalid_prompt: {fr: X, en: X}}
  main-invalid: {type: route, queue: operator, intent: x, prompt: {fr: Y, en: Y}}
""")


def test_version_is_stable_and_content_based() -> None:
    a = _plan("  main: {type: menu, prompt: {fr: M, en: M}, options: {'0': operator}}\n")
    b = _plan("  # comment\n  main: {type: menu, prompt: {fr: M, en: M}, options: {'0': operator}}\n")
    c = _plan("  main: {type: menu, prompt: {fr: N, en: M}, options: {'0': operator}}\n")
    assert a.version == b.version != c.version and len(a.version) == 12


def test_norway_problem_hint() -> None:
    with pytest.raises(PlanInvalid, match="quote it"):
        _plan("  main: {type: menu, prompt: {fr: Non, en: No}, options: {'0': operator}}\n")


def test_duplicate_key_spelled_differently() -> None:
    with pytest.raises(PlanInvalid, match="duplicate key '1'"):
        _plan("  main: {type: menu, prompt: {fr: M, en: M}, options: {1: operator, '1': safety,"
              " '0': operator}}\n")


def test_collect_and_language_retries_are_bounded() -> None:
    plan = _plan("""  main: {type: language, prompt: {fr: L, en: L}, options: {'1': fr}, retries: 7,
         next: pin}
  pin: {type: collect, prompt: {fr: P, en: P}, variable: pin, retries: 4, next: operator}
""")
    msgs = [str(p) for p in check_plan(plan, CATALOG)]
    assert any(":10:" in m and "retries 7 exceeds max_retries 3" in m for m in msgs)
    assert any(":12:" in m and "retries 4 exceeds max_retries 3" in m for m in msgs)


def test_an_unclosed_bracket_is_reported_where_it_opened() -> None:
    # The parser notices the missing '}' two lines later; the author must fix line 3.
    text = ("name: t\nnodes:\n  main: {type: menu, options: {\"1\": a}\n"
            "  a: {type: hangup}\n  b: {type: hangup}\n")
    (problem,) = parse_plan(text, "plan.yaml")[2]
    assert (problem.line, problem.col) == (3, 9), problem
    assert "'{' opened here is never closed" in problem.message
    assert "gave up at line 4, column 3" in problem.message      # the other mark, named


def test_a_settings_file_with_an_unclosed_quote_points_where_it_opened(tmp_path: Path) -> None:
    from ivr.config import ConfigError, load_settings
    config = tmp_path / "engine.yaml"
    config.write_text('agi:\n  host: "127.0.0.1\n  port: 4573\nami:\n  port: 5038\n')
    with pytest.raises(ConfigError) as err:
        load_settings(config)
    assert str(err.value).startswith(f"{config}:2:9: YAML syntax: the quote opened here")
