"""A site whose AMI link is lost (its Asterisk stopped, or the network to it) takes out its
own agents, and gives them back when the link returns. Pure: link observations, the agents'
states and `now` in, actions out; ivr/app/site_links.py polls the links and carries them out.

- A link lost for less than the site's `down_after_s` pauses nobody (a reconnect blip).
- Down: every agent homed there who is not paused or logged out is paused with the reason
  "site <name> unreachable" (an agent on a call is paused when the call ends: the ACD's
  pending pause; a call talking on a surviving site is never touched). An agent made ready
  while the site is still down is paused again: no phone there can ring.
- Up: agents paused with that reason are ready again (also those paused so before an engine
  restart, restored from the CRM); agents who paused themselves for something else stay so.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

PAUSED, LOGGED_OUT = "paused", "logged-out"
BUSY = frozenset({"offered", "on-call"})


def down_reason(site: str) -> str:
    """The pause reason `ivr agents`, the desk and the wallboard show."""
    return f"site {site} unreachable"


@dataclass(frozen=True)
class PauseAgent:
    agent: str
    reason: str


@dataclass(frozen=True)
class ReadyAgent:
    agent: str


@dataclass(frozen=True)
class SiteDown:
    """For people: the site is out, since when, who was paused."""
    site: str
    lost_for_s: float
    paused: tuple[str, ...]


@dataclass(frozen=True)
class SiteBack:
    site: str
    down_for_s: float
    ready: tuple[str, ...]


Action = PauseAgent | ReadyAgent | SiteDown | SiteBack
# agent → (its ACD state value, its pause reason)
AgentStates = Mapping[str, tuple[str, str]]


@dataclass
class _Site:
    state: str = "unknown"           # unknown (not yet seen up) | up | lost | down
    lost_since: float | None = None
    down_since: float | None = None
    paused_on_call: set[str] = field(default_factory=set)


class SiteOutages:
    def __init__(self, down_after_s: Mapping[str, float]):
        self._down_after = dict(down_after_s)
        self._sites = {site: _Site() for site in down_after_s}

    def is_down(self, site: str) -> bool:
        return self._sites[site].state == "down"

    def state(self, site: str) -> str:
        """unknown (not seen up yet) | up | lost (within the grace) | down"""
        return self._sites[site].state

    def observe(self, site: str, link_up: bool, now: float, agents: AgentStates) -> list[Action]:
        """One look at `site`'s link; `agents`: the states of the agents homed there."""
        s = self._sites[site]
        return self._up(site, s, now, agents) if link_up else self._lost(site, s, now, agents)

    def _up(self, site: str, s: _Site, now: float, agents: AgentStates) -> list[Action]:
        # Paused for this site while it is up is always stale (also a pause restored from the
        # CRM after an engine restart, whenever the restore comes): ready again.
        reason = down_reason(site)
        back = sorted(a for a, (state, why) in agents.items()
                      if (state == PAUSED and why == reason)
                      or (a in s.paused_on_call and state in BUSY))
        out: list[Action] = [ReadyAgent(a) for a in back]
        if s.state == "down":
            out.append(SiteBack(site, now - (s.down_since or now), tuple(back)))
        s.state, s.lost_since, s.down_since = "up", None, None
        s.paused_on_call.clear()
        return out

    def _lost(self, site: str, s: _Site, now: float, agents: AgentStates) -> list[Action]:
        if s.state in ("unknown", "up"):
            s.state, s.lost_since = "lost", now
        if s.state == "lost" and now - (s.lost_since or now) < self._down_after[site]:
            return []
        reason = down_reason(site)
        out: list[Action] = []
        paused = []
        for agent, (state, _why) in sorted(agents.items()):
            if state in (LOGGED_OUT, PAUSED) or (agent in s.paused_on_call and state in BUSY):
                continue          # out already (a pause of their own is kept as it is)
            out.append(PauseAgent(agent, reason))
            paused.append(agent)
            if state in BUSY:
                s.paused_on_call.add(agent)
        if s.state == "lost":
            s.state, s.down_since = "down", now
            out.append(SiteDown(site, now - (s.lost_since or now), tuple(paused)))
        return out

