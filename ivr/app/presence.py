"""What AMI tells about agents and their calls: phones' device states, answers of offered
calls (DialEnd), the re-sync after a dropped link, and the agents paused while a callback
could not ring for want of the link."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping

from acd import actions as act
from acd import events as ev
from acd.state import AgentState
from ivr.app.acd_driver import AcdDriver
from ivr.call.callbacks import Callbacks
from ivr.telephony.ami import AmiLink
from ivr.telephony.channels import endpoint_of

log = logging.getLogger(__name__)
# AMI device states in which an agent's phone cannot take an offer.
BUSY_STATES = frozenset({"INUSE", "BUSY", "RINGINUSE", "ONHOLD"})
# The pause reason of agents whose callback could not ring while the AMI link was down.
AMI_DOWN_REASON = "AMI link down"


class AgentPresence:
    def __init__(self, acd: AcdDriver, callbacks: Callbacks, agent_endpoint: Mapping[str, str],
                 endpoint_agent: Mapping[str, str], spawn: Callable[[object], None],
                 ami_address: str, home_agents: Collection[str] | None = None):
        self.acd, self.callbacks = acd, callbacks
        # Several sites (ivr/app/site_links.py): the agents whose phones this Asterisk reports;
        # None: all of them (one Asterisk).
        self._home = None if home_agents is None else frozenset(home_agents)
        self.agent_endpoint, self.endpoint_agent = agent_endpoint, endpoint_agent
        self._spawn = spawn
        self._ami_address = ami_address            # host:port, for messages
        self.ami: AmiLink | None = None
        self._paused_for_ami: set[str] = set()

    # ---- AMI events --------------------------------------------------------------------
    def on_ami_event(self, event: dict[str, str]) -> None:
        name = event.get("Event", "")
        self.callbacks.on_ami_event(event)
        if name == "DeviceStateChange":
            self._device_state(event.get("Device", ""), event.get("State", ""))
        elif name == "DialEnd" and event.get("DialStatus") == "ANSWER":
            waiter = self.acd.waiters.get(event.get("Uniqueid", ""))
            if waiter and not waiter.is_answered:
                agent = self.endpoint_agent.get(endpoint_of(event.get("DestChannel", "")))
                if agent:
                    waiter.on_answer(agent, time.monotonic())

    def _device_state(self, device: str, state: str) -> None:
        if not device.startswith("PJSIP/"):
            return
        agent = self.endpoint_agent.get(device[6:])
        if agent and self._home is not None and agent not in self._home:
            return
        # Our own offers make the phone ring/in use; the ACD knows those already.
        if agent and not self.acd.engaged_by_us(agent):
            self.acd.handle(ev.DeviceBusy(agent, state in BUSY_STATES))

    # ---- after (re)connecting ----------------------------------------------------------
    def on_login(self) -> None:
        if self.ami:
            self._spawn(self._resync(time.monotonic()))

    async def _resync(self, login_at: float) -> None:
        """After (re)connecting, the events of the outage are lost for good: re-read the
        phones' device states and the live channels, so no agent stays ready-while-busy,
        busy-while-free or offered-while-talking."""
        try:
            listing = await self.ami.action({"Action": "DeviceStateList"}, as_list=True)
        except Exception as exc:
            log.warning("AMI: could not re-read device states (%s); agents' phone states stay "
                        "as last seen until their phones change state", exc)
        else:
            states = {m.get("Device", ""): m.get("State", "") for m in _listed(listing)
                      if m.get("Event") == "DeviceStateChange"}
            for device, state in states.items():
                self._device_state(device, state)
            busy = sorted(a for a, e in self.agent_endpoint.items()
                          if states.get(f"PJSIP/{e}") in BUSY_STATES
                          and (self._home is None or a in self._home))
            log.info("AMI: re-read %d device states; agents' phones busy now: %s",
                     len(states), ", ".join(busy) or "none")
        try:
            await self._resync_channels(login_at)
        except Exception as exc:
            log.warning("AMI: could not re-read live channels (%s); an answer missed while "
                        "the link was down is seen when the call ends", exc)
        self._ready_agents_paused_for_ami()

    async def _resync_channels(self, login_at: float) -> None:
        """Answers missed while the link was down: an offered agent's channel that is up and
        linked to the waiting caller answered; a callback leg that is gone hung up."""
        unanswered = {w.call_id: w for w in self.acd.waiters.values()
                      if w.offered_agents and not w.is_answered}
        # Only legs rung before this login: one rung since may not be listed yet (Originate
        # is asynchronous) and must not be taken for a leg that hung up during the outage.
        callback_legs = self.callbacks.channel_ids(rung_before=login_at)
        if not unanswered and not callback_legs:
            return
        listing = await self.ami.action({"Action": "CoreShowChannels"}, as_list=True)
        channels = [m for m in _listed(listing) if m.get("Event") == "CoreShowChannel"]
        for channel in channels:
            waiter = unanswered.get(channel.get("Linkedid", ""))
            agent = self.endpoint_agent.get(endpoint_of(channel.get("Channel", "")))
            if (waiter and agent in waiter.offered_agents and not waiter.is_answered
                    and channel.get("ChannelStateDesc") == "Up"):
                log.info("AMI: call %s was answered by %s while the link was down",
                         waiter.call_id, agent)
                waiter.on_answer(agent, None)
        # Callback legs: replay what was missed as the events the callbacks expect.
        alive = {c.get("Uniqueid", ""): c.get("ChannelStateDesc", "") for c in channels}
        for uid in callback_legs:
            if uid not in alive:
                self.callbacks.on_ami_event({"Event": "Hangup", "Uniqueid": uid})
            elif alive[uid] == "Up":
                self.callbacks.on_ami_event({"Event": "Newstate", "Uniqueid": uid,
                                             "ChannelStateDesc": "Up"})

    # ---- callbacks need the link -------------------------------------------------------
    def start_callback(self, action: act.StartCallback) -> None:
        if self.ami is not None and not self.ami.connected:
            self._spawn(self._start_callback_when_linked(action))
        else:
            self.callbacks.start(action.call_id, action.agent, action.number)

    async def _start_callback_when_linked(self, action: act.StartCallback,
                                          wait_s: float = 10.0) -> None:
        """A callback needs AMI Originate: while the link is down, wait for it (it normally
        returns within seconds) rather than fail the agent's offer as a no-answer."""
        if await self.ami.wait_connected(wait_s):
            self.callbacks.start(action.call_id, action.agent, action.number)
            return
        log.error("callback for call %s not started: no AMI link to Asterisk for %.0f s. The "
                  "request stays queued; %s is paused (%s) until the link is back. Check that "
                  "Asterisk runs and its AMI port %s is reachable", action.call_id, wait_s,
                  action.agent, AMI_DOWN_REASON, self._ami_address)
        self.acd.handle(ev.OfferFailed(action.call_id, action.agent, AMI_DOWN_REASON))
        self.acd.handle(ev.AgentPaused(action.agent, AMI_DOWN_REASON))
        self._paused_for_ami.add(action.agent)

    def _ready_agents_paused_for_ami(self) -> None:
        """Agents we paused only because the AMI link was down are ready again, unless they
        have since changed state themselves."""
        reasons = {a["agent"]: a["reason"] for a in self.acd.core.state_snapshot()["agents"]}
        for agent in sorted(self._paused_for_ami):
            if (self.acd.agent_state(agent) is AgentState.PAUSED
                    and reasons.get(agent) == AMI_DOWN_REASON):
                log.info("AMI link back: %s is ready again", agent)
                self.acd.handle(ev.AgentReady(agent))
        self._paused_for_ami.clear()


def _listed(listing: object) -> list:
    """An as_list AMI answer: the messages (panoramisk gives one message when the list is
    empty)."""
    return listing if isinstance(listing, list) else [listing]
