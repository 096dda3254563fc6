"""CRM adapter: call records, call timelines, agent sessions, adverse-event cases,
contacts (SQLite or PostgreSQL) and reports over them."""
from .contacts import normalise_number
from .errors import CrmError
from .records import AgentEvent, CallEvent, CallRecord
from .store import CrmStore, open_store

__all__ = ["AgentEvent", "CallEvent", "CallRecord", "CrmError", "CrmStore", "normalise_number", "open_store"]
