"""Two tiny, safe expression languages (parsed with `ast`, whitelisted).

* conditions over call variables: `contact_type == "pharmacist" and language in ["fr", "en"]`
  (unknown variables are ""; `<`/`>` compare as integers when both sides are).
* required skills: the ACD's requirement language (acd/skills.py), e.g.
  `medinfo >= 3 and ({language} or en)`; `{language}` is the caller's language at routing time.
"""
from __future__ import annotations

import ast
from collections.abc import Mapping

from acd.skills import SkillExpressionError, compile_requirement

LANGUAGE_SLOT = "{language}"


class ExprError(ValueError):
    pass


def _parse(text: str) -> ast.expr:
    try:
        return ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ExprError(f"syntax error in {text!r}: {exc.msg}") from None


# ---- conditions --------------------------------------------------------------

_CMP = (ast.Eq, ast.NotEq, ast.In, ast.NotIn, ast.Lt, ast.LtE, ast.Gt, ast.GtE)


def condition_names(text: str) -> set[str]:
    """Validate a condition; return the variable names it reads."""
    names: set[str] = set()

    def visit(n: ast.AST) -> None:
        if isinstance(n, ast.BoolOp):
            for v in n.values:
                visit(v)
        elif isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.Not):
            visit(n.operand)
        elif isinstance(n, ast.Compare):
            if not all(isinstance(op, _CMP) for op in n.ops):
                raise ExprError("only == != in 'not in' < <= > >= are allowed")
            for v in [n.left, *n.comparators]:
                visit(v)
        elif isinstance(n, ast.Name):
            names.add(n.id)
        elif isinstance(n, ast.Constant) and isinstance(n.value, (str, int)):
            pass
        elif isinstance(n, (ast.List, ast.Tuple)):
            for v in n.elts:
                visit(v)
        else:
            raise ExprError(f"unsupported element {type(n).__name__} in condition")

    visit(_parse(text))
    return names


def _num(a: object, b: object) -> tuple[object, object]:
    try:
        return int(a), int(b)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(a), str(b)


def eval_condition(text: str, variables: Mapping[str, str]) -> bool:
    condition_names(text)  # re-validate: never evaluate anything unchecked

    def ev(n: ast.AST) -> object:
        if isinstance(n, ast.BoolOp):
            vals = (bool(ev(v)) for v in n.values)
            return all(vals) if isinstance(n.op, ast.And) else any(vals)
        if isinstance(n, ast.UnaryOp):
            return not ev(n.operand)
        if isinstance(n, ast.Name):
            return variables.get(n.id, "")
        if isinstance(n, ast.Constant):
            return str(n.value)
        if isinstance(n, (ast.List, ast.Tuple)):
            return [ev(v) for v in n.elts]
        assert isinstance(n, ast.Compare)
        left = ev(n.left)
        for op, comp in zip(n.ops, n.comparators):
            right = ev(comp)
            if isinstance(op, ast.In):
                ok = left in right  # type: ignore[operator]
            elif isinstance(op, ast.NotIn):
                ok = left not in right  # type: ignore[operator]
            elif isinstance(op, ast.Eq):
                ok = left == right
            elif isinstance(op, ast.NotEq):
                ok = left != right
            else:
                a, b = _num(left, right)
                try:
                    ok = {ast.Lt: a < b, ast.LtE: a <= b, ast.Gt: a > b,  # type: ignore[operator]
                          ast.GtE: a >= b}[type(op)]  # type: ignore[operator]
                except TypeError:
                    ok = False
            if not ok:
                return False
            left = right
        return True

    return bool(ev(_parse(text)))


# ---- required skills ---------------------------------------------------------
# One language for skill requirements across the product: the ACD's (acd/skills.py), e.g.
# `medinfo >= 3 and ({language} or en) and not trainee`. The dialplan only fills the slot.

def skill_names(text: str, language: str = "fr") -> set[str]:
    """Validate a skills expression as the ACD will read it; return the skills it names."""
    try:
        return set(compile_requirement(resolve_skills(text, language)).skills)
    except SkillExpressionError as exc:
        raise ExprError(str(exc)) from None


def resolve_skills(text: str | None, language: str) -> str | None:
    """The expression handed to the ACD, with the caller's language filled in."""
    return None if text is None else text.replace(LANGUAGE_SLOT, language)
