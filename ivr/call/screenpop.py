"""What an agent sees while the phone rings: who calls, their history, open cases (MQTT).

Without the CRM (down or slow) the pop goes out without them: a nicety never touches the call.
"""
from __future__ import annotations

from ivr.call.context import CallContext, StorePort
from ivr.crm.records import CallRecord
from ivr.dialplan.walker import Walker


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
