"""Hundreds of mutated dialplans: each is accepted, or refused with PlanInvalid whose problems
point at a real file, a line inside it and say why. PlanHolder.reload() never swaps a valid
running plan for an invalid one.

Found here and fixed: pyyaml's Reader refuses control characters with a ReaderError (not a
MarkedYAMLError); it is now a located problem, not a crash of `ivr check` or of hot reload.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.config import load_settings
from ivr.dialplan import Catalog, PlanInvalid, check_paths, load_plan
from ivr.dialplan import load_checked
from ivr.dialplan.model import all_prompts
from hotline_lab.lab import write_config
from ivr.app.plans import PlanHolder
from ivr.app.prompts import sound_path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {name: (ROOT / "dialplans" / name).read_text(encoding="utf-8")
           for name in ("hotline.yaml", "minimal.yaml")}
DATA = {name: yaml.safe_load(text) for name, text in SOURCES.items()}
CATALOG = Catalog(queues={"operator", "orders", "medinfo", "pharmacovigilance", "complaints"},
                  skills={"fr", "en", "pv", "orders", "medinfo", "quality"},
                  agents={"alice", "bob", "carol", "dave"})
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
REF_FIELDS = ("next", "default", "on_invalid", "on_timeout", "start", "human_route", "safety_route",
              "open", "closed", "then", "else")


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, prefix + (i,))
    return out


def _parent(data: Any, path: tuple) -> tuple[Any, Any]:
    for step in path[:-1]:
        data = data[step]
    return data, path[-1]


def _refs(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Paths of values naming a node: start, policy routes, next/default/..., options, branches."""
    out = []
    if isinstance(data, dict):
        for k, v in data.items():
            p = prefix + (k,)
            if isinstance(v, str) and (k in REF_FIELDS or (len(prefix) and prefix[-1] in ("options", "branches"))):
                out.append(p)
            out += _refs(v, p)
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _refs(v, prefix + (i,))
    return out


NEW_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True),
                       st.text(max_size=12), st.lists(st.integers(), max_size=3),
                       st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    """(source plan, mutated file bytes)."""
    name = draw(st.sampled_from(sorted(SOURCES)))
    text, data = SOURCES[name], copy.deepcopy(DATA[name])
    kind = draw(st.sampled_from(["delete", "retype", "dangling", "dup-key", "indent", "bytes",
                                 "truncate", "mix"]))
    if kind in ("delete", "retype", "dangling", "mix"):
        for _ in range(draw(st.integers(1, 4)) if kind == "mix" else 1):
            how = kind if kind != "mix" else draw(st.sampled_from(["delete", "retype", "dangling"]))
            paths = _refs(data) if how == "dangling" else _paths(data)
            if not paths:
                break
            parent, key = _parent(data, paths[draw(st.integers(0, len(paths) - 1))])
            if how == "delete":
                del parent[key]
            elif how == "retype":
                parent[key] = draw(NEW_VALUES)
            else:
                parent[key] = "no-such-node-" + draw(st.text("abc", max_size=3))
        return name, yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode()
    lines = text.splitlines(keepends=True)
    i = draw(st.integers(0, len(lines) - 1))
    if kind == "dup-key":
        keyed = [n for n, ln in enumerate(lines) if ":" in ln and not ln.lstrip().startswith("#")]
        i = keyed[draw(st.integers(0, len(keyed) - 1))]
        lines.insert(i + 1, lines[i] if draw(st.booleans()) else lines[i].split(":")[0] + ": 1\n")
    elif kind == "indent":
        delta = draw(st.integers(-4, 4))
        lines[i] = (" " * delta + lines[i]) if delta > 0 else lines[i][min(-delta, len(lines[i]) - len(lines[i].lstrip())):]
    elif kind == "truncate":
        return name, text.encode()[: draw(st.integers(0, len(text.encode())))]
    else:  # random bytes somewhere
        raw = text.encode()
        at = draw(st.integers(0, len(raw)))
        return name, raw[:at] + draw(st.binary(min_size=1, max_size=16)) + raw[at:]
    return name, "".join(lines).encode()



def _assert_problems_are_located(exc: PlanInvalid, path: Path, raw: bytes) -> None:
    assert exc.problems, "PlanInvalid without any problem"
    last_line = raw.count(b"\n") + 1
    for p in exc.problems:
        assert p.file == str(path), p
        assert 1 <= p.line <= last_line, f"line {p.line} outside the file ({last_line} lines): {p}"
        assert p.col >= 1 and p.message.strip(), p


