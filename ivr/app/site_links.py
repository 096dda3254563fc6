"""Several Asterisk servers, one ACD (issue 16): one AMI link per site.

`SiteLinks`: every event is tagged with its site (`Site`), a phone's device state is taken
from its home site only, an answer over the trunk is told to the agent it rang, and a lost
link pauses that site's agents (ivr/sites/outage.py). `SitesAmi`: the engine's `ami` then,
sending each action to the Asterisk it concerns. Settings and checks: ivr/app/sites.py.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from ivr.app.presence import AgentPresence
from ivr.app.sites import site_ami
from ivr.config import AmiSettings
from ivr.sites.dialing import SiteMap
from ivr.sites.outage import (Action, PauseAgent, ReadyAgent, SiteBack, SiteDown, SiteOutages,
                              down_reason)
from ivr.sites.settings import SiteSettings
from ivr.telephony.ami import AmiError, AmiLink
from ivr.telephony.channels import endpoint_of

log = logging.getLogger(__name__)


class SiteLinks:
    """One AMI link per site, one ACD. Events reach the engine tagged with their site
    (`Site`); a phone's device state counts only from its home site; the answer of an agent
    rung over a trunk is told as that agent's (DialBegin's dial string names it)."""

    def __init__(self, site_map: SiteMap, sites: Sequence[SiteSettings], *,
                 on_event: Callable[[dict[str, str]], None],
                 on_login: Callable[[str], None],
                 presence: Callable[[str, AmiLink], AgentPresence],
                 link: Callable[..., AmiLink] = AmiLink):
        self.map = site_map
        self._on_event, self._on_login = on_event, on_login
        self.links: dict[str, AmiLink] = {
            s.name: link(site_ami(s), partial(self._event, s.name),
                         on_login=partial(self._logged_in, s.name)) for s in sites}
        # Each site's phones, re-read from its own Asterisk after its link (re)connects.
        self._presences = {site: presence(site, link) for site, link in self.links.items()}
        self.endpoint_agent = {e: a for a, e in site_map.agent_endpoint.items()}
        self._trunk_legs: dict[tuple[str, str], str] = {}   # (site, leg uniqueid) → endpoint rung
        self.channel_site: dict[str, str] = {}              # live channel → its site's Asterisk
        self.ami = SitesAmi(self)
        self.outages = SiteOutages({s.name: s.down_after_s for s in sites})
        self._site_agents = {s.name: site_map.agents_at(s.name) for s in sites}

    def presence(self, site: str) -> AgentPresence:
        return self._presences[site]

    def presence_of_agent(self, agent: str) -> AgentPresence:
        """Where an agent's callback starts: it rings the agent's phone first, so it waits for
        the agent's home site's link, not another site's (a site down elsewhere stops nothing)."""
        return self._presences[self.map.home.get(agent) or self.map.sites[0]]

    async def start(self, timeout: float = 10.0) -> None:
        """Every link at once; a site down at start is logged, and its link keeps trying."""
        async def one(site: str, link: AmiLink) -> None:
            try:
                await link.start(timeout)
            except Exception as exc:     # the other sites serve; this one comes when it can
                log.error("site %s: AMI unavailable at start (%s); its link keeps retrying",
                          site, exc)
        await asyncio.gather(*(one(s, link) for s, link in self.links.items()))

    async def close(self) -> None:
        await asyncio.gather(*(link.close() for link in self.links.values()))

    def address(self, site: str) -> str:
        s = self.links[site].settings
        return f"{s.host}:{s.port}"

    def status(self, agent_status: Callable[[str], tuple[str, str]]) -> list[dict[str, Any]]:
        """One row per site for `ivr sites`, `ivr top` and `ivr cluster status`."""
        rows = []
        for site, link in self.links.items():
            agents = [agent_status(a) for a in self._site_agents[site]]
            rows.append({"site": site, "ami": self.address(site),
                         "link": "up" if link.connected else "down",
                         "state": self.outages.state(site), "reconnects": link.reconnects,
                         "agents": len(agents),
                         "agents_ready": sum(1 for state, _ in agents if state == "ready"),
                         "paused_for_site": sum(1 for state, why in agents
                                                if state == "paused" and why == down_reason(site))})
        return rows

    # ---- a site down takes out its own agents (ivr/sites/outage.py) ---------------------
    async def watch(self, command: Callable[[str, str, str], dict],
                    agent_status: Callable[[str], tuple[str, str]],
                    may_act: Callable[[], bool] = lambda: True, every_s: float = 0.5) -> None:
        """Look at every link every `every_s`; pause and ready agents as the rule says.
        `command`: AgentCommands.command (the ACD and the CRM's agent events, as a person's
        pause would be); `may_act`: false on a standby engine (the active one decides)."""
        while True:
            if may_act():
                for site, link in self.links.items():
                    agents = {a: agent_status(a) for a in self._site_agents[site]}
                    for action in self.outages.observe(site, link.connected, time.monotonic(), agents):
                        self._carry_out(site, action, command)
            await asyncio.sleep(every_s)

    def _carry_out(self, site: str, action: Action, command: Callable[[str, str, str], dict]) -> None:
        if isinstance(action, PauseAgent):
            command("pause", action.agent, action.reason)
        elif isinstance(action, ReadyAgent):
            command("ready", action.agent, "")
        elif isinstance(action, SiteDown):
            log.error("site %s unreachable: no AMI link to its Asterisk at %s for %.0f s. Its "
                      "agents are paused (%s): %s. The other sites keep serving every queue; "
                      "calls talking there go on. Check that Asterisk runs at %s and its AMI "
                      "port is reachable", site, self.address(site), action.lost_for_s,
                      down_reason(site), ", ".join(action.paused) or "none",
                      self.address(site))
        elif isinstance(action, SiteBack):
            log.warning("site %s reachable again after %.0f s: its agents are ready again: %s",
                        site, action.down_for_s, ", ".join(action.ready) or "none")

    # ---- events ------------------------------------------------------------------------
    def _logged_in(self, site: str) -> None:
        # The dialplan names its site to the engine (IVR_SITE, read by each call).
        link = self.links[site]
        asyncio.ensure_future(_set_global(link, "IVR_SITE", site))
        self._on_login(site)

    def _event(self, site: str, event: dict[str, str]) -> None:
        event["Site"] = site
        name = event.get("Event", "")
        if name == "DeviceStateChange" and not self._home_device(site, event.get("Device", "")):
            return
        if name == "Newstate" and event.get("Channel"):
            self.channel_site[event["Channel"]] = site
        elif name == "Hangup":
            self.channel_site.pop(event.get("Channel", ""), None)
            self._trunk_legs.pop((site, event.get("Uniqueid", "")), None)
        elif name == "DialBegin":
            self._note_trunk_leg(site, event)
        elif name == "DialEnd":
            endpoint = self._trunk_legs.pop((site, event.get("DestUniqueid", "")), None)
            if endpoint is not None:    # the agent's phone, as a local leg would name it
                event["DestChannel"] = f"PJSIP/{endpoint}-{site}"
        self._on_event(event)

    def _home_device(self, site: str, device: str) -> bool:
        agent = self.endpoint_agent.get(device[6:]) if device.startswith("PJSIP/") else None
        return agent is None or self.map.is_home_device(agent, site)

    def _note_trunk_leg(self, site: str, event: dict[str, str]) -> None:
        if self.map.trunk_site(endpoint_of(event.get("DestChannel", ""))) is None:
            return
        dialed = event.get("DialString", "").removeprefix("PJSIP/")
        endpoint = dialed.split("@", 1)[0]
        if endpoint in self.endpoint_agent:
            self._trunk_legs[(site, event.get("DestUniqueid", ""))] = endpoint


