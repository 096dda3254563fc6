"""One test per agent-selection strategy."""
from collections import Counter

from acd import (Acd, AcdConfig, AgentLoggedIn, CallArrived, CallEnded, CancelOffer, OfferAnswered,
                 OfferCall, OfferFailed)


def build(strategy: str, skills: dict[str, dict[str, int]], requirement: str = "x") -> Acd:
    return Acd(AcdConfig.from_dict({
        "agents": {n: {"skills": s} for n, s in skills.items()},
        "queues": {"q": {"requirement": requirement, "strategy": strategy, "ring_timeout": 12}},
    }))


def login(acd: Acd, names: list[str], now: float = 0.0) -> None:
    for i, n in enumerate(names):
        assert acd.handle(AgentLoggedIn(n), now + i) == []


def take(acd: Acd, cid: str, now: float) -> str:
    """A call arrives, is offered to one agent who answers and hangs up at once."""
    out = acd.handle(CallArrived(cid, "q"), now)
    assert len(out) == 1 and isinstance(out[0], OfferCall)
    agent = out[0].agent
    acd.handle(OfferAnswered(cid, agent), now)
    acd.handle(CallEnded(cid), now + 0.5)
    return agent


def test_longest_idle_picks_agent_idle_longest() -> None:
    acd = build("longest-idle", {"a": {"x": 1}, "b": {"x": 1}, "c": {"x": 1}})
    login(acd, ["b", "c", "a"])  # b idle since 0, c since 1, a since 2
    assert take(acd, "1", 10) == "b"
    assert take(acd, "2", 11) == "c"
    assert take(acd, "3", 12) == "a"
    assert take(acd, "4", 13) == "b"  # b freed at 10.5, earliest again


def test_most_skilled_and_least_skilled() -> None:
    skills = {"lo": {"x": 1}, "mid": {"x": 3}, "hi": {"x": 5}}
    acd = build("most-skilled", skills)
    login(acd, ["lo", "mid", "hi"])
    out = acd.handle(CallArrived("1", "q"), 5)
    assert out == [OfferCall("1", "hi", 12)]
    out = acd.handle(CallArrived("2", "q"), 5)
    assert out == [OfferCall("2", "mid", 12)]
    assert "skill score 5" in " ".join(acd.trace("1"))

    acd = build("least-skilled", skills)
    login(acd, ["hi", "mid", "lo"])
    assert acd.handle(CallArrived("1", "q"), 5) == [OfferCall("1", "lo", 12)]
    assert acd.handle(CallArrived("2", "q"), 5) == [OfferCall("2", "mid", 12)]


def test_most_skilled_scores_only_skills_in_requirement() -> None:
    acd = build("most-skilled", {"a": {"x": 2, "y": 5}, "b": {"x": 3}}, requirement="x")
    login(acd, ["a", "b"])
    assert acd.handle(CallArrived("1", "q"), 5)[0].agent == "b"


def test_round_robin_rotates_regardless_of_idle_time() -> None:
    acd = build("round-robin", {"a": {"x": 1}, "b": {"x": 1}, "c": {"x": 1}})
    login(acd, ["a", "b", "c"])
    seen = [take(acd, str(i), 10 + i) for i in range(6)]
    assert seen == ["a", "b", "c", "a", "b", "c"]


def test_fewest_calls() -> None:
    acd = build("fewest-calls", {"a": {"x": 1}, "b": {"x": 1}})
    login(acd, ["a", "b"])
    # a takes two calls while b is busy on a long one
    out = acd.handle(CallArrived("long", "q"), 1)
    first = out[0].agent
    acd.handle(OfferAnswered("long", first), 1)
    other = "b" if first == "a" else "a"
    assert take(acd, "s1", 2) == other
    assert take(acd, "s2", 3) == other
    acd.handle(CallEnded("long"), 4)
    # now `first` has 1 call, `other` 2 -> first wins although other idled longer
    assert take(acd, "s3", 5) == first


def test_ring_all_first_answer_wins_and_others_cancelled() -> None:
    acd = build("ring-all", {"a": {"x": 1}, "b": {"x": 1}, "c": {"x": 1}, "n": {"y": 1}})
    login(acd, ["a", "b", "c", "n"])
    out = acd.handle(CallArrived("1", "q"), 5)
    assert sorted(o.agent for o in out) == ["a", "b", "c"]
    assert all(isinstance(o, OfferCall) and o.ring_timeout == 12 for o in out)
    out = acd.handle(OfferAnswered("1", "b"), 6)
    assert sorted((type(o).__name__, o.agent) for o in out) == [("CancelOffer", "a"), ("CancelOffer", "c")]
    # losers are ready again: the next call rings them both
    out = acd.handle(CallArrived("2", "q"), 7)
    assert sorted(o.agent for o in out) == ["a", "c"]
    # a late answer from an agent whose offer was cancelled is ignored
    assert acd.handle(OfferAnswered("1", "a"), 7.5) == []
    # one ring-all leg fails: the other keeps ringing, the call is not requeued
    out = acd.handle(OfferFailed("2", "a", "noanswer"), 8)
    assert out == []
    assert acd.agent_state("c").value == "offered"
    assert acd.handle(OfferAnswered("2", "c"), 9) == []


def test_strategies_spread_load_as_expected() -> None:
    acd = build("round-robin", {f"a{i}": {"x": 1} for i in range(4)})
    login(acd, [f"a{i}" for i in range(4)])
    counts = Counter(take(acd, str(i), 10 + i) for i in range(40))
    assert set(counts.values()) == {10}


def test_ring_all_every_leg_fails_then_requeued_in_place() -> None:
    acd = build("ring-all", {"a": {"x": 1}, "b": {"x": 1}, "c": {"x": 1}})
    login(acd, ["a", "b"])
    acd.handle(CallArrived("1", "q"), 5)
    acd.handle(OfferFailed("1", "a", "noanswer"), 17)
    assert acd.position("1") is None  # b still ringing
    assert acd.handle(OfferFailed("1", "b", "noanswer"), 17) == []
    assert acd.position("1") == 1
    assert acd.handle(AgentLoggedIn("c"), 18) == [OfferCall("1", "c", 12)]
