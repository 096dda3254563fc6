"""KnowledgeBase: the knowledge base's index in the CRM database (adapter).

Its own class over the CRM store rather than more methods on CrmStore: the store keeps
calls, the knowledge base keeps articles; they share the database, the writer (index runs
are jobs in its queue, so they never race the call records' transactions) and the reader.
The full-text search is each database's own: SQLite FTS5 ranked by bm25, PostgreSQL
tsvector + GIN ranked by ts_rank. Both index text folded by ivr/knowledge/folding.py, and
queries are folded by the same function, so accents, case and Chinese behave alike on both.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from ivr.crm import codec
from ivr.crm.backends import Tx
from ivr.crm.store import CrmStore

from .article import Article
from .folding import fold, index_text, query_tokens
from .indexing import Indexed, SyncPlan
from .suggest import Candidate, order_suggestions

CHUNK = 100                       # articles per transaction: calls' records never wait long
SUMMARY_CHARS = 200
# Relative weights of title, tags and body (a word in the title says more).
_BM25 = "bm25(kb_fts, 8.0, 4.0, 1.0, 0.0)"     # facets: a filter, never a rank
_PG_TERMS = ("setweight(to_tsvector('simple', ?), 'A') || setweight(to_tsvector('simple', ?), 'B')"
             " || setweight(to_tsvector('simple', ?), 'D')")
_HIT_COLS = "a.id, a.title, a.product, a.language, a.tags, a.intents, a.body"


@dataclass(frozen=True)
class Hit:
    """An article found: enough to list it; `article(id)` gives the whole of it."""
    id: str
    title: str
    product: str
    language: str
    tags: list[str]
    intents: list[str]
    summary: str                   # the start of its text
    score: float                   # relevance, higher is better (0: found by intent only)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class KnowledgeBase:
    def __init__(self, store: CrmStore) -> None:
        self.store = store
        self.backend = store.backend

    # ------------------------------------------------------------ indexing
    async def indexed(self) -> list[Indexed]:
        rows = await self.backend.fetchall("SELECT id, name, content_hash FROM kb_articles")
        return [Indexed(*r) for r in rows]

    async def apply(self, plan: SyncPlan, now: datetime) -> None:
        """Write an index run's changes, CHUNK articles per transaction."""
        stamp = codec.ts(now)
        for i in range(0, len(plan.delete), CHUNK):
            ids = plan.delete[i:i + CHUNK]
            await self.store.transact(lambda tx, ids=ids: self._delete(tx, ids))
        for i in range(0, len(plan.upsert), CHUNK):
            chunk = plan.upsert[i:i + CHUNK]
            await self.store.transact(lambda tx, chunk=chunk: self._write(tx, chunk, stamp))

    async def _delete(self, tx: Tx, ids: Sequence[str]) -> None:
        marks = ", ".join("?" for _ in ids)
        docs = [(doc,) for (doc,) in await tx.fetchall(
            f"SELECT doc FROM kb_articles WHERE id IN ({marks})", list(ids))]
        if not docs:
            return
        key = "rowid" if self.backend.dialect == "sqlite" else "doc"
        await tx.executemany(f"DELETE FROM kb_fts WHERE {key} = ?", docs)
        await tx.executemany("DELETE FROM kb_intents WHERE doc = ?", docs)
        await tx.executemany("DELETE FROM kb_articles WHERE doc = ?", docs)

    async def _write(self, tx: Tx, articles: Sequence[Article], stamp: str) -> None:
        """A chunk of articles in a few statements (a round trip each, not one per article)."""
        await self._delete(tx, [a.id for a in articles])
        await tx.executemany(
            "INSERT INTO kb_articles (id, name, title, product, product_key, language, tags, "
            "intents, markdown, html, body, content_hash, indexed_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(a.id, a.name, a.title, a.product, _product_key(a.product), a.language,
              json.dumps(list(a.tags), ensure_ascii=False), json.dumps(list(a.intents), ensure_ascii=False),
              a.markdown, a.html, a.text, a.content_hash, stamp) for a in articles])
        marks = ", ".join("?" for _ in articles)
        docs = dict(await tx.fetchall(f"SELECT id, doc FROM kb_articles WHERE id IN ({marks})",
                                      [a.id for a in articles]))
        await tx.executemany("INSERT INTO kb_intents (intent, doc) VALUES (?, ?)",
                             [(intent, docs[a.id]) for a in articles for intent in dict.fromkeys(a.intents)])
        if self.backend.dialect == "sqlite":
            await tx.executemany(
                "INSERT INTO kb_fts (rowid, title, tags, body, facets) VALUES (?, ?, ?, ?, ?)",
                [(docs[a.id], *_terms(a), f"{_language_facet(a.language)} {_product_facet(a.product)}")
                 for a in articles])
        else:
            await tx.executemany(
                f"INSERT INTO kb_fts (doc, language, product_key, terms) VALUES (?, ?, ?, {_PG_TERMS})",
                [(docs[a.id], a.language, _product_key(a.product), *_terms(a)) for a in articles])

    # ------------------------------------------------------------ reads
    async def search(self, text: str, language: str | None = None, product: str | None = None,
                     limit: int = 10) -> list[Hit]:
        """Articles matching `text`, best first: those holding every word, else (nothing
        holds them all) those holding any. language / product: only those."""
        tokens = query_tokens(text)
        if not tokens or limit <= 0:
            return []
        hits = await self._match(tokens, True, language, product, limit)
        if not hits and len(tokens) > 1:
            hits = await self._match(tokens, False, language, product, limit)
        return hits

    async def suggest(self, intent: str | None, transcript: str | None, language: str | None,
                      limit: int = 5) -> list[Hit]:
        """For the screen-pop: articles for the call's IVR intent first, then those matching
        any word of the transcript; the caller's language before others (suggest.py), so
        other languages are looked at only when the caller's has fewer than `limit`."""
        tokens = query_tokens(transcript or "")
        found: dict[str, Hit] = {}

        async def gather(lang: str | None) -> None:
            hits = await self._by_intent(intent, lang, limit) if intent else []
            hits += await self._match(tokens, False, lang, None, limit) if tokens else []
            for hit in hits:
                if hit.id not in found or hit.score > found[hit.id].score:
                    found[hit.id] = hit

        await gather(language)
        if language is not None and len(found) < limit:
            await gather(None)
        order = order_suggestions((Candidate(h.id, h.language, tuple(h.intents), h.score, h.title)
                                   for h in found.values()), intent, language, limit)
        return [found[c.id] for c in order]

    async def article(self, article_id: str) -> dict[str, Any] | None:
        """The whole article (html is sanitised, ready to show), or None."""
        rows = await self.backend.fetchall(
            "SELECT id, name, title, product, language, tags, intents, html, markdown, body, "
            "content_hash, indexed_at FROM kb_articles WHERE id = ?", [article_id])
        if not rows:
            return None
        d = dict(zip(("id", "file", "title", "product", "language", "tags", "intents", "html",
                      "markdown", "text", "content_hash", "indexed_at"), rows[0]))
        d["tags"], d["intents"] = json.loads(d["tags"]), json.loads(d["intents"])
        d["indexed_at"] = codec.parse_ts(d["indexed_at"])
        return d

    async def products(self) -> list[str]:
        """The products articles are about (for filters and guessing a call's product)."""
        rows = await self.backend.fetchall("SELECT DISTINCT product FROM kb_articles ORDER BY product")
        return [r[0] for r in rows]

    async def count(self) -> int:
        return (await self.backend.fetchall("SELECT COUNT(*) FROM kb_articles"))[0][0]

    async def _by_intent(self, intent: str, language: str | None, limit: int) -> list[Hit]:
        where, params = ("", [intent, limit]) if language is None else \
            (" AND a.language = ?", [intent, language, limit])
        rows = await self.backend.fetchall(
            f"SELECT {_HIT_COLS}, 0 FROM kb_intents i JOIN kb_articles a ON a.doc = i.doc "
            f"WHERE i.intent = ?{where} ORDER BY a.title, a.id LIMIT ?", params)
        return [_hit(r) for r in rows]

    async def _match(self, tokens: list[str], every: bool, language: str | None,
                     product: str | None, limit: int) -> list[Hit]:
        """Ranked in the full-text index and cut at `limit` there: only those few articles'
        rows are read (ranking first and reading after is 2x faster on 10,000 articles)."""
        if self.backend.dialect == "sqlite":
            # Quoted: a token is a plain string to FTS5, never an operator (AND, NEAR…).
            query = "(" + (" AND " if every else " OR ").join(
                '"' + t.replace('"', '""') + '"' for t in tokens) + ")"
            if language:
                query += f' AND facets : "{_language_facet(language)}"'
            if product:
                query += f' AND facets : "{_product_facet(product)}"'
            inner = (f"SELECT rowid AS doc, {_BM25} AS score FROM kb_fts WHERE kb_fts MATCH ? "
                     "ORDER BY score LIMIT ?")
            params: list[Any] = [query, limit]
            sql = (f"SELECT {_HIT_COLS}, -m.score FROM ({inner}) m JOIN kb_articles a ON a.doc = m.doc "
                   "ORDER BY m.score, a.id")
        else:
            # Tokens hold letters and digits only (folding.py): safe inside tsquery quotes.
            query = (" & " if every else " | ").join(f"'{t}'" for t in tokens)
            filters, params = "", [query]
            if language:
                filters += " AND f.language = ?"
                params.append(language)
            if product:
                filters += " AND f.product_key = ?"
                params.append(_product_key(product))
            params.append(limit)
            inner = ("SELECT f.doc, ts_rank(f.terms, q.query) AS score FROM kb_fts f, "
                     f"(SELECT to_tsquery('simple', ?) AS query) q WHERE f.terms @@ q.query{filters} "
                     "ORDER BY score DESC, f.doc LIMIT ?")
            sql = (f"SELECT {_HIT_COLS}, m.score FROM ({inner}) m JOIN kb_articles a ON a.doc = m.doc "
                   "ORDER BY m.score DESC, a.id")
        rows = await self.backend.fetchall(sql, params)
        return [_hit(r) for r in rows]


def _terms(a: Article) -> tuple[str, str, str]:
    return index_text(a.title), index_text(" ".join(a.tags)), index_text(a.text)


def _product_key(product: str) -> str:
    return " ".join(fold(product).split())


def _language_facet(language: str) -> str:
    return "lang" + "".join(c for c in fold(language) if c.isascii() and c.isalnum())


def _product_facet(product: str) -> str:
    # one exact token whatever the product's spelling ('Dolorex 500', 'dolorex-500' differ)
    return "p" + hashlib.sha1(_product_key(product).encode()).hexdigest()[:16]


def _hit(row: Sequence[Any]) -> Hit:
    article_id, title, product, language, tags, intents, body, score = row
    summary = " ".join(body.split())
    if len(summary) > SUMMARY_CHARS:
        summary = summary[:SUMMARY_CHARS].rsplit(" ", 1)[0] + " …"
    return Hit(article_id, title, product, language, json.loads(tags), json.loads(intents),
               summary, float(score or 0.0))
