"""The knowledge folder as a whole (pure): every article parsed, ids unique, and the intents
the dialplan knows. The adapter (files.py) reads the files; `ivr check` and the indexer
both use `check_articles`, so what the check calls broken is what the index leaves out,
but for intents: only `ivr check` holds them against the dialplan (sync.py says why)."""
from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace

from ivr.dialplan.model import ADVERSE_INTENT, Plan, RouteNode, SpeechNode
from ivr.dialplan.problems import Problem

from .article import Parsed, parse_article


@dataclass(frozen=True)
class ArticleFile:
    """A file of the knowledge folder, read by the adapter."""
    file: str          # how messages name it (its path)
    name: str          # its path inside the folder, '/'-separated ('dolorex/storage-en.md')
    text: str


def plan_intents(plan: Plan) -> frozenset[str]:
    """Every intent a call of this plan can carry: route intents, speech intents and the
    adverse-event intent of the safety phrases."""
    names = {ADVERSE_INTENT}
    for node in plan.nodes.values():
        if isinstance(node, RouteNode):
            names.add(node.intent)
        elif isinstance(node, SpeechNode):
            names.update(node.intents)
    return frozenset(names)


def check_articles(files: Iterable[ArticleFile], known_intents: Collection[str] | None = None,
                   reserved: Mapping[str, str] | None = None) -> list[Parsed]:
    """Each file parsed, in name order. Of two files with the same id, the first by name
    keeps it and the second is refused (an error pointing at both). reserved: id -> file of
    articles not parsed now (the index holds them unchanged): their ids are taken."""
    out: list[Parsed] = []
    owner: dict[str, tuple[str, int]] = {i: (f, 0) for i, f in (reserved or {}).items()}
    for f in sorted(files, key=lambda f: f.name):
        parsed = parse_article(f.text, f.file, f.name, known_intents)
        article = parsed.article
        if article is not None and article.id in owner:
            file, line = owner[article.id]
            parsed = replace(parsed, article=None, problems=(Problem(
                f.file, article.id_line, 1,
                f"id {article.id!r} is already the id of {file}{f' (line {line})' if line else ''}: "
                "give this article another `id:` (ids must be unique)"),))
        elif article is not None:
            owner[article.id] = (article.file, article.id_line)
        out.append(parsed)
    return out


def problems_of(parsed: Iterable[Parsed]) -> list[Problem]:
    return sorted(p for one in parsed for p in one.problems)
