"""Agent commands from any side (`ivr agent …`, the control socket, the phones' feature codes
*71…*74), and the wrap-up spans the CRM keeps for occupancy."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone

from acd import events as ev
from acd.state import AgentState
from ivr.app.acd_driver import AcdDriver
from ivr.app.agent_restore import crm_event_for
from ivr.call.context import StorePort
from ivr.telephony.agi.server import AgiChannel

log = logging.getLogger(__name__)
# Feature codes agents dial from their phones (asterisk/extensions_hotline.conf: *71…*74).
FEATURE_CODES = {"71": "login", "72": "logout", "73": "pause", "74": "ready"}
ACTIONS = "login, logout, pause, ready"


class AgentCommands:
    def __init__(self, acd: AcdDriver, agent_endpoint: Mapping[str, str],
                 endpoint_agent: Mapping[str, str], agents_file: str,
                 store: Callable[[], StorePort | None]):
        self.acd = acd
        self.agent_endpoint, self.endpoint_agent = agent_endpoint, endpoint_agent
        self.agents_file = agents_file
        self._store = store          # the CRM once it is open

    def command(self, action: str, agent: str, reason: str = "") -> dict:
        if agent not in self.agent_endpoint:
            return {"ok": False, "error": f"no agent {agent!r} in {self.agents_file} "
                                          f"(known: {', '.join(sorted(self.agent_endpoint))})"}
        events = {"login": [ev.AgentLoggedIn(agent), ev.AgentReady(agent)],
                  "logout": [ev.AgentLoggedOut(agent)],
                  "pause": [ev.AgentPaused(agent, reason or "paused")],
                  "ready": [ev.AgentReady(agent)]}.get(action)
        if events is None:
            return {"ok": False, "error": f"unknown agent action {action!r} ({ACTIONS})"}
        for event in events:
            self.acd.handle(event)
        store = self._store()
        if store:
            store.add_agent_event(agent, datetime.now(timezone.utc), action, reason or None)
        state = self.acd.agent_state(agent)       # O(1): logins at start are one per agent
        return {"ok": True, "agent": {"agent": agent, "state": state.value,
                                      "reason": reason if action == "pause" else ""}}

    async def feature_code(self, chan: AgiChannel) -> None:
        """`agi://…/agent-feature`: a code dialed from an agent's phone."""
        code, endpoint = (chan.env.args + ["", ""])[:2]
        action = FEATURE_CODES.get(code.lstrip("*"))
        agent = self.endpoint_agent.get(endpoint)
        ok = False
        if action and agent:
            ok = self.command(action, agent, "phone").get("ok", False)
        else:
            log.warning("feature code %r from endpoint %r: unknown code or not an agent", code, endpoint)
        await chan.set_variable("IVR_FEATURE_OK", "1" if ok else "0")

    def wrap_up(self, agent: str, queue: str | None) -> None:
        """Agent sessions for occupancy: the ACD times wrap-up itself; the CRM gets its span."""
        seconds = self.acd.queue(queue).wrapup_seconds
        store = self._store()
        if seconds <= 0 or store is None or self.acd.agent_state(agent) is not AgentState.WRAPUP:
            return          # (a logout asked during the call took effect at once)
        start = datetime.now(timezone.utc)
        store.add_agent_event(agent, start, "wrapup")
        asyncio.get_running_loop().call_later(seconds, self._wrap_up_ended, agent,
                                              start + timedelta(seconds=seconds))

    def more_time(self, agent: str, seconds: float) -> dict:
        """The desk's "more time" during wrap-up."""
        if agent not in self.agent_endpoint:
            return {"ok": False, "error": f"no agent {agent!r} in {self.agents_file}"}
        if self.acd.agent_state(agent) is not AgentState.WRAPUP:
            return {"ok": False, "error": f"{agent} is not in wrap-up (nothing to extend)"}
        self.acd.handle(ev.WrapUpExtended(agent, seconds))
        return {"ok": True, "agent": {"agent": agent, "state": AgentState.WRAPUP.value}}

    def _wrap_up_ended(self, agent: str, at: datetime) -> None:
        """Record what the wrap-up ended in (ready, or a pause/logout asked meanwhile): the
        last event on record is what a restart restores."""
        self.acd.handle(ev.Tick())              # the ACD's own wrap-up timer is due too
        left = self.acd.wrapup_left(agent)
        if left is not None and left > 0:       # "more time": it ends later
            asyncio.get_running_loop().call_later(left, self._wrap_up_ended, agent,
                                                  at + timedelta(seconds=left))
            return
        store = self._store()
        if store is not None:
            store.add_agent_event(agent, at, *crm_event_for(
                self.acd.agent_state(agent), self.acd.core.agent_reason(agent)))
