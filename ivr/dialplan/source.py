"""YAML → plain Python data plus the line/column of every key and value.

pyyaml's normal loaders drop positions and silently keep the last of two
duplicate keys; we compose the node graph ourselves to keep both facts.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from .problems import Problem

Path = tuple[str | int, ...]


@dataclass
class Source:
    """Where each piece of a loaded YAML document came from (1-based)."""

    file: str
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def pos(self, path: Path, key: bool = False) -> tuple[int, int]:
        """Position of the deepest known prefix of `path` (loc may name a
        missing field, or contain pydantic's union tags)."""
        table = self.keys if key else self.values
        for cut in range(len(path), -1, -1):
            p = path[:cut]
            if p in table:
                return table[p]
            if key and p in self.values:
                return self.values[p]
        return (1, 1)

    def problem(self, path: Path, message: str, *, key: bool = False,
                severity: str = "error") -> Problem:
        line, col = self.pos(path, key)
        return Problem(self.file, line, col, message, severity)  # type: ignore[arg-type]


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


# Constructs closed by a character: when one is never closed, the parser notices only lines
# later (at problem_mark); the mistake is where it opened (context_mark).
_UNCLOSED = {"flow mapping": ("'{'", "its '}'"), "flow sequence": ("'['", "its ']'"),
             "quoted scalar": ("quote", "the closing quote")}


def syntax_problem(exc: yaml.MarkedYAMLError, file: str) -> Problem:
    """A YAML syntax error at the place to fix: where an unclosed bracket or quote opened
    (naming where the parser gave up), else where the parser stopped (naming the construct
    it was reading and where that began)."""
    where, opened = exc.problem_mark, exc.context_mark
    what = (exc.problem or "syntax error").strip()
    context = (exc.context or "").removeprefix("while ").strip()
    construct = next((c for c in _UNCLOSED if context.endswith(c)), None)
    if (construct and opened is not None and "escape" not in what
            and (where is None or opened.line < where.line)):
        opener, closer = _UNCLOSED[construct]
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        return Problem(file, opened.line + 1, opened.column + 1,
                       f"YAML syntax: the {opener} opened here is never closed: add {closer} "
                       f"(the parser gave up{at}: {what})")
    mark = where or opened
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    if context and opened is not None and opened is not mark:
        what += f" ({context} that begins at line {opened.line + 1}, column {opened.column + 1})"
    return Problem(file, line, col, f"YAML syntax: {what}")


def load_yaml(text: str, file: str, loader_class: Any = yaml.SafeLoader) -> tuple[Any, Source, list[Problem]]:
    """Parse `text`; return (data, source map, problems such as duplicate keys).

    Raises nothing for YAML errors: they come back as a single problem. loader_class:
    yaml.CSafeLoader parses ~10x faster (thousands of knowledge-base articles); the pure
    SafeLoader's syntax messages are the ones `syntax_problem` knows best."""
    src = Source(file)
    problems: list[Problem] = []
    try:
        loader = loader_class(text)
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        return None, src, [syntax_problem(exc, file)]
    except yaml.reader.ReaderError as exc:     # control characters, bad encoding
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        return None, src, [Problem(file, line, col, f"YAML: {exc.reason} (character "
                                   f"{exc.character!r}); remove it or save the file as UTF-8 text")]
    except yaml.YAMLError as exc:
        return None, src, [Problem(file, 1, 1, f"YAML: {exc}")]
    if root is None:
        return None, src, [Problem(file, 1, 1, "empty document")]

    def build(node: yaml.Node, path: Path) -> Any:
        src.values[path] = _mark(node)
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for knode, vnode in node.value:
                if not isinstance(knode, yaml.ScalarNode):
                    problems.append(Problem(file, *_mark(knode), "keys must be plain scalars"))
                    continue
                key = loader.construct_object(knode)
                # Option keys like `1:` arrive as int; keys are always names/digits, so
                # `yes:` / `no:` (YAML 1.1 booleans) keep their spelling: the speech
                # node's yes/no phrases, the Norwegian language code.
                key = ("" if key is None else knode.value.lower() if isinstance(key, bool)
                       else str(key))
                if key in out:
                    first = src.keys[path + (key,)]
                    problems.append(Problem(
                        file, *_mark(knode),
                        f"duplicate key {key!r} (first defined at line {first[0]}); "
                        "YAML would silently keep only the last one"))
                    continue
                src.keys[path + (key,)] = _mark(knode)
                out[key] = build(vnode, path + (key,))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [build(child, path + (i,)) for i, child in enumerate(node.value)]
        return loader.construct_object(node)

    try:
        return build(root, ()), src, problems
    except yaml.MarkedYAMLError as exc:     # e.g. an unknown tag: `name: !pharma-hotline`
        return None, src, [syntax_problem(exc, file)]
