"""Versioned migrations. Portable SQL; `{serial_pk}` is the only per-dialect token, and a
statement written as {dialect: sql} runs on the dialects it names only (full-text search is
each database's own). Append new migrations at the end; never edit one that has shipped."""
from __future__ import annotations

Statement = str | dict[str, str]

MIGRATIONS: list[tuple[int, str, list[Statement]]] = [
    (1, "calls, call events, agent events, adverse-event cases", [
        """CREATE TABLE calls (
            call_id TEXT PRIMARY KEY, caller TEXT NOT NULL, caller_norm TEXT NOT NULL,
            dialed TEXT NOT NULL, started_at TEXT, ended_at TEXT, language TEXT,
            path TEXT NOT NULL, plan_version TEXT, route TEXT, intent TEXT,
            speech_text TEXT, speech_confidence DOUBLE PRECISION, speech_outcome TEXT,
            queue TEXT, priority INTEGER, wait_seconds DOUBLE PRECISION, agent TEXT,
            talk_seconds DOUBLE PRECISION, disposition TEXT,
            adverse_event INTEGER NOT NULL, decision_trace TEXT NOT NULL,
            hangup_cause TEXT, recovered INTEGER NOT NULL, updated_at TEXT NOT NULL)""",
        "CREATE INDEX calls_started ON calls (started_at)",
        "CREATE INDEX calls_caller ON calls (caller_norm)",
        """CREATE TABLE call_events (
            id {serial_pk}, call_id TEXT NOT NULL, at TEXT NOT NULL,
            kind TEXT NOT NULL, data TEXT NOT NULL)""",
        "CREATE INDEX call_events_call ON call_events (call_id, at)",
        """CREATE TABLE agent_events (
            id {serial_pk}, agent TEXT NOT NULL, at TEXT NOT NULL,
            state TEXT NOT NULL, reason TEXT)""",
        "CREATE INDEX agent_events_agent ON agent_events (agent, at)",
        """CREATE TABLE ae_cases (
            case_id TEXT PRIMARY KEY, call_id TEXT NOT NULL UNIQUE, opened_at TEXT,
            status TEXT NOT NULL, closed_at TEXT, closed_by TEXT, note TEXT)""",
        "CREATE INDEX ae_cases_status ON ae_cases (status, opened_at)",
    ]),
    (2, "contacts and their phone numbers", [
        """CREATE TABLE contacts (
            id {serial_pk}, name TEXT NOT NULL, type TEXT NOT NULL,
            organisation TEXT, language TEXT, notes TEXT, preferred_agent TEXT,
            updated_at TEXT NOT NULL)""",
        """CREATE TABLE contact_numbers (
            number TEXT PRIMARY KEY, contact_id INTEGER NOT NULL, raw TEXT NOT NULL)""",
        "CREATE INDEX contact_numbers_contact ON contact_numbers (contact_id)",
    ]),
    (3, "spool replay progress, so events are written once after an outage", [
        # One row per spool segment being replayed: lines applied so far, updated in the
        # same transaction as the rows they carry (see writer.py).
        """CREATE TABLE crm_spool_progress (
            segment TEXT PRIMARY KEY, applied_upto INTEGER NOT NULL, updated_at TEXT NOT NULL)""",
    ]),
    (4, "event keys, so a batch written twice (commit answer lost) inserts its events once", [
        # Made when the event is (codec.event_key); the writer inserts ON CONFLICT (event_key)
        # DO NOTHING. Rows from before this migration keep NULL: both dialects let NULLs
        # repeat in a unique index. Adding a nullable column without a default is instant on
        # both; building each index scans its table once, in this migration's transaction.
        "ALTER TABLE call_events ADD COLUMN event_key TEXT",
        "CREATE UNIQUE INDEX call_events_key ON call_events (event_key)",
        "ALTER TABLE agent_events ADD COLUMN event_key TEXT",
        "CREATE UNIQUE INDEX agent_events_key ON agent_events (event_key)",
    ]),
    (6, "knowledge-base articles and their full-text index", [
        # ivr/knowledge/: one row per article of the knowledge folder (`name`: its file),
        # rewritten when its content hash changes. `doc` is the full-text index's row key.
        # product_key: the product folded (case, accents) for the product filter.
        """CREATE TABLE kb_articles (
            doc {serial_pk}, id TEXT NOT NULL UNIQUE, name TEXT NOT NULL, title TEXT NOT NULL,
            product TEXT NOT NULL, product_key TEXT NOT NULL, language TEXT NOT NULL,
            tags TEXT NOT NULL, intents TEXT NOT NULL, markdown TEXT NOT NULL,
            html TEXT NOT NULL, body TEXT NOT NULL, content_hash TEXT NOT NULL,
            indexed_at TEXT NOT NULL)""",
        "CREATE INDEX kb_articles_language ON kb_articles (language, product_key)",
        # The screen-pop's first question: which articles answer this IVR intent.
        """CREATE TABLE kb_intents (
            intent TEXT NOT NULL, doc INTEGER NOT NULL, PRIMARY KEY (intent, doc))""",
        "CREATE INDEX kb_intents_doc ON kb_intents (doc)",
        # The text arrives already folded and tokenised (ivr/knowledge/folding.py): the
        # databases only split on spaces and rank. rowid / doc = kb_articles.doc. The
        # language and product filters are in the full-text index too (SQLite: `facets`
        # tokens), so a search ranks and cuts at its limit only the articles it may return.
        {"sqlite": """CREATE VIRTUAL TABLE kb_fts USING fts5(
            title, tags, body, facets, tokenize = 'unicode61 remove_diacritics 0')""",
         "postgresql": """CREATE TABLE kb_fts (
            doc BIGINT PRIMARY KEY, language TEXT NOT NULL, product_key TEXT NOT NULL,
            terms tsvector NOT NULL)"""},
        {"postgresql": "CREATE INDEX kb_fts_terms ON kb_fts USING GIN (terms)"},
    ]),
]

SERIAL_PK = {
    "sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT",
    "postgresql": "BIGSERIAL PRIMARY KEY",
}

VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"""


def render(statement: Statement, dialect: str) -> str | None:
    """The statement's SQL for this dialect; None if it is for other dialects only."""
    if isinstance(statement, dict):
        if dialect not in statement:
            return None
        statement = statement[dialect]
    return statement.replace("{serial_pk}", SERIAL_PK[dialect])
