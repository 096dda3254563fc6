"""Safe parser/evaluator for skill requirements such as ``pv >= 3 and (fr or en)``.

Grammar (no eval()):
    expr   := and ('or' and)*
    and    := not ('and' not)*
    not    := 'not' not | atom
    atom   := '(' expr ')' | 'any' | SKILL [CMP INT]
A bare SKILL means level >= 1. An empty expression matches every agent.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

Skills = dict[str, int]

_TOKEN = re.compile(r"\s*(?:(?P<num>\d+)|(?P<name>[A-Za-z_][A-Za-z0-9_\-]*)|(?P<op>>=|<=|==|!=|>|<|\(|\)))")
_KEYWORDS = {"and", "or", "not", "any"}
_CMP: dict[str, Callable[[int, int], bool]] = {
    ">=": int.__ge__, "<=": int.__le__, ">": int.__gt__, "<": int.__lt__,
    "==": int.__eq__, "!=": int.__ne__,
}


class SkillExpressionError(ValueError):
    def __init__(self, text: str, position: int, reason: str) -> None:
        self.text, self.position, self.reason = text, position, reason
        super().__init__(f"{reason} at position {position} in {text!r}")


# AST nodes as tuples: ("cmp", skill, op, n) | ("and", a, b) | ("or", a, b) | ("not", a) | ("any",)
Node = tuple


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            start = pos + (len(text[pos:]) - len(text[pos:].lstrip()))
            raise SkillExpressionError(text, start, f"unexpected character {text[start]!r}")
        kind = m.lastgroup or ""
        value = m.group(kind)
        start = m.start(kind)
        if kind == "name" and value in _KEYWORDS:
            kind = value
        tokens.append((kind, value, start))
        pos = m.end()
    tokens.append(("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0

    def peek(self) -> tuple[str, str, int]:
        return self.toks[self.i]

    def take(self, kind: str, what: str) -> tuple[str, str, int]:
        tok = self.peek()
        if tok[0] != kind and tok[1] != kind:
            found = "end of expression" if tok[0] == "end" else repr(tok[1])
            raise SkillExpressionError(self.text, tok[2], f"expected {what}, found {found}")
        self.i += 1
        return tok

    def parse(self) -> Node:
        if self.peek()[0] == "end":
            return ("any",)
        node = self.expr()
        tok = self.peek()
        if tok[0] != "end":
            raise SkillExpressionError(self.text, tok[2], f"unexpected {tok[1]!r}")
        return node

    def expr(self) -> Node:
        node = self.conj()
        while self.peek()[0] == "or":
            self.i += 1
            node = ("or", node, self.conj())
        return node

    def conj(self) -> Node:
        node = self.neg()
        while self.peek()[0] == "and":
            self.i += 1
            node = ("and", node, self.neg())
        return node

    def neg(self) -> Node:
        if self.peek()[0] == "not":
            self.i += 1
            return ("not", self.neg())
        return self.atom()

    def atom(self) -> Node:
        kind, value, _ = self.peek()
        if value == "(" and kind == "op":
            self.i += 1
            node = self.expr()
            self.take(")", "')'")
            return node
        if kind == "any":
            self.i += 1
            return ("any",)
        name = self.take("name", "a skill name")[1]
        kind, op, pos = self.peek()
        if kind == "op" and op in _CMP:
            self.i += 1
            n = int(self.take("num", "a skill level (integer)")[1])
            if not 0 <= n <= 5:
                raise SkillExpressionError(self.text, pos, f"level {n} outside 0-5")
            return ("cmp", name, op, n)
        return ("cmp", name, ">=", 1)


def parse(text: str) -> Node:
    return _Parser(text or "").parse()


def _compile(node: Node) -> Callable[[Skills], bool]:
    tag = node[0]
    if tag == "any":
        return lambda s: True
    if tag == "cmp":
        _, name, op, n = node
        fn = _CMP[op]
        return lambda s: fn(s.get(name, 0), n)
    if tag == "not":
        inner = _compile(node[1])
        return lambda s: not inner(s)
    a, b = _compile(node[1]), _compile(node[2])
    if tag == "and":
        return lambda s: a(s) and b(s)
    return lambda s: a(s) or b(s)


@dataclass(frozen=True)
class Requirement:
    text: str
    node: Node
    match: Callable[[Skills], bool]
    skills: frozenset[str]          # every skill named (used for most/least-skilled scores)
    necessary: frozenset[str] | None  # agent needs >= 1 of these (None: can't narrow)

    def score(self, skills: Skills) -> int:
        """Sum of the agent's levels on the skills this requirement talks about."""
        return sum(skills.get(k, 0) for k in self.skills)


def _named(node: Node) -> set[str]:
    if node[0] == "cmp":
        return {node[1]}
    return set().union(*(_named(c) for c in node[1:])) if node[0] != "any" else set()


def _necessary(node: Node) -> frozenset[str] | None:
    """Skills of which an agent must hold at least one for the node to be true (index lookup)."""
    tag = node[0]
    if tag == "cmp":
        _, name, op, n = node
        # true with level 0 -> an agent without the skill may match: can't narrow
        return None if _CMP[op](0, n) else frozenset({name})
    if tag == "and":
        a, b = _necessary(node[1]), _necessary(node[2])
        if a is None or b is None:
            return a if b is None else b
        return a if len(a) <= len(b) else b
    if tag == "or":
        a, b = _necessary(node[1]), _necessary(node[2])
        return None if a is None or b is None else a | b
    return None


@lru_cache(maxsize=4096)
def compile_requirement(text: str | None) -> Requirement:
    text = (text or "").strip()
    node = parse(text)
    return Requirement(text, node, _compile(node), frozenset(_named(node)), _necessary(node))


def combine(a: str, b: str | None) -> str:
    """AND two expressions textually (both already valid)."""
    a, b = (a or "").strip(), (b or "").strip()
    if not b:
        return a
    if not a:
        return b
    return f"({a}) and ({b})"
