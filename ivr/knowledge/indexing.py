"""What an index run must change (pure): the folder as parsed now against what the index
holds. Incremental by content hash, so a run over an unchanged folder writes nothing; a
broken file leaves its last good version in the index (agents keep an answer while an
admin fixes a typo); a deleted file, or an id given up, leaves the index. A file whose
text the index already holds is not even parsed again (`unchanged_files`): saving one
article of ten thousand costs one article's work."""
from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from .article import Article, Parsed, content_hash
from .checks import ArticleFile


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


def unchanged_files(files: Iterable[ArticleFile], indexed: Iterable[Indexed]) -> dict[str, Indexed]:
    """name -> its index row, for the files the index holds as they are now (same name,
    same text): nothing to parse or write."""
    by_name = {row.name: row for row in indexed}
    return {f.name: row for f in files
            if (row := by_name.get(f.name)) is not None and row.content_hash == content_hash(f.text)}


def plan_sync(parsed: Iterable[Parsed], indexed: Iterable[Indexed],
              unreadable: Iterable[str] = (), unchanged: Collection[str] = ()) -> SyncPlan:
    """parsed: the files parsed now; unreadable: names of files present but not readable
    (broken too); unchanged: names of files not parsed because the index holds them as is."""
    parsed = list(parsed)
    held = {row.id: row for row in indexed}
    good = {p.article.id: p.article for p in parsed if p.article is not None}
    broken_names = {p.name for p in parsed if p.article is None} | set(unreadable)
    upsert, same = [], [i for i, row in held.items() if row.name in unchanged]
    for article_id, article in good.items():
        row = held.get(article_id)
        if row is not None and row.content_hash == article.content_hash and row.name == article.name:
            same.append(article_id)
        else:
            upsert.append(article)
    kept = sorted(i for i, row in held.items() if i not in good and row.name in broken_names)
    delete = sorted(i for i in held if i not in good and i not in kept and i not in same)
    return SyncPlan(tuple(upsert), tuple(delete), tuple(sorted(same)), tuple(kept))
