"""What the call panel shows besides the call's own facts, read from the CRM by the desk
(never by the engine: a slow database slows a pop, never a call). Each read is bounded:
past `live_read_s` the panel shows without it and says so."""
from __future__ import annotations

from typing import Any

from ivr.call.screenpop import caller_history


async def call_panel_data(deps: Any, offer: dict[str, Any], agent: str) -> dict[str, Any]:
    store = deps.store
    contact, history, cases = None, [], []
    crm_ok = True
    if offer.get("caller"):
        marker: tuple = (None, [], [], False)
        contact, history, cases, crm_ok = await store.live_read(
            _with_ok(caller_history(store, offer["caller"])), marker, "the desk's pop")
    return {"contact": contact, "history": [h for h in history if h.call_id != offer["call_id"]],
            "open_cases": cases, "crm_ok": crm_ok}


async def _with_ok(read: Any) -> tuple:
    contact, history, cases = await read
    return contact, history, cases, True
