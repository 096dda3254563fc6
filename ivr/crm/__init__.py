"""CRM adapter: call records, call timelines, agent sessions, adverse-event cases,
contacts (SQLite or PostgreSQL) and reports over them.

Nothing is imported here on purpose: the pure call core uses the record types
(ivr.crm.records) and must not load the store's drivers (aiosqlite, asyncio) with them.
Import from the modules: records, store (open_store, CrmStore), errors, contacts."""
