"""Load a dialplan file: YAML → positions → pydantic model → integrity checks.

Everything the walker relies on (references resolve, prompts exist in every
language, expressions parse) is verified here; `load_plan` raises `PlanInvalid`
listing all problems at once.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path as FsPath

from pydantic import ValidationError

from .model import Plan
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


def plan_version(plan: Plan) -> str:
    """Short hash of the normalised plan (comments/formatting don't change it)."""
    blob = json.dumps(plan.model_dump(mode="json", by_alias=True), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


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
    from .checks import integrity  # late import: checks needs the model
    problems += integrity(plan)
    return plan, src, problems


def load_plan_text(text: str, file: str = "<string>") -> Plan:
    plan, _, problems = parse_plan(text, file)
    if plan is None or errors(problems):
        raise PlanInvalid(errors(problems) or problems)
    return plan


def load_plan(path: str | FsPath) -> Plan:
    """Load and validate; raise PlanInvalid with every error found."""
    p = FsPath(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanInvalid([Problem(str(p), 1, 1, f"cannot read: {exc}")]) from None
    return load_plan_text(text, str(p))
