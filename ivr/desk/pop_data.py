"""What the call panel shows besides the call's own facts, read from the CRM by the desk
(never by the engine: a slow database slows a pop, never a call). The reads are bounded by
the store's `live_read`: past it the panel shows without them and says so."""
from __future__ import annotations

from typing import Any

from ivr.crm.records import CallRecord
from ivr.crm.store import CrmStore
from ivr.knowledge.store import KnowledgeBase

HISTORY_SHOWN = 5
SUGGESTIONS = 5


async def call_panel_data(deps: Any, offer: dict[str, Any], agent: str) -> dict[str, Any]:
    store: CrmStore = deps.store
    nothing: tuple = (None, [], [], [], False)
    contact, history, cases, suggestions, crm_ok = await store.live_read(
        _read(store, offer), nothing, "the desk's pop")
    return {"contact": contact, "history": history, "open_cases": cases,
            "suggestions": suggestions, "crm_ok": crm_ok}


async def _read(store: CrmStore, offer: dict[str, Any]) -> tuple:
    contact, history, cases = None, [], []
    if offer.get("caller"):
        contact = await store.find_contact(offer["caller"])
        history = [c for c in await store.contact_history(offer["caller"], limit=None)
                   if c.call_id != offer["call_id"]]
        cases = await open_cases(store, contact, history, offer["call_id"])
    suggestions = await KnowledgeBase(store).suggest(offer.get("intent"), offer.get("transcript"),
                                                     offer.get("language"), limit=SUGGESTIONS)
    return contact, history[:HISTORY_SHOWN], cases, suggestions, True


async def open_cases(store: CrmStore, contact: dict | None, history: list[CallRecord],
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
