"""Versioned migrations. Portable SQL; `{serial_pk}` is the only per-dialect token.
Append new migrations at the end; never edit one that has shipped."""
from __future__ import annotations

MIGRATIONS: list[tuple[int, str, list[str]]] = [
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
    (7, "desk users, their sessions and sign-in failures (ivr/desk/users.py)", [
        # password_hash: argon2 (encoded with its parameters, so a change of them is seen).
        """CREATE TABLE desk_users (
            name TEXT PRIMARY KEY, full_name TEXT NOT NULL, role TEXT NOT NULL,
            password_hash TEXT NOT NULL, disabled INTEGER NOT NULL, language TEXT NOT NULL,
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL)""",
        # token_hash: SHA-256 of the cookie's token; the token itself is never stored.
        """CREATE TABLE desk_sessions (
            token_hash TEXT PRIMARY KEY, user_name TEXT NOT NULL, csrf_token TEXT NOT NULL,
            created_at TEXT NOT NULL, last_seen TEXT NOT NULL, expires_at TEXT NOT NULL)""",
        "CREATE INDEX desk_sessions_user ON desk_sessions (user_name)",
        # Kept in the database so that a restart of the desk does not reopen a locked sign-in.
        """CREATE TABLE desk_login_failures (
            id {serial_pk}, user_name TEXT NOT NULL, address TEXT NOT NULL, at TEXT NOT NULL)""",
        "CREATE INDEX desk_login_failures_key ON desk_login_failures (user_name, address, at)",
    ]),
]

SERIAL_PK = {
    "sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT",
    "postgresql": "BIGSERIAL PRIMARY KEY",
}

VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"""


def render(statement: str, dialect: str) -> str:
    return statement.replace("{serial_pk}", SERIAL_PK[dialect])
