"""A site down pauses only its own agents, with a reason people read, and gives them back
(ivr/sites/outage.py, pure)."""
from __future__ import annotations

from ivr.sites.outage import PauseAgent, ReadyAgent, SiteBack, SiteDown, SiteOutages, down_reason

REASON = down_reason("lyon")


def _lyon(**states: tuple[str, str]) -> dict[str, tuple[str, str]]:
    return dict(states)


def test_a_blip_shorter_than_the_grace_pauses_nobody() -> None:
    rule = SiteOutages({"lyon": 3.0})
    agents = _lyon(bob=("ready", ""))
    assert rule.observe("lyon", True, 0.0, agents) == []
    assert rule.observe("lyon", False, 1.0, agents) == []
    assert rule.observe("lyon", False, 3.5, agents) == []        # 2.5 s < 3 s
    assert rule.observe("lyon", True, 3.9, agents) == []         # back: nothing to give back
    assert not rule.is_down("lyon")


def test_down_pauses_the_sites_agents_keeps_own_pauses_and_gives_them_back() -> None:
    rule = SiteOutages({"lyon": 3.0, "paris": 3.0})
    rule.observe("lyon", True, 0.0, {})
    agents = _lyon(bob=("ready", ""), carol=("on-call", ""), dan=("paused", "lunch"),
                   eve=("logged-out", ""), fay=("wrap-up", ""))
    assert rule.observe("lyon", False, 10.0, agents) == []
    out = rule.observe("lyon", False, 13.0, agents)
    assert out == [PauseAgent("bob", REASON), PauseAgent("carol", REASON),
                   PauseAgent("fay", REASON), SiteDown("lyon", 3.0, ("bob", "carol", "fay"))]
    assert rule.is_down("lyon") and not rule.is_down("paris")
    # while down: nothing repeated; an agent made ready meanwhile is paused again
    during = _lyon(bob=("paused", REASON), carol=("on-call", ""), dan=("paused", "lunch"),
                   eve=("logged-out", ""), fay=("ready", ""))
    assert rule.observe("lyon", False, 14.0, during) == [PauseAgent("fay", REASON)]
    # back: ours are ready again (carol's pause was pending on her call), dan keeps his lunch
    after = _lyon(bob=("paused", REASON), carol=("on-call", ""), dan=("paused", "lunch"),
                  eve=("logged-out", ""), fay=("paused", REASON))
    out = rule.observe("lyon", True, 40.0, after)
    assert out == [ReadyAgent("bob"), ReadyAgent("carol"), ReadyAgent("fay"),
                   SiteBack("lyon", 27.0, ("bob", "carol", "fay"))]
    settled = _lyon(bob=("ready", ""), carol=("on-call", ""), dan=("paused", "lunch"),
                    eve=("logged-out", ""), fay=("ready", ""))
    assert rule.observe("lyon", True, 41.0, settled) == []


def test_a_site_never_reached_at_start_goes_down_and_old_site_pauses_are_undone() -> None:
    rule = SiteOutages({"lyon": 0.0})
    out = rule.observe("lyon", False, 5.0, _lyon(bob=("ready", "")))
    assert out == [PauseAgent("bob", REASON), SiteDown("lyon", 0.0, ("bob",))]
    # an engine restarted while a site was down restores the pause from the CRM: undone
    fresh = SiteOutages({"lyon": 3.0})
    assert fresh.observe("lyon", True, 0.0, _lyon(bob=("ready", ""))) == []
    assert fresh.observe("lyon", True, 0.5, _lyon(bob=("paused", REASON), dan=("paused", "x"))) \
        == [ReadyAgent("bob")]
