"""CallSession: one call from answer to hangup, in one FastAGI session.

It runs the dialplan walker, waits in the ACD with music on hold, rings agents, and writes
exactly one CRM record whatever happens. A bug here must never drop the caller: any failure
hands the call back to Asterisk's fallback (IVR_DONE stays 0 → operator).
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import datetime, timezone

from acd import actions as act
from acd import events as ev
from ivr.telephony.agi.server import AgiChannel, CallerHungUp
from ivr.call.caller import AgiCaller
from ivr.crm.records import CallEvent, CallRecord
from ivr.dialplan import instructions as ins
from ivr.dialplan.walker import Walker
from ivr.app.engine import Engine, Waiter
from ivr.privacy import mask_number
from ivr.telephony.channels import endpoint_of
from ivr.speech.recognizer import listen_or_key

log = logging.getLogger(__name__)
QUEUE_TICK_S = 1.0


class HandBack(Exception):
    """The engine cannot serve this call as configured: Asterisk's fallback takes it."""


class SpeechFailed(Exception):
    """The recognizer broke during a speech node: the call goes on with keys only."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class CallSession:
    def __init__(self, engine: Engine, agi: AgiChannel):
        self.engine = engine
        self.agi = agi
        self.loaded = engine.plans.current      # the call keeps this version to its end
        self.caller = AgiCaller(agi, engine.settings.sounds.asterisk_prefix)
        env = agi.env
        self.record = CallRecord(
            call_id=env.get("uniqueid"), caller=env.get("callerid"),
            dialed=(env.args[0] if env.args else env.get("extension")),
            started_at=utcnow(), plan_version=self.loaded.version,
        )
        self.walker = Walker(self.loaded.plan,
                             {"caller": self.record.caller, "dialed": self.record.dialed},
                             now=engine.dialplan_now)
        self.stage = "menu"
        self.waiter: Waiter | None = None       # set while the call is in the ACD
        self.required: str | None = None        # the route's extra skill expression
        self._path_logged = 0
        # Why speech nodes took keys only in this call (the CRM's speech_outcome): no_model
        # (none loaded at start), recognizer_error (it broke mid-call) or recognizer_suspended
        # (it broke in the last calls: see ivr/speech/breaker.py); None if speech ran.
        self.speech_unavailable: str | None = None

    @property
    def call_id(self) -> str:
        return self.record.call_id

    def _event(self, kind: str, **data) -> None:
        """One step of the call's timeline in the CRM (the writer batches; never blocks)."""
        self.engine.store.add_event(CallEvent(self.call_id, utcnow(), kind, data))

    def _walker_events(self) -> None:
        """IVR steps (nodes visited, keys, timeouts, speech) as they happen."""
        path = self.walker.path
        for step in path[self._path_logged:]:
            self._event("ivr", **step)
        self._path_logged = len(path)

    async def run(self) -> None:
        # One INFO line per call, at its end (it names the caller): with two, logging was ~3%
        # of the engine's Python time at load (py-spy). The arrival is DEBUG, formatted only
        # when enabled.
        if log.isEnabledFor(logging.DEBUG):
            log.debug("call %s from %s", self.call_id, mask_number(self.record.caller))
        self._event("arrived", caller=self.record.caller, dialed=self.record.dialed,
                    plan_version=self.loaded.version)
        # Written now, completed at the end: if the engine dies mid-call the CRM still has it.
        self.engine.store.save_call(self.record)
        self.engine.events.publish(f"calls/{self.call_id}/started",
                                   {"caller": self.record.caller, "dialed": self.record.dialed,
                                    "plan_version": self.loaded.version})
        done = True
        try:
            await self._walk()
        except CallerHungUp:
            self._caller_left()
        except asyncio.CancelledError:
            # Engine stopping with the call still live: Asterisk takes it to the operator,
            # or, if an agent already answered, simply lets the conversation run its course.
            done = False
            if self.waiter and self.waiter.answered_by:
                self.record.disposition, self.record.agent = "answered", self.waiter.answered_by
                self.record.hangup_cause = "engine stopped during the conversation"
            else:
                self._handed_back("engine stopped")
            raise
        except HandBack as exc:
            done = False
            log.error("call %s handed to Asterisk's operator fallback: %s", self.call_id, exc)
            self._handed_back(str(exc))
        except Exception as exc:
            done = False
            log.exception("call %s failed in %s; handing it to Asterisk's fallback",
                          self.call_id, self.stage)
            self._handed_back(f"engine error: {exc}")
        finally:
            await self._finish(done)

    # ---- the dialplan ------------------------------------------------------------------
    async def _walk(self) -> None:
        instr = self.walker.start()
        # The channel's language when the call came in (agi_language): set it only if the
        # plan's differs, one AGI round trip less where the endpoint already has it.
        language = self.agi.env.get("language") or None
        while True:
            self._walker_events()
            if self.walker.language != language:      # Asterisk's own prompts follow suit
                language = self.walker.language
                await self.agi.set_variable("CHANNEL(language)", language)
            if isinstance(instr, ins.Play):
                await self.caller.play(instr.prompts)
                instr = self.walker.send(None)
            elif isinstance(instr, ins.AskDigit):
                instr = self.walker.send(await self.caller.ask_digit(instr.prompts, instr.timeout_seconds))
            elif isinstance(instr, ins.AskDigits):
                instr = self.walker.send(await self.caller.ask_digits(
                    instr.prompts, instr.timeout_seconds, instr.min_length, instr.max_length,
                    instr.terminator))
            elif isinstance(instr, ins.Listen):
                instr = self.walker.send(await self._listen(instr))
            elif isinstance(instr, ins.LookupCaller):
                instr = self.walker.send(await self._lookup_caller(instr.number))
            elif isinstance(instr, ins.Route):
                await self._queue(instr)
                return
            elif isinstance(instr, ins.Transfer):
                self.stage = "transfer"
                outcome = await self.caller.dial(f"Local/{instr.destination}@hotline-transfer", 60)
                self.record.disposition = "transferred" if outcome == "ANSWER" else "failed"
                return
            elif isinstance(instr, ins.Hangup):
                await self.caller.play(instr.prompts)
                self.record.disposition = "self_service"
                return
            else:
                raise TypeError(f"the dialplan walker gave an unknown instruction {instr!r}")

    async def _listen(self, listen: ins.Listen) -> ins.SpeechInput:
        """A speech node: the prompt (a key interrupts it), then the caller's voice through
        AudioSocket into the shared model, or a key. Without a model: keys only."""
        self.stage = "speech"
        breaker = self.engine.speech_breaker
        if self.engine.speech_model is None:
            self.speech_unavailable = self.speech_unavailable or "no_model"
        elif self.speech_unavailable is None and not breaker.allows(time.monotonic()):
            self.speech_unavailable = "recognizer_suspended"
        keys = "".join(sorted(listen.keys))
        key = await self.caller.play(listen.prompts, keys)
        keys_only = self.speech_unavailable is not None
        if key is None and keys_only:
            key = await self.caller.wait_digit(listen.no_speech_timeout)
        if key is not None or keys_only:
            return ins.SpeechInput(key=key)
        try:
            heard = await self._recognise(listen)
        except SpeechFailed as exc:
            self.speech_unavailable = "recognizer_error"
            log.error("call %s: speech recognition failed in node %s (%s); the call goes on "
                      "with keys only (the plan's re-ask, then a person). If this repeats, the "
                      "speech model (speech.model) is broken: reinstall it and restart the "
                      "engine", self.call_id, listen.node, exc)
            if breaker.failed(time.monotonic()):
                log.error("speech recognition failed in %d calls in a row: speech nodes take "
                          "keys only for the next %.0f s (speech.suspend_for_s), then calls try "
                          "it again. Check the speech model (speech.model) and the engine log",
                          breaker.failures, breaker.cool_off_s)
            return ins.SpeechInput(key=await self.caller.wait_digit(listen.no_speech_timeout))
        breaker.succeeded()
        if isinstance(heard, str):
            return ins.SpeechInput(key=heard)
        self._remember_speech(heard)
        return ins.SpeechInput(text=heard.text, confidence=heard.confidence,
                               intent=heard.intent, candidates=tuple(heard.candidates))

    async def _recognise(self, listen: ins.Listen):
        engine = self.engine
        uid = str(uuid.uuid4())
        try:
            recognition = engine.speech_model.recognition(
                listen.grammar, no_speech_timeout=listen.no_speech_timeout,
                max_utterance=listen.max_utterance)
        except Exception as exc:
            raise SpeechFailed(f"no recognizer for this node's grammar: {exc}") from exc
        listener = engine.audiosocket.expect(uid)
        a = engine.settings.audiosocket
        capture = asyncio.ensure_future(self.agi.exec("AudioSocket", f"{uid},{a.host}:{a.port}"))
        # Recognition limits count audio time; this wall-clock guard covers a line that sends
        # no audio at all (no RTP from the caller: AudioSocket then has nothing to forward).
        limit = listen.no_speech_timeout + listen.max_utterance + 3
        try:
            try:
                try:
                    heard = await asyncio.wait_for(
                        listen_or_key(listener, recognition, listen.keys), limit)
                except TimeoutError:
                    listener.hangup()
                    heard = await recognition.finish()
                if isinstance(heard, str):
                    await recognition.finish()
            except Exception as exc:
                if isinstance(exc, CallerHungUp):
                    raise
                # The decoder broke. End the AudioSocket leg as if decided, and let the
                # EXEC AudioSocket reply arrive: cancelling it would leave the AGI session
                # waiting for that reply, and every later command (keys, queue) would fail.
                listener.hangup()
                await asyncio.wait_for(capture, 5)
                raise SpeechFailed(f"{type(exc).__name__}: {exc}") from exc
            await asyncio.wait_for(capture, 5)      # AudioSocket() returns once we hang up
        except SpeechFailed:
            engine.audiosocket.forget(uid)
            raise
        except BaseException:
            engine.audiosocket.forget(uid)
            capture.cancel()
            raise
        if capture.done() and not capture.cancelled() and capture.result().result == -1:
            raise CallerHungUp("caller hung up while speaking")
        return heard

    def _remember_speech(self, heard) -> None:
        """Transcript and confidence go to the CRM record, never to the logs."""
        rec = self.record
        rec.speech_text, rec.speech_confidence = heard.text, round(heard.confidence, 3)

    # ---- the queue ---------------------------------------------------------------------
    async def _queue(self, route: ins.Route) -> None:
        self.stage = "queue"
        rec = self.record
        rec.queue, rec.priority, rec.intent = route.queue, route.priority, route.intent
        rec.adverse_event = rec.adverse_event or route.queue == "pharmacovigilance"
        waiter = self.waiter = Waiter(self.call_id)
        self.engine.waiters[self.call_id] = waiter
        self.queued_at = time.monotonic()
        self._event("queue_enter", queue=route.queue, priority=route.priority,
                    intent=route.intent)
        self.engine.events.publish(f"calls/{self.call_id}/queued",
                                   {"queue": route.queue, "priority": route.priority,
                                    "intent": route.intent, "adverse_event": rec.adverse_event})
        self.required = route.required           # a callback request keeps the same needs
        self.engine.acd_handle(ev.CallArrived(self.call_id, route.queue, route.priority,
                                              rec.caller, route.required, route.agent))
        music = False
        try:
            while True:
                offers = []
                while waiter.actions:
                    action = waiter.actions.popleft()
                    if isinstance(action, act.OfferCall):
                        offers.append(action)
                    elif isinstance(action, act.CancelOffer):
                        offers = [o for o in offers if o.agent != action.agent]
                    elif isinstance(action, act.Diverted):
                        if music:
                            await self.caller.stop_music()
                        await self._divert(action)
                        return
                    elif isinstance(action, (act.Escalated, act.Overflowed)):
                        self._event("escalate" if isinstance(action, act.Escalated) else "overflow",
                                    **{k: getattr(action, k) for k in action.__slots__})
                    elif isinstance(action, act.Announce):
                        await self._announce(action)
                        music = False
                    elif isinstance(action, act.OfferCallbackChoice):
                        if music:
                            await self.caller.stop_music()
                            music = False
                        await self.caller.play(self._system_prompt("callback-offer"))
                if offers:
                    if music:
                        await self.caller.stop_music()
                        music = False
                    if await self._ring(waiter, offers):
                        return
                if not music:
                    await self.caller.start_music()
                    music = True
                waiter.wake.clear()
                if waiter.actions:
                    continue
                key = await self.caller.wait_digit(QUEUE_TICK_S, wake=waiter.wake)
                if key is not None and key == self._callback_key() and rec.caller:
                    # Keeps the caller's place: the ACD calls back when its turn comes.
                    await self.caller.stop_music()
                    self.engine.callbacks.request(rec, self.queued_at)
                    self._event("callback_request", number=rec.caller, queue=rec.queue,
                                required=self.required)
                    rec.disposition = "callback"
                    rec.hangup_cause = "callback requested; waiting for the caller's turn"
                    await self.caller.play(self._system_prompt("callback-confirm"))
                    return
        except BaseException as exc:
            # Whatever ends the wait (hangup, engine stop, our bug), the ACD must forget the call.
            self.engine.acd_handle(ev.CallAbandoned(self.call_id))
            rec.wait_seconds = time.monotonic() - self.queued_at
            if isinstance(exc, CallerHungUp):
                rec.disposition = "abandoned"
            raise
        finally:
            self.engine.forget_waiter(self.call_id)
            rec.decision_trace = list(self.engine.acd.trace(self.call_id))

    async def _ring(self, waiter: Waiter, offers: list[act.OfferCall]) -> bool:
        """Ring the offered agent(s); True once the call was answered and has ended."""
        self.stage = "ringing"
        for offer in offers:
            self._event("offer", agent=offer.agent, queue=self.record.queue)
            self.engine.events.publish(f"calls/{self.call_id}/offered", {"agent": offer.agent})
            if self.engine.events.enabled:
                asyncio.create_task(self._screen_pop(offer.agent))
        targets = "&".join(f"PJSIP/{self.engine.agent_endpoint[o.agent]}" for o in offers)
        ring_start = time.monotonic()
        outcome = await self.caller.dial(targets, max(o.ring_timeout for o in offers),
                                         answered=lambda: waiter.answered_by is not None)
        if outcome == "ANSWER":
            ended = time.monotonic()
            agent = waiter.answered_by or await self._answering_agent(offers)
            if waiter.answered_by is None:      # AMI missed the DialEnd: tell the ACD now
                waiter.answered_by = agent
                self.engine.acd_handle(ev.OfferAnswered(self.call_id, agent))
            self.engine.acd_handle(ev.CallEnded(self.call_id))
            self.engine.note_wrap_up(agent, self.record.queue)
            # The answer instant comes from AMI; without it, ringing counts as talk.
            answered_at = waiter.answered_at or ring_start
            rec = self.record
            rec.agent = agent
            rec.wait_seconds = round(answered_at - self.queued_at, 3)
            rec.talk_seconds = round(ended - answered_at, 3)
            rec.disposition = "answered"
            self._event("connect", agent=agent, queue=rec.queue, wait_seconds=rec.wait_seconds)
            self._event("complete", agent=agent, talk_seconds=rec.talk_seconds)
            return True
        if self.caller.hung_up or outcome == "CANCEL":
            for o in offers:
                self.engine.release_agent(waiter, o.agent)
            raise CallerHungUp("caller hung up while an agent was ringing")
        for o in offers:   # ring-no-answer, busy or unreachable: RONA, the caller keeps its place
            self.engine.release_agent(waiter, o.agent)
            log.info("call %s: %s did not answer (%s after %.0f s)", self.call_id, o.agent,
                     outcome, time.monotonic() - ring_start)
            self.engine.acd_handle(ev.OfferFailed(self.call_id, o.agent, outcome.lower()))
            self.engine.store.add_agent_event(o.agent, utcnow(), "pause", "RONA")
            self._event("ring_no_answer", agent=o.agent, queue=self.record.queue,
                        ring_ms=int((time.monotonic() - ring_start) * 1000), status=outcome)
        self.stage = "queue"
        return False

    async def _lookup_caller(self, number: str | None) -> dict | None:
        """The caller's contact for a lookup node. A CRM that cannot answer now makes the
        caller unknown (the node's default branch), never a dropped call: the store logs
        that once per outage."""
        if not number:
            return None
        store = self.engine.store
        return await store.live_read(store.find_contact(number), None,
                                     f"the caller lookup of call {self.call_id}")

    async def _screen_pop(self, agent: str) -> None:
        """What the agent sees while the phone rings: who calls, their history, open cases.
        Without the CRM (down or slow), the pop goes out without them: a nicety must never
        touch the call."""
        rec, store = self.record, self.engine.store
        contact, history, cases = None, [], []
        if rec.caller:
            contact, history, cases = await store.live_read(
                self._caller_history(rec.caller), (None, [], []), f"the screen-pop of call {self.call_id}")
        self.engine.events.publish(f"screenpop/{agent}", {
            "call_id": self.call_id, "caller": rec.caller, "contact": contact,
            "queue": rec.queue, "intent": rec.intent, "adverse_event": rec.adverse_event,
            "language": self.walker.language, "path": self.walker.path,
            "transcript": rec.speech_text,
            "last_calls": [{"started_at": c.started_at, "queue": c.queue, "intent": c.intent,
                            "disposition": c.disposition, "agent": c.agent} for c in history],
            "open_adverse_event_cases": cases,
        })

    async def _caller_history(self, caller: str) -> tuple[dict | None, list[CallRecord], list[dict]]:
        """(contact, last 5 calls, open adverse-event cases) of this caller, from the CRM."""
        store = self.engine.store
        contact = await store.find_contact(caller)
        history = await store.contact_history(caller, limit=None)
        their_calls = {c.call_id for c in history}
        cases = [c for c in await store.list_cases(status="open") if c["call_id"] in their_calls]
        return contact, history[:5], cases

    async def _answering_agent(self, offers: list[act.OfferCall]) -> str:
        peer = await self.agi.get_variable("DIALEDPEERNAME") or ""
        return self.engine.endpoint_to_agent.get(endpoint_of(peer), offers[0].agent)

    async def _announce(self, action: act.Announce) -> None:
        """Position and estimated wait, with Asterisk's stock queue prompts."""
        self._event("announce", position=action.position, ewt_seconds=round(action.ewt_seconds))
        await self.caller.stop_music()
        await self.caller.play(("queue-youarenext",) if action.position == 1 else ("queue-thereare",))
        if action.position > 1:
            await self.agi.command(f'SAY NUMBER {action.position - 1} ""')
            await self.caller.play(("queue-callswaiting",))
        minutes = round(action.ewt_seconds / 60)
        if minutes >= 1:
            await self.caller.play(("queue-holdtime",))
            await self.agi.command(f'SAY NUMBER {minutes} ""')
            await self.caller.play(("queue-minutes",))

    def _callback_key(self) -> str:
        return getattr(self.loaded.plan.policy, "callback_key", None) or "*"

    def _system_prompt(self, name: str) -> tuple[str, ...]:
        """The plan's own prompt when it has one (sounds/<lang>/<name>), else Asterisk's."""
        sounds = self.engine.settings.path(self.engine.settings.sounds.dir)
        if (sounds / self.walker.language / f"{name}.wav").exists():
            return (f"{self.walker.language}/{name}",)
        return {"callback-offer": ("queue-periodic-announce",),
                "callback-confirm": ("queue-thankyou", "vm-goodbye")}[name]

    async def _divert(self, action: act.Diverted) -> None:
        rec = self.record
        rec.decision_trace.append(f"diverted to {action.destination}: {action.reason}")
        if action.destination in self.engine.queue_names():
            # Another queue: join it (a new arrival there; the trace keeps the story).
            rec.hangup_cause = f"moved to queue {action.destination}: {action.reason}"
            await self._queue(ins.Route(action.destination, rec.intent or "", rec.priority or 0,
                                        None, None, "divert"))
            return
        dest = self.engine.destinations.get(action.destination)
        if dest is None:
            raise HandBack(f"destination {action.destination!r} is not defined in "
                           f"{self.engine.settings.queues_file}")
        rec.hangup_cause = f"diverted to {action.destination}: {action.reason}"
        if dest.transfer:
            outcome = await self.caller.dial(f"Local/{dest.transfer}@hotline-transfer", 60)
            rec.disposition = "overflowed" if outcome == "ANSWER" else "failed"
        elif dest.callback and rec.caller and rec.queue:
            # The promise the prompt makes: the request waits in the queue (even with nobody
            # staffed, e.g. after hours) and an agent rings back when its turn comes.
            rec.disposition = "callback"
            rec.hangup_cause = "callback requested; waiting for the caller's turn"
            self.engine.callbacks.join(rec, self.required)
            self._event("callback_request", number=rec.caller, queue=rec.queue,
                        required=self.required, diverted=True)
            await self.caller.play(self._system_prompt("callback-confirm"))
        elif dest.callback:       # no number to call back: a person now rather than a promise
            raise HandBack("a callback destination but the caller's number is unknown")
        else:
            rec.disposition = "overflowed"
            await self.caller.play(tuple(dest.message) + ("vm-goodbye",))

    # ---- the end -----------------------------------------------------------------------
    def _handed_back(self, why: str) -> None:
        self.record.route = "fallback"
        self.record.disposition = "failed"
        self.record.hangup_cause = f"{why} in {self.stage}: handed to Asterisk's operator fallback"

    def _caller_left(self) -> None:
        rec = self.record
        if rec.disposition is None:
            rec.disposition = "abandoned"
            rec.hangup_cause = f"caller hung up in {self.stage}"

    async def _finish(self, done: bool) -> None:
        rec = self.record
        rec.ended_at = utcnow()
        self.walker.close()
        rec.path = list(self.walker.path)
        self._walker_events()
        self._event("hangup", disposition=rec.disposition, cause=rec.hangup_cause)
        rec.language = self.walker.language
        rec.route = rec.route or self.walker.route_kind
        speech = getattr(self.walker, "speech", None)
        if speech:
            rec.speech_outcome = speech.get("outcome")
            rec.intent = rec.intent or speech.get("intent")
        if self.speech_unavailable:       # why speech nodes took keys only: says it all
            rec.speech_outcome = self.speech_unavailable
        if not self.caller.hung_up:
            try:
                await self.caller.finish(done)
            except Exception:     # the caller may be gone already; the record still matters
                pass
        self.engine.store.save_call(rec)
        self.engine.acd.release_trace(self.call_id)     # the record holds it now
        self.engine.events.publish(f"calls/{self.call_id}/ended", {
            "disposition": rec.disposition, "queue": rec.queue, "agent": rec.agent,
            "wait_seconds": rec.wait_seconds, "talk_seconds": rec.talk_seconds})
        log.info("call %s from %s ended: %s", self.call_id, mask_number(rec.caller), rec.disposition)
