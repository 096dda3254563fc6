"""Who is homed where, and how a call at one site rings an agent at another (pure).

A call is answered by the Asterisk of the site it came in at; an agent's phone registers on
its home site's Asterisk. Same site: PJSIP/<endpoint>. Another site: through the PJSIP trunk
the caller's Asterisk has to the agent's site, PJSIP/<endpoint>@<trunk> (the endpoint is
the user part of the INVITE the trunk sends; asterisk/sites/ answers it by ringing the phone).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ivr.sites.settings import SiteSettings


@dataclass(frozen=True)
class SiteMap:
    sites: tuple[str, ...]                  # in the order of engine.yaml
    home: Mapping[str, str]                 # agent → its site
    trunk: Mapping[str, str]                # site → the endpoint other sites reach it through
    agent_endpoint: Mapping[str, str]       # agent → its phone's PJSIP endpoint

    @classmethod
    def build(cls, sites: Sequence[SiteSettings], agent_endpoint: Mapping[str, str]) -> "SiteMap":
        """From settings that passed rules.site_issues."""
        return cls(sites=tuple(s.name for s in sites),
                   home={a: s.name for s in sites for a in s.agents},
                   trunk={s.name: s.trunk for s in sites if s.trunk},
                   agent_endpoint=dict(agent_endpoint))

    def agents_at(self, site: str) -> list[str]:
        return sorted(a for a, s in self.home.items() if s == site)

    def dial_target(self, agent: str, call_site: str | None) -> str:
        """What the caller's Asterisk dials to ring `agent`. A call of unknown site (an
        Asterisk that does not say) is taken as local: that is the single-site behaviour."""
        endpoint = self.agent_endpoint[agent]
        home = self.home.get(agent)
        if call_site is None or home is None or home == call_site:
            return f"PJSIP/{endpoint}"
        return f"PJSIP/{endpoint}@{self.trunk[home]}"

    def trunk_site(self, endpoint: str) -> str | None:
        """The site a trunk endpoint leads to, if `endpoint` is one."""
        return next((s for s, t in self.trunk.items() if t == endpoint), None)

    def answering_agent(self, endpoint: str, rung: Iterable[str]) -> str | None:
        """The agent behind an answered leg whose channel is a trunk (PJSIP/<trunk>-…): the
        one agent rung at that trunk's site; None when it cannot be told (several rung there)."""
        site = self.trunk_site(endpoint)
        if site is None:
            return None
        there = [a for a in rung if self.home.get(a) == site]
        return there[0] if len(there) == 1 else None

    def is_home_device(self, agent: str, site: str) -> bool:
        """A device state about `agent`'s phone counts only from its home site's Asterisk
        (another site may know an endpoint of that name, unregistered there)."""
        return self.home.get(agent, site) == site
