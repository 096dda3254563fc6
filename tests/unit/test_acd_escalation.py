"""Every escalation step, in wait-time order."""
from typing import Any

from acd import (Acd, AcdConfig, AgentLoggedIn, CallArrived, CallbackRequested, Diverted, Escalated,
                 OfferAnswered, OfferCall, OfferCallbackChoice, OfferFailed, Overflowed, Tick)


def build(escalation: list[dict[str, Any]], **extra: Any) -> Acd:
    return Acd(AcdConfig.from_dict({
        "agents": {"expert": {"skills": {"pv": 4}}, "junior": {"skills": {"pv": 1}},
                   "med": {"skills": {"medinfo": 3}}},
        "queues": {"pv": {"requirement": "pv >= 3", "escalation": escalation, **extra},
                   "medinfo": {"requirement": "medinfo"}},
    }))


def test_widen_after_wait() -> None:
    acd = build([{"after_seconds": 30, "widen": "pv >= 1"}])
    acd.handle(AgentLoggedIn("junior"), 0)
    assert acd.handle(CallArrived("c", "pv"), 1) == []
    assert acd.next_deadline() == 31
    assert acd.handle(Tick(), 30.9) == []
    out = acd.handle(Tick(), 31)
    assert isinstance(out[0], Escalated) and out[0].rule == "widen"
    assert "'pv >= 3' -> 'pv >= 1'" in out[0].detail
    assert out[1] == OfferCall("c", "junior", 15.0)
    assert any("widen" in line for line in acd.trace("c"))


def test_widened_call_keeps_extra_requirement() -> None:
    acd = build([{"after_seconds": 10, "widen": "pv >= 1"}])
    acd.handle(AgentLoggedIn("junior"), 0)
    acd.handle(CallArrived("c", "pv", required="medinfo"), 0)
    out = acd.handle(Tick(), 10)
    assert [type(o) for o in out] == [Escalated]  # junior lacks medinfo


def test_overflow_keeps_original_arrival() -> None:
    acd = build([{"after_seconds": 60, "overflow": "medinfo"}])
    acd.handle(AgentLoggedIn("med"), 0)
    acd.handle(CallArrived("m-busy", "medinfo"), 0)
    acd.handle(OfferAnswered("m-busy", "med"), 0)
    acd.handle(CallArrived("pv-call", "pv"), 10)
    acd.handle(CallArrived("m1", "medinfo"), 50)
    out = acd.handle(Tick(), 70)
    assert out[0].rule == "overflow"
    assert out[1] == Overflowed("pv-call", "pv", "medinfo")
    # it arrived at 10, before m1 (50): first in the medinfo line
    assert acd.position("pv-call") == 1 and acd.position("m1") == 2


def test_offer_callback_then_divert_in_order() -> None:
    acd = build([{"after_seconds": 20, "offer_callback": True},
                 {"after_seconds": 40, "divert": "voicemail"}])
    acd.handle(CallArrived("c", "pv"), 0)
    out = acd.handle(Tick(), 100)  # both due: fire in order
    assert [type(o) for o in out] == [Escalated, OfferCallbackChoice, Escalated, Diverted]
    assert out[3].destination == "voicemail" and "max wait" in out[3].reason
    assert acd.position("c") is None and acd.next_deadline() is None


def test_divert_skipped_for_pending_callback() -> None:
    acd = build([{"after_seconds": 20, "offer_callback": True},
                 {"after_seconds": 40, "divert": "voicemail"}])
    acd.handle(CallArrived("c", "pv"), 0)
    acd.handle(Tick(), 20)
    acd.handle(CallbackRequested("c", "123"), 25)
    assert acd.handle(Tick(), 40) == []
    assert acd.position("c") == 1


def test_escalation_deferred_while_ringing() -> None:
    acd = build([{"after_seconds": 10, "widen": "pv >= 1"}])
    acd.handle(AgentLoggedIn("expert"), 0)
    assert acd.handle(CallArrived("c", "pv"), 0) == [OfferCall("c", "expert", 15.0)]
    assert acd.handle(Tick(), 12) == []  # ringing: no escalation
    acd.handle(AgentLoggedIn("junior"), 13)
    out = acd.handle(OfferFailed("c", "expert", "noanswer"), 15)
    assert [type(o) for o in out] == [Escalated, OfferCall]
    assert out[1].agent == "junior"


def test_divert_before_widen_when_times_say_so() -> None:
    acd = build([{"after_seconds": 5, "divert": "vm"}, {"after_seconds": 10, "widen": "pv"}])
    acd.handle(AgentLoggedIn("junior"), 0)
    acd.handle(CallArrived("c", "pv"), 0)
    out = acd.handle(Tick(), 20)
    assert [type(o) for o in out] == [Escalated, Diverted]