class SitesAmi:
    """The engine's `ami` when there are sites: what it originates or asks goes to the right
    Asterisk. An agent's phone: its home site; a live channel: the site it lives on; a
    global variable: every site; anything else: the first site whose link is up."""

    def __init__(self, links: SiteLinks):
        self._links = links

    @property
    def settings(self) -> AmiSettings:
        return self._first().settings

    @property
    def connected(self) -> bool:
        return any(link.connected for link in self._links.links.values())

    @property
    def reconnects(self) -> int:
        return sum(link.reconnects for link in self._links.links.values())

    def link_for(self, channel: str) -> AmiLink:
        links = self._links
        site = links.channel_site.get(channel)
        if site is None and channel.startswith("PJSIP/") and "@" not in channel:
            # a phone (PJSIP/<endpoint>, as originated) or one of its channels (…-0000002a)
            agent = links.endpoint_agent.get(channel[6:]) or links.endpoint_agent.get(
                endpoint_of(channel), "")
            site = links.map.home.get(agent)
        return links.links[site] if site else self._first()

    async def action(self, action: dict[str, Any], timeout: float | None = None,
                     as_list: bool | None = None) -> Any:
        if action.get("Action") == "Setvar" and not action.get("Channel"):
            up = [link for link in self._links.links.values() if link.connected]
            if not up:
                raise AmiError("AMI Setvar: no site's Asterisk is connected")
            return (await asyncio.gather(*(link.action(action, timeout) for link in up)))[0]
        return await self.link_for(str(action.get("Channel", ""))).action(action, timeout, as_list)

    async def originate(self, channel: str, **kw: Any) -> Any:
        return await self.link_for(channel).originate(channel, **kw)

    def every_asterisk(self) -> list[AmiLink]:
        """Every site's Asterisk whose link is up: an SMS or fax spooled in one site's AstDB
        is read from there (and deleted there)."""
        return [link for link in self._links.links.values() if link.connected]

    async def wait_connected(self, timeout: float) -> bool:
        if self.connected:
            return True
        waits = [asyncio.ensure_future(link.wait_connected(timeout))
                 for link in self._links.links.values()]
        done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        return any(task.result() for task in done)

    async def close(self) -> None:
        await self._links.close()

    def _first(self) -> AmiLink:
        links = list(self._links.links.values())
        return next((link for link in links if link.connected), links[0])


async def _set_global(link: AmiLink, name: str, value: str) -> None:
    try:
        await link.action({"Action": "Setvar", "Variable": name, "Value": value})
    except Exception as exc:     # the site's own [globals] may say it too (the lab's do)
        log.warning("could not set %s on %s:%d: %s", name, link.settings.host,
                    link.settings.port, exc)
