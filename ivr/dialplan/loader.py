"""Load a dialplan file: YAML → positions → pydantic model → integrity checks.

Everything the walker relies on (references resolve, prompts exist in every
language, expressions parse) is verified here; `load_plan` raises `PlanInvalid`
listing all problems at once. The only module of the dialplan core that reads files
(load_plan, load_checked, check_paths); the checks themselves take parsed plans.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path as FsPath

from pydantic import ValidationError

from .checks import Catalog, integrity, rules
from .model import Plan, plan_version
from .problems import PlanInvalid, Problem, errors
from .source import Source, load_yaml


def _describe(path: tuple, loc: tuple, err_type: str, msg: str) -> str:
    """`nodes.main.timeout: message` named after the YAML path, not pydantic's loc."""
    parts = [str(p) for p in path]
    if err_type == "missing" and loc:
        parts.append(str(loc[-1]).rstrip("_"))
    msg = msg.removeprefix("Value error, ")
    return f"{'.'.join(parts)}: {msg}" if parts else msg


def _locate(loc: tuple, data: object) -> tuple[tuple, object]:
    """Map a pydantic `loc` onto the data path (dropping union tags etc.);
    return (path, value there)."""
    path: list = []
    cur = data
    for part in loc:
        if isinstance(cur, dict) and str(part) in cur:
            path.append(str(part))
            cur = cur[str(part)]
        elif isinstance(cur, list) and isinstance(part, int) and part < len(cur):
            path.append(part)
            cur = cur[part]
        elif isinstance(cur, dict) and part == "if_" and "if" in cur:
            path.append("if")
            cur = cur["if"]
        elif isinstance(cur, dict) and part == "else_" and "else" in cur:
            path.append("else")
            cur = cur["else"]
    return tuple(path), cur


def parse_plan(text: str, file: str = "<string>") -> tuple[Plan | None, Source, list[Problem]]:
    """Never raises for content problems; returns (plan or None, source, problems)."""
    data, src, problems = load_yaml(text, file)
    if data is None:
        return None, src, problems
    if not isinstance(data, dict):
        return None, src, problems + [Problem(file, 1, 1, "top level must be a mapping")]
    try:
        plan = Plan.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            path, _ = _locate(err["loc"], data)
            msg = err["msg"]
            if isinstance(err.get("input"), bool):  # the "Norway problem": no/yes/on/off
                msg += " (YAML read this as a boolean: quote it)"
            problems.append(src.problem(path, _describe(path, err["loc"], err["type"], msg),
                                        key=err["type"] == "extra_forbidden"))
        return None, src, problems
    plan._source = src
    problems += integrity(plan)
    return plan, src, problems


def load_plan_text(text: str, file: str = "<string>") -> Plan:
    plan, _, problems = parse_plan(text, file)
    if plan is None or errors(problems):
        raise PlanInvalid(errors(problems) or problems)
    return plan


def check_text(text: str, file: str = "<string>", catalog: Catalog | None = None) -> list[Problem]:
    """Every problem of a plan's text: parsing, integrity and the policy rules."""
    plan, _, problems = parse_plan(text, file)
    if plan is not None:
        problems += rules(plan, catalog or Catalog())
    return sorted(set(problems))


# ---- files --------------------------------------------------------------------

def _read(path: FsPath) -> str | Problem:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return Problem(str(path), 1, 1, f"cannot read: {exc}")


def load_plan(path: str | FsPath) -> Plan:
    """Load and validate; raise PlanInvalid with every error found."""
    p = FsPath(path)
    text = _read(p)
    if isinstance(text, Problem):
        raise PlanInvalid([text])
    return load_plan_text(text, str(p))


def load_checked(path: str | FsPath, catalog: Catalog | None = None) -> Plan:
    """Load + run every rule; raise PlanInvalid on any error (engine start-up)."""
    plan = load_plan(path)
    errs = [p for p in rules(plan, catalog or Catalog()) if p.is_error]
    if errs:
        raise PlanInvalid(errs)
    return plan


def plan_files(paths: Iterable[str | FsPath]) -> list[FsPath]:
    files: list[FsPath] = []
    for p in map(FsPath, paths):
        files += sorted([*p.glob("*.yaml"), *p.glob("*.yml")]) if p.is_dir() else [p]
    return files


def check_paths(paths: Iterable[str | FsPath], catalog: Catalog | None = None) -> list[Problem]:
    """Check every plan file (directories: their *.yaml / *.yml)."""
    out: list[Problem] = []
    for f in plan_files(paths):
        text = _read(f)
        out += [text] if isinstance(text, Problem) else check_text(text, str(f), catalog)
    return sorted(set(out))
