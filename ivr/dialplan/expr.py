"""Two tiny, safe expression languages (parsed with `ast`, whitelisted).

* conditions over call variables: `contact_type == "pharmacist" and language in ["fr", "en"]`
  (unknown variables are ""; `<`/`>` compare as integers when both sides are).
* required-skills: `medinfo & ({language} | en)` with `&`, `|`, `!`/`not`, `and`,
  `or`; `{language}` is replaced by the caller's language at routing time.
"""
from __future__ import annotations

import ast
from collections.abc import Mapping

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

def skill_names(text: str, language: str = "fr") -> set[str]:
    """Validate a skills expression; return the skills it names."""
    names: set[str] = set()

    def visit(n: ast.AST) -> None:
        if isinstance(n, ast.BinOp) and isinstance(n.op, (ast.BitAnd, ast.BitOr)):
            visit(n.left)
            visit(n.right)
        elif isinstance(n, ast.BoolOp):
            for v in n.values:
                visit(v)
        elif isinstance(n, ast.UnaryOp) and isinstance(n.op, (ast.Not, ast.Invert)):
            visit(n.operand)
        elif isinstance(n, ast.Name):
            names.add(n.id)
        else:
            raise ExprError(f"unsupported element {type(n).__name__} in skills expression")

    visit(_parse(text.replace("!", " ~").replace(LANGUAGE_SLOT, language)))
    return names


def resolve_skills(text: str | None, language: str) -> str | None:
    """The expression handed to the ACD, with the caller's language filled in."""
    return None if text is None else text.replace(LANGUAGE_SLOT, language)


def skills_match(text: str, skills: set[str], language: str = "fr") -> bool:
    """Evaluate a skills expression against an agent's skill set (for the ACD)."""
    def ev(n: ast.AST) -> bool:
        if isinstance(n, ast.BinOp):
            a, b = ev(n.left), ev(n.right)
            return a and b if isinstance(n.op, ast.BitAnd) else a or b
        if isinstance(n, ast.BoolOp):
            vals = [ev(v) for v in n.values]
            return all(vals) if isinstance(n.op, ast.And) else any(vals)
        if isinstance(n, ast.UnaryOp):
            return not ev(n.operand)
        assert isinstance(n, ast.Name)
        return n.id in skills

    skill_names(text, language)
    return ev(_parse(text.replace("!", " ~").replace(LANGUAGE_SLOT, language)))
