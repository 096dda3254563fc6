"""The mailbox between the ACD driver and a call in line: offers and diverts are urgent (they
cut announcements), other actions only end the wait."""
from __future__ import annotations

from acd import actions as act
from ivr.call.context import Waiter


def test_offers_and_diverts_are_urgent_and_taking_resets_both_flags() -> None:
    waiter = Waiter("c1", lambda agent, at: None, lambda: False)
    waiter.push(act.Announce("c1", 1, 60.0))
    waiter.push(act.Escalated("c1", "orders", "r", "d"))
    assert waiter.wake.is_set() and not waiter.urgent.is_set()
    assert [type(a).__name__ for a in waiter.take()] == ["Announce", "Escalated"]
    assert not waiter.wake.is_set() and not waiter.actions
    for action in (act.OfferCall("c1", "alice", 8.0), act.Diverted("c1", "call-back", "x")):
        waiter.push(action)
        assert waiter.urgent.is_set()
        waiter.take()
        assert not waiter.urgent.is_set()
