"""What an agent sees while the phone rings.

Two pops: `offer_facts`, what the call itself knows, published at once on every offer (the
desk looks the caller up in the CRM itself, so the engine spends no read on it); and, for MQTT
subscribers, `screen_pop` with the caller's contact, history and open cases read by the engine.
Without the CRM (down or slow) that one goes out without them: a nicety never touches the call.
"""
from __future__ import annotations

from datetime import datetime

from ivr.call.context import CallContext, StorePort
from ivr.crm.records import CallRecord
from ivr.dialplan.walker import Walker


def offer_facts(record: CallRecord, walker: Walker, agent: str, waited_seconds: float,
                caller_name: str | None, offered_at: datetime) -> dict:
    """The call as the desk shows it while the phone rings (untrusted text is the desk's to
    escape: the caller-ID name and the transcript come from the public)."""
    return {"call_id": record.call_id, "agent": agent, "offered_at": offered_at,
            "caller": record.caller, "caller_name": caller_name, "dialed": record.dialed,
            "language": walker.language, "path": list(walker.path), "route": record.route,
            "intent": record.intent, "transcript": record.speech_text,
            "speech_confidence": record.speech_confidence, "queue": record.queue,
            "priority": record.priority, "waited_seconds": waited_seconds,
            "adverse_event": record.adverse_event}


async def screen_pop(ctx: CallContext, record: CallRecord, walker: Walker, agent: str) -> None:
    contact, history, cases = None, [], []
    if record.caller:
        contact, history, cases = await ctx.store.live_read(
            caller_history(ctx.store, record.caller), (None, [], []),
            f"the screen-pop of call {record.call_id}")
    ctx.bus.publish(f"screenpop/{agent}", {
        "call_id": record.call_id, "caller": record.caller, "contact": contact,
        "queue": record.queue, "intent": record.intent, "adverse_event": record.adverse_event,
        "language": walker.language, "path": walker.path, "transcript": record.speech_text,
        "last_calls": [{"started_at": c.started_at, "queue": c.queue, "intent": c.intent,
                        "disposition": c.disposition, "agent": c.agent} for c in history],
        "open_adverse_event_cases": cases,
    })


async def caller_history(store: StorePort, caller: str) -> tuple[dict | None, list[CallRecord], list[dict]]:
    """(contact, last 5 calls, open adverse-event cases) of this caller, from the CRM."""
    contact = await store.find_contact(caller)
    history = await store.contact_history(caller, limit=None)
    their_calls = {c.call_id for c in history}
    cases = [c for c in await store.list_cases(status="open", kind="adverse_event")
             if set(c["calls"]) & their_calls or (contact and c["contact_id"] == contact["id"])]
    return contact, history[:5], cases
