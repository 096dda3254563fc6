"""Versioned migrations. Portable SQL; `{serial_pk}` is the only per-dialect token. A step
written as {dialect: sql or [sql, ...]} runs on the dialects it names only (full-text search and
triggers are each database's own). A step may also be an async function of the transaction, for
data moves that need Python (building JSON portably). Append new migrations at the end; never
edit one that has shipped."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .cases import migrate_ae_cases
from .contacts import fill_search_keys

Statement = str | dict[str, str | list[str]]
Step = Statement | Callable[[Any], Awaitable[None]]

# The database itself refuses to delete an adverse-event case or to rewrite its audit trail,
# whatever program or person connects (defence in depth: the store has no delete at all).
_NO_AE_DELETE = "an adverse-event case can never be deleted; close it with a reason"
_APPEND_ONLY = "the case audit trail is append-only"
_STALE_TERM = "write refused: its term is not the current one (a former active engine)"
_PG_REFUSE = """CREATE OR REPLACE FUNCTION ivr_refuse_change() RETURNS trigger LANGUAGE plpgsql AS
    $$ BEGIN RAISE EXCEPTION USING MESSAGE = TG_ARGV[0]; END $$"""

MIGRATIONS: list[tuple[int, str, list[Step]]] = [
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
    (5, "cases of every kind, their audit trail and calls, call documentation, contact consent", [
        # fields: the kind's fields as JSON text (ivr/cases/kinds.py); dates as YYYY-MM-DD.
        """CREATE TABLE cases (
            case_id TEXT PRIMARY KEY, kind TEXT NOT NULL, contact_id INTEGER, status TEXT NOT NULL,
            fields TEXT NOT NULL, day0 TEXT, serious_since TEXT, due_date TEXT,
            opened_at TEXT NOT NULL, opened_by TEXT NOT NULL, closed_at TEXT, closed_by TEXT,
            close_reason TEXT, updated_at TEXT NOT NULL)""",
        "CREATE INDEX cases_worklist ON cases (kind, status, due_date)",
        "CREATE INDEX cases_contact ON cases (contact_id)",
        # Append-only. audit_key: set on rows the writer may write twice (IVR cases), NULL else.
        """CREATE TABLE case_audit (
            id {serial_pk}, case_id TEXT NOT NULL, at TEXT NOT NULL, changed_by TEXT NOT NULL,
            field TEXT NOT NULL, old_value TEXT, new_value TEXT, audit_key TEXT)""",
        "CREATE INDEX case_audit_case ON case_audit (case_id, at)",
        "CREATE UNIQUE INDEX case_audit_key ON case_audit (audit_key)",
        """CREATE TABLE case_calls (
            case_id TEXT NOT NULL, call_id TEXT NOT NULL, linked_at TEXT NOT NULL,
            linked_by TEXT NOT NULL, PRIMARY KEY (case_id, call_id))""",
        "CREATE INDEX case_calls_call ON case_calls (call_id)",
        # Every save is a new version; the latest per (call, agent) is the documentation.
        """CREATE TABLE call_documentation (
            id {serial_pk}, call_id TEXT NOT NULL, agent TEXT NOT NULL, version INTEGER NOT NULL,
            reason TEXT NOT NULL, outcome TEXT NOT NULL, notes TEXT NOT NULL, articles TEXT NOT NULL,
            at TEXT NOT NULL)""",
        "CREATE UNIQUE INDEX call_documentation_version ON call_documentation (call_id, agent, version)",
        # Consent: NULL = never asked (not the same as refused).
        "ALTER TABLE contacts ADD COLUMN email TEXT",
        "ALTER TABLE contacts ADD COLUMN may_contact_phone INTEGER",
        "ALTER TABLE contacts ADD COLUMN may_contact_email INTEGER",
        "ALTER TABLE contacts ADD COLUMN may_contact_sms INTEGER",
        "ALTER TABLE contacts ADD COLUMN pv_follow_up_consent INTEGER",
        "ALTER TABLE contacts ADD COLUMN consent_date TEXT",
        "ALTER TABLE contacts ADD COLUMN consent_source TEXT",
        # name + organisation folded (no case, no accents) for search_contacts
        "ALTER TABLE contacts ADD COLUMN search_key TEXT",
        fill_search_keys,
        """CREATE TABLE contact_audit (
            id {serial_pk}, contact_id INTEGER NOT NULL, at TEXT NOT NULL, changed_by TEXT NOT NULL,
            field TEXT NOT NULL, old_value TEXT, new_value TEXT)""",
        "CREATE INDEX contact_audit_contact ON contact_audit (contact_id, at)",
        migrate_ae_cases,       # ae_cases rows → cases (kind adverse_event); ae_cases is kept, unused
        {"sqlite": [
            f"""CREATE TRIGGER cases_ae_never_deleted BEFORE DELETE ON cases
                WHEN OLD.kind = 'adverse_event' BEGIN SELECT RAISE(ABORT, '{_NO_AE_DELETE}'); END""",
            f"""CREATE TRIGGER case_audit_no_update BEFORE UPDATE ON case_audit
                BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END""",
            f"""CREATE TRIGGER case_audit_no_delete BEFORE DELETE ON case_audit
                BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END"""],
         "postgresql": [
            _PG_REFUSE,
            f"""CREATE TRIGGER cases_ae_never_deleted BEFORE DELETE ON cases FOR EACH ROW
                WHEN (OLD.kind = 'adverse_event') EXECUTE FUNCTION ivr_refuse_change('{_NO_AE_DELETE}')""",
            f"""CREATE TRIGGER case_audit_append_only BEFORE UPDATE OR DELETE ON case_audit
                FOR EACH ROW EXECUTE FUNCTION ivr_refuse_change('{_APPEND_ONLY}')"""]},
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
    (8, "non-voice tasks (e-mail first), their messages and attachments; contact identities", [
        # A contact's identities besides its phone numbers (those stay in contact_numbers):
        # e-mail addresses now, chat or messenger handles later. value: normalised (lower case).
        """CREATE TABLE contact_identities (
            kind TEXT NOT NULL, value TEXT NOT NULL, contact_id INTEGER NOT NULL,
            raw TEXT NOT NULL, PRIMARY KEY (kind, value))""",
        "CREATE INDEX contact_identities_contact ON contact_identities (contact_id)",
        """INSERT INTO contact_identities (kind, value, contact_id, raw)
            SELECT 'email', LOWER(TRIM(email)), MIN(id), MIN(email) FROM contacts
            WHERE email IS NOT NULL AND TRIM(email) <> '' GROUP BY LOWER(TRIM(email))""",
        # One row per contact to route (ivr/channels): thread_id groups a conversation's tasks.
        """CREATE TABLE tasks (
            task_id TEXT PRIMARY KEY, channel TEXT NOT NULL, queue TEXT NOT NULL,
            priority INTEGER NOT NULL, status TEXT NOT NULL, thread_id TEXT NOT NULL,
            contact_id INTEGER, sender TEXT, subject TEXT, case_id TEXT, notes TEXT,
            created_at TEXT NOT NULL, agent TEXT, accepted_at TEXT, first_response_at TEXT,
            closed_at TEXT, outcome TEXT)""",
        "CREATE INDEX tasks_status ON tasks (status, created_at)",
        "CREATE INDEX tasks_thread ON tasks (thread_id)",
        # message_id UNIQUE: a mail read twice (restart before \Seen) is stored once.
        """CREATE TABLE task_messages (
            id {serial_pk}, task_id TEXT NOT NULL, message_id TEXT NOT NULL UNIQUE,
            direction TEXT NOT NULL, at TEXT NOT NULL, sender TEXT, recipients TEXT,
            subject TEXT, body_text TEXT, body_html TEXT, refs TEXT, notes TEXT, agent TEXT)""",
        "CREATE INDEX task_messages_task ON task_messages (task_id, at)",
        {"sqlite": """CREATE TABLE task_attachments (
            id {serial_pk}, message_id TEXT NOT NULL, filename TEXT NOT NULL,
            content_type TEXT NOT NULL, size INTEGER NOT NULL, data BLOB, refused TEXT)""",
         "postgresql": """CREATE TABLE task_attachments (
            id {serial_pk}, message_id TEXT NOT NULL, filename TEXT NOT NULL,
            content_type TEXT NOT NULL, size BIGINT NOT NULL, data BYTEA, refused TEXT)"""},
        "CREATE INDEX task_attachments_message ON task_attachments (message_id)",
    ]),
    (9, "outbound campaigns, their contacts, every attempt with its outcome, the do-not-call list", [
        # ivr/crm/outbound.py. definition: the campaign file's text as loaded (what was run);
        # file: where it was (its relative paths start there). state: loaded | running |
        # paused | stopped.
        """CREATE TABLE campaigns (
            name TEXT PRIMARY KEY, purpose TEXT NOT NULL, mode TEXT NOT NULL, state TEXT NOT NULL,
            definition TEXT NOT NULL, file TEXT NOT NULL, loaded_at TEXT NOT NULL,
            updated_at TEXT NOT NULL)""",
        # status: pending (next_at: not before) | done | refused (reason: dnc, consent, …).
        """CREATE TABLE campaign_contacts (
            id {serial_pk}, campaign TEXT NOT NULL, number TEXT NOT NULL, name TEXT NOT NULL,
            tz TEXT, consent INTEGER, fields TEXT NOT NULL, status TEXT NOT NULL,
            reason TEXT NOT NULL, next_at TEXT, attempts INTEGER NOT NULL, added_at TEXT NOT NULL)""",
        "CREATE UNIQUE INDEX campaign_contacts_number ON campaign_contacts (campaign, number)",
        "CREATE INDEX campaign_contacts_due ON campaign_contacts (campaign, status, next_at)",
        # One row per call placed, reserved BEFORE the originate (outcome NULL until known), so
        # a restart never dials a number twice; an auditor recomputes the abandon rate from it
        # (answered + abandoned: answered by a person; abandoned: no agent within 2 s).
        """CREATE TABLE campaign_attempts (
            attempt_id TEXT PRIMARY KEY, campaign TEXT NOT NULL, number TEXT NOT NULL,
            reserved_at TEXT NOT NULL, answered_at TEXT, ended_at TEXT, outcome TEXT,
            amd_status TEXT, amd_cause TEXT, agent TEXT, detail TEXT NOT NULL)""",
        "CREATE INDEX campaign_attempts_campaign ON campaign_attempts (campaign, reserved_at)",
        "CREATE INDEX campaign_attempts_number ON campaign_attempts (campaign, number)",
        # Do-not-call: for every campaign, whoever added the number (opt-out key, import, agent).
        """CREATE TABLE dnc (
            number TEXT PRIMARY KEY, added_at TEXT NOT NULL, source TEXT NOT NULL,
            campaign TEXT)""",
    ]),
    (10, "engine cluster: the leader's term, waiting callers' places, fenced by term (issue 16)", [
        # One row (id 1), made by `ivr cluster init`: an engine refuses a database without it
        # or naming another cluster. term: +1 on each takeover (ivr/cluster/pg_leader.py).
        """CREATE TABLE cluster_leader (
            id INTEGER PRIMARY KEY CHECK (id = 1), name TEXT NOT NULL, term BIGINT NOT NULL,
            engine TEXT, since TEXT, heartbeat_at TEXT, created_at TEXT NOT NULL)""",
        # What the ACD needs to resume a waiting caller on the next active engine. Rows are
        # written with the writer's term and never deleted by engines (state 'done'), so
        # every change is fenced by the trigger below.
        """CREATE TABLE cluster_waiting (
            call_id TEXT PRIMARY KEY, term BIGINT NOT NULL, state TEXT NOT NULL,
            queue TEXT NOT NULL, arrived_at TEXT NOT NULL, priority INTEGER NOT NULL,
            requirement TEXT NOT NULL, escalation_step INTEGER NOT NULL, data TEXT NOT NULL,
            updated_at TEXT NOT NULL)""",
        "CREATE INDEX cluster_waiting_state ON cluster_waiting (state, arrived_at)",
        # The fence: a write carrying a term other than the current one is refused by the
        # database (a former leader, paused or partitioned, may not know it lost its lock).
        # PostgreSQL: FOR SHARE waits for a takeover in progress, then sees its new term.
        {"sqlite": [
            f"""CREATE TRIGGER cluster_waiting_fence_{op.lower()} BEFORE {op} ON cluster_waiting
                WHEN NOT EXISTS (SELECT 1 FROM cluster_leader WHERE id = 1 AND term = NEW.term)
                BEGIN SELECT RAISE(ABORT, '{_STALE_TERM}'); END""" for op in ("INSERT", "UPDATE")],
         "postgresql": [
            f"""CREATE OR REPLACE FUNCTION ivr_fence_term() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    PERFORM 1 FROM cluster_leader WHERE id = 1 AND term = NEW.term FOR SHARE;
                    IF NOT FOUND THEN
                        RAISE EXCEPTION USING ERRCODE = 'IVR01',
                            MESSAGE = '{_STALE_TERM} (term ' || NEW.term || ')';
                    END IF;
                    RETURN NEW;
                END $$""",
            """CREATE TRIGGER cluster_waiting_fence BEFORE INSERT OR UPDATE ON cluster_waiting
                FOR EACH ROW EXECUTE FUNCTION ivr_fence_term()"""]},
    ]),
    (12, "voice messages: a task's due time (callback SL) and the call it came from", [
        "ALTER TABLE tasks ADD COLUMN due_at TEXT",
        "ALTER TABLE tasks ADD COLUMN call_id TEXT",
        "CREATE INDEX tasks_due ON tasks (status, due_at)",
    ]),
    (13, "survey answers (CSAT, NPS) per call, with the agent, queue and campaign (issue 15)", [
        """CREATE TABLE survey_answers (
            id {serial_pk}, call_id TEXT NOT NULL, question TEXT NOT NULL, kind TEXT NOT NULL,
            score INTEGER NOT NULL, agent TEXT, queue TEXT, campaign TEXT, answered_at TEXT NOT NULL)""",
        "CREATE INDEX survey_answers_call ON survey_answers (call_id)",
        "CREATE INDEX survey_answers_time ON survey_answers (answered_at)",
    ]),
    (15, "calls: the site whose Asterisk took the call (several sites, issue 16)", [
        "ALTER TABLE calls ADD COLUMN site TEXT",
    ]),
]

SERIAL_PK = {
    "sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT",
    "postgresql": "BIGSERIAL PRIMARY KEY",
}

VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"""


def render(statement: Statement, dialect: str) -> list[str]:
    """The statement's SQL for this dialect (none if it is for other dialects only)."""
    if isinstance(statement, dict):
        statement = statement.get(dialect, [])
    statements = [statement] if isinstance(statement, str) else statement
    return [sql.replace("{serial_pk}", SERIAL_PK[dialect]) for sql in statements]