@FUZZ
@given(case=mutated())
def test_mutated_plan_is_accepted_or_refused_with_located_problems(tmp_path: Path,
                                                                   case: tuple[str, bytes]) -> None:
    _name, raw = case
    path = tmp_path / "plan.yaml"
    path.write_bytes(raw)
    try:
        load_checked(path, CATALOG)
    except PlanInvalid as exc:
        _assert_problems_are_located(exc, path, raw)
    problems = check_paths([path], CATALOG)              # `ivr check` never raises either
    assert all(p.file == str(path) and p.line >= 1 and p.message for p in problems)


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_originals_are_valid(name: str) -> None:
    load_checked(ROOT / "dialplans" / name, CATALOG)


def test_dangling_reference_is_reported_at_its_line(tmp_path: Path) -> None:
    text = SOURCES["minimal.yaml"].replace('"1": orders', '"1": nowhere')
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    with pytest.raises(PlanInvalid) as info:
        load_checked(path, CATALOG)
    line = text.splitlines().index(next(ln for ln in text.splitlines() if "nowhere" in ln)) + 1
    assert any(p.line == line and "nowhere" in p.message for p in info.value.problems)


def test_control_character_is_a_located_problem(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    raw = SOURCES["minimal.yaml"].replace("name: minimal", "name: mini\x00mal").encode()
    path.write_bytes(raw)
    with pytest.raises(PlanInvalid) as info:
        load_checked(path, CATALOG)
    _assert_problems_are_located(info.value, path, raw)
    assert info.value.problems[0].line == 2


# ---------------------------------------------------------------- hot reload
@pytest.fixture
def holder(tmp_path: Path) -> PlanHolder:
    plan_file, sounds = tmp_path / "plan.yaml", tmp_path / "sounds"
    plan_file.write_text(SOURCES["hotline.yaml"])
    for src in SOURCES:                                  # every prompt of both plans has a file
        plan = load_plan(ROOT / "dialplans" / src)
        for pid, _texts, _path in all_prompts(plan):
            for lang in plan.languages:
                f = sound_path(sounds, lang, pid)
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_bytes(b"RIFF")
    cfg = write_config(tmp_path / "config", base_port=40000, dialplan=plan_file,
                       crm=tmp_path / "crm.db", sounds=sounds)
    h = PlanHolder(load_settings(cfg))
    h.load_initial()
    return h


@FUZZ
@given(case=mutated())
def test_reload_never_replaces_a_valid_plan_with_an_invalid_one(holder: PlanHolder,
                                                                case: tuple[str, bytes]) -> None:
    before = holder.current
    holder.path.write_bytes(case[1])
    swapped = holder.reload()
    if swapped:                                          # accepted: it passes every check
        load_checked(holder.path, CATALOG)
        assert holder.current.path == holder.path
    else:
        assert holder.current is before
    holder.path.write_text(SOURCES["hotline.yaml"])     # back to the valid plan for the next case
    assert holder.reload() and holder.current.version == before.version


def test_reload_swaps_in_a_valid_edit_and_keeps_running_plan_on_a_bad_one(holder: PlanHolder) -> None:
    first = holder.current
    holder.path.write_text(SOURCES["minimal.yaml"])
    assert holder.reload() and holder.current.version != first.version
    good = holder.current
    holder.path.write_text(SOURCES["minimal.yaml"].replace("queue: orders", "queue: nope"))
    assert not holder.reload().ok and holder.current is good
    holder.path.write_bytes(b"\xff\xfe garbage")
    assert not holder.reload().ok and holder.current is good


def test_ivr_reload_prints_each_problem_of_a_refused_plan(holder: PlanHolder) -> None:
    """`ivr reload` through the real control socket: the engine's reply carries the
    file:line:col problems and the CLI prints them, exit 1; a good plan prints its version."""
    import asyncio
    import threading

    from click.testing import CliRunner

    from ivr.app.control import ControlServer
    from ivr.cli.main import main

    config = holder.path.parent / "config/engine.yaml"
    socket = holder.settings.path(holder.settings.control.socket)
    server = ControlServer(socket, lambda request: holder.reload().reply())
    loop = asyncio.new_event_loop()
    loop.run_until_complete(server.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        broken = SOURCES["hotline.yaml"].replace('"2": orders-menu', '"2": no-such-node')
        holder.path.write_text(broken)
        line = broken.splitlines().index(next(x for x in broken.splitlines()
                                              if "no-such-node" in x)) + 1
        refused = CliRunner().invoke(main, ["--config", str(config), "reload"])
        assert refused.exit_code == 1, refused.output
        assert f"{holder.path}:{line}:" in refused.stderr and "no-such-node" in refused.stderr
        assert "the running plan (version" in refused.stderr
        holder.path.write_text(SOURCES["minimal.yaml"])
        swapped = CliRunner().invoke(main, ["--config", str(config), "reload"])
        assert swapped.exit_code == 0 and holder.current.version in swapped.output
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
