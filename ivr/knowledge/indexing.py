"""What an index run must change (pure): the folder as parsed now against what the index
holds. Incremental by content hash, so a run over an unchanged folder writes nothing; a
broken file leaves its last good version in the index (agents keep an answer while an
admin fixes a typo); a deleted file, or an id given up, leaves the index."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .article import Article, Parsed


@dataclass(frozen=True)
class Indexed:
    """What the index holds for one article."""
    id: str
    name: str            # the file it came from, as a path in the folder
    content_hash: str


@dataclass(frozen=True)
class SyncPlan:
    upsert: tuple[Article, ...]      # new or changed: (re)write
    delete: tuple[str, ...]          # ids to remove
    unchanged: tuple[str, ...]
    kept: tuple[str, ...]            # ids whose file is broken now: the last good version stays

    @property
    def changes(self) -> int:
        return len(self.upsert) + len(self.delete)


def plan_sync(parsed: Iterable[Parsed], indexed: Iterable[Indexed],
              unreadable: Iterable[str] = ()) -> SyncPlan:
    """unreadable: names of files present but not readable (broken too)."""
    parsed = list(parsed)
    held = {row.id: row for row in indexed}
    good = {p.article.id: p.article for p in parsed if p.article is not None}
    broken_names = {p.name for p in parsed if p.article is None} | set(unreadable)
    upsert, unchanged = [], []
    for article_id, article in good.items():
        row = held.get(article_id)
        if row is not None and row.content_hash == article.content_hash and row.name == _name(parsed, article):
            unchanged.append(article_id)
        else:
            upsert.append(article)
    kept = sorted(i for i, row in held.items() if i not in good and row.name in broken_names)
    delete = sorted(i for i in held if i not in good and i not in kept)
    return SyncPlan(tuple(upsert), tuple(delete), tuple(sorted(unchanged)), tuple(kept))


def _name(parsed: list[Parsed], article: Article) -> str:
    return next(p.name for p in parsed if p.article is article)
