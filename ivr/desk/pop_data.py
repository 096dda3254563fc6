"""What the desk shows about a caller besides the call's own facts, read from the CRM by the
desk (never by the engine: a slow database slows a pop, never a call). One read serves both the
call panel and the documentation panel. The read is bounded by the store's `live_read`: past
it the panels show without it and say so."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ivr.crm.records import CallRecord
from ivr.crm.store import CrmStore
from ivr.knowledge.store import Hit, KnowledgeBase

HISTORY_SHOWN = 5
SUGGESTIONS = 5


@dataclass(frozen=True)
class CallerFacts:
    contact: dict[str, Any] | None = None
    history: list[CallRecord] = field(default_factory=list)     # the caller's other calls, newest first
    open_cases: list[dict[str, Any]] = field(default_factory=list)
    suggestions: list[Hit] = field(default_factory=list)  # knowledge-base articles
    crm_ok: bool = False                                        # False: the CRM did not answer in time


async def caller_facts(store: CrmStore, offer: dict[str, Any]) -> CallerFacts:
    return await store.live_read(_read(store, offer), CallerFacts(), "the desk's pop")


def call_panel_data(facts: CallerFacts) -> dict[str, Any]:
    return {"contact": facts.contact, "history": facts.history[:HISTORY_SHOWN],
            "open_cases": facts.open_cases, "suggestions": facts.suggestions, "crm_ok": facts.crm_ok}


async def _read(store: CrmStore, offer: dict[str, Any]) -> CallerFacts:
    contact, history, cases = None, [], []
    if offer.get("caller"):
        contact = await store.find_contact(offer["caller"])
        history = [c for c in await store.contact_history(offer["caller"], limit=None)
                   if c.call_id != offer["call_id"]]
        cases = await _open_cases(store, contact, history, offer["call_id"])
    suggestions = await KnowledgeBase(store).suggest(offer.get("intent"), offer.get("transcript"),
                                                     offer.get("language"), limit=SUGGESTIONS)
    return CallerFacts(contact, history, cases, suggestions, True)


async def _open_cases(store: CrmStore, contact: dict | None, history: list[CallRecord],
                      call_id: str) -> list[dict[str, Any]]:
    """Open cases of every kind: the contact's, or linked to one of its calls (this one too:
    the IVR opens an adverse-event case as the call arrives)."""
    calls = {c.call_id for c in history} | {call_id}
    return [c for c in await store.list_cases(status="open")
            if set(c["calls"]) & calls or (contact and c["contact_id"] == contact["id"])]


async def documentation(store: CrmStore, call_id: str, agent: str) -> dict[str, Any] | None:
    """The agent's latest saved documentation of the call, or None."""
    for doc in await store.call_documentation(call_id):
        if doc["agent"] == agent:
            return doc
    return None
