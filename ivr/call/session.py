"""CallSession: one call in one FastAGI session, the adapter around the call core.

It walks the dialplan (ivr/dialplan/walker.py), carries out what the core (ivr/call/flow.py)
decides, and feeds back what happened on the line. A bug here must never drop the caller: any
failure hands the call back to Asterisk's fallback (IVR_DONE stays 0 → operator), and the core
writes exactly one CRM record whatever happens.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timezone

from ivr.call import commands as cmd
from ivr.call.caller import AgiCaller
from ivr.call.context import CallContext, Waiter
from ivr.call.decisions import describe
from ivr.call.flow import CallFlow, Walked
from ivr.call.listening import CallListener
from ivr.call.screenpop import offer_facts, screen_pop
from ivr.crm.records import CallEvent, CallRecord
from ivr.crm.surveys import add_answers
from ivr.dialplan import instructions as ins
from ivr.dialplan.walker import Walker
from ivr.outbound.surveys import opted_in, survey_answers
from ivr.privacy import mask_number
from ivr.speech.recognizer import Heard
from ivr.telephony.agi.server import AgiChannel, CallerHungUp
from ivr.telephony.channels import endpoint_of

log = logging.getLogger(__name__)
QUEUE_TICK_S = 1.0
SYSTEM_PROMPTS = {"callback-offer": ("queue-periodic-announce",),
                  "callback-confirm": ("queue-thankyou", "vm-goodbye")}


class HandBack(Exception):
    """The engine cannot serve this call as configured: Asterisk's fallback takes it."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class CallSession:
    def __init__(self, ctx: CallContext, agi: AgiChannel):
        self.ctx, self.agi = ctx, agi
        self.loaded = ctx.plans.current          # the call keeps this version to its end
        self.caller = AgiCaller(agi, ctx.sounds_prefix)
        env = agi.env
        record = CallRecord(call_id=env.get("uniqueid"), caller=env.get("callerid"),
                            dialed=(env.args[0] if env.args else env.get("extension")),
                            started_at=utcnow(), plan_version=self.loaded.version)
        policy = self.loaded.plan.policy
        self.flow = CallFlow(record, queues=ctx.queue_names, destinations=ctx.destinations,
                             callback_key=getattr(policy, "callback_key", None) or "*")
        self.walker = Walker(self.loaded.plan, {"caller": record.caller, "dialed": record.dialed},
                             now=ctx.dialplan_now)
        self.listener = CallListener(ctx.speech, agi, self.caller, record.call_id)
        self.waiter: Waiter | None = None
        self._path_logged = 0
        self._done = True          # False: Asterisk's fallback goes on with the caller
        self._survey: tuple[cmd.PostCallSurvey, int] | None = None   # and where its path starts
        self.site: str | None = None   # the site whose Asterisk took the call (sites: only)

    @property
    def call_id(self) -> str:
        return self.flow.call_id

    @property
    def record(self) -> CallRecord:
        return self.flow.record

    async def run(self) -> None:
        # One INFO line per call, at its end (it names the caller): with two, logging was ~3%
        # of the engine's Python time at load (py-spy).
        if log.isEnabledFor(logging.DEBUG):
            log.debug("call %s from %s", self.call_id, mask_number(self.record.caller))
        self._instant(self.flow.arrived())
        try:
            await self._walk()
        except CallerHungUp:
            self._instant(self.flow.caller_hung_up(time.monotonic()))
        except asyncio.CancelledError:
            # Engine stopping with the call live: Asterisk takes it to the operator, or, if an
            # agent already answered, lets the conversation run its course.
            self._done = False
            self._instant(self.flow.engine_stopping(time.monotonic()))
            raise
        except HandBack as exc:
            self._done = False
            log.error("call %s handed to Asterisk's operator fallback: %s", self.call_id, exc)
            self._instant(self.flow.hand_back(str(exc), time.monotonic()))
        except Exception as exc:
            log.exception("call %s failed in %s; handing it to Asterisk's fallback",
                          self.call_id, self.flow.stage)
            self._done = False
            self._instant(self.flow.hand_back(f"engine error: {exc}", time.monotonic()))
        finally:
            await self._finish()

    # ---- the dialplan ------------------------------------------------------------------
    async def _walk(self) -> None:
        if self.ctx.sites is not None:     # its Asterisk says which site it is (IVR_SITE)
            self.site = self.record.site = await self.agi.get_variable("IVR_SITE") or None
        resumed = self.ctx.resume(self.call_id)
        if resumed is not None:    # back after an engine failover: its place, no menus again
            route, waited_s, survey_opt_in = resumed
            if survey_opt_in:      # the post-call survey it asked for in the menus
                self._instant(self.flow.opted_in_survey())
            await self._queue(route, waited_s)
            await self._run(self.flow.after_conversation(self.caller.hung_up))
            return
        instr = self.walker.start()
        # The channel's language when the call came in (agi_language): set it only if the
        # plan's differs, one AGI round trip less where the endpoint already has it.
        language = self.agi.env.get("language") or None
        while not isinstance(instr, ins.TERMINAL):
            self._ivr_steps()
            if self.walker.language != language:      # Asterisk's own prompts follow suit
                language = self.walker.language
                await self.agi.set_variable("CHANNEL(language)", language)
            instr = self.walker.send(await self._ask(instr))
        self._ivr_steps()
        if isinstance(instr, ins.Route):
            await self._queue(instr)
            await self._run(self.flow.after_conversation(self.caller.hung_up))
        elif isinstance(instr, ins.Transfer):
            await self._run(self.flow.transfer(instr.destination))
        elif isinstance(instr, ins.Hangup):
            await self.caller.play(instr.prompts)
            self.flow.self_service()

    async def _ask(self, instr: ins.Instruction) -> object:
        """One non-terminal walker instruction on the line; its answer for the walker."""
        if isinstance(instr, ins.Play):
            await self.caller.play(instr.prompts)
            return None
        if isinstance(instr, ins.AskDigit):
            return await self.caller.ask_digit(instr.prompts, instr.timeout_seconds)
        if isinstance(instr, ins.AskDigits):
            return await self.caller.ask_digits(instr.prompts, instr.timeout_seconds,
                                                instr.min_length, instr.max_length, instr.terminator,
                                                instr.escape)
        if isinstance(instr, ins.Listen):
            self.flow.listening()
            heard = await self.listener.listen(instr)
            if not isinstance(heard, Heard):
                return heard
            self.flow.heard(heard.text, heard.confidence)
            return ins.SpeechInput(text=heard.text, confidence=heard.confidence,
                                   intent=heard.intent, candidates=tuple(heard.candidates))
        if isinstance(instr, ins.LookupCaller):
            return await self._lookup_caller(instr.number)
        raise TypeError(f"the dialplan walker gave an unknown instruction {instr!r}")

    def _ivr_steps(self) -> None:
        path = self.walker.path
        if (self.loaded.plan.post_call_survey and not self.flow.survey_opted_in
                and opted_in(self.loaded.plan.nodes, path[self._path_logged:])):
            self._instant(self.flow.opted_in_survey())
        self._instant(self.flow.ivr_steps(path, self._path_logged))
        self._path_logged = len(path)

    async def _lookup_caller(self, number: str | None) -> dict | None:
        """A CRM that cannot answer now makes the caller unknown (the node's default branch),
        never a dropped call: the store logs that once per outage."""
        if not number:
            return None
        store = self.ctx.store
        return await store.live_read(store.find_contact(number), None,
                                     f"the caller lookup of call {self.call_id}")

    # ---- the queue ---------------------------------------------------------------------
    async def _queue(self, route: ins.Route, waited_s: float = 0.0,
                     reason: Callable[[ins.Route, float], list[cmd.Command]] | None = None) -> None:
        """`reason`: the core's way in when it is not a plain arrival (the survey's safety key)."""
        flow = self.flow
        self.waiter = Waiter(self.call_id, self._agent_answered, lambda: flow.answered_by is not None)
        self.ctx.acd.join(self.waiter)
        try:
            now = time.monotonic()
            await self._run(reason(route, now) if reason else flow.enter_queue(route, now, waited_s))
            if flow.survey_opted_in:       # kept with its place: a failover keeps the survey
                self.ctx.note_survey_opt_in(self.call_id)
            while not flow.queue_over:
                if self.waiter.actions:
                    await self._run(flow.acd_actions(self.waiter.take(), time.monotonic()))
                    continue
                await self._run(flow.waiting())
                self.waiter.wake.clear()
                if self.waiter.actions:
                    continue
                key = await self.caller.wait_digit(QUEUE_TICK_S, wake=self.waiter.wake)
                await self._run(flow.key_while_waiting(key, time.monotonic()))
        finally:
            self.ctx.acd.leave(self.call_id)
            # The waiter calls back into this session (on_answer): a cycle that only the
            # collector's oldest, rarely run generation would free. Break it here.
            self.waiter = None

    def _agent_answered(self, agent: str, at: float | None) -> None:
        self._instant(self.flow.agent_answered(agent, at))

    # ---- carrying out the core's commands ----------------------------------------------
    async def _run(self, commands: list[cmd.Command]) -> None:
        """Carry out the core's commands in order; outcomes of calls to the line go back."""
        for command in commands:
            if isinstance(command, cmd.INSTANT):
                self._instant([command])
            elif isinstance(command, cmd.Ring):
                await self._ring(command)
            elif isinstance(command, cmd.Transfer):
                outcome = await self.caller.dial(f"Local/{command.destination}@hotline-transfer", 60)
                self.flow.transfer_ended(outcome)
            elif isinstance(command, cmd.Play):
                await self.caller.play(command.prompts)
            elif isinstance(command, cmd.PlaySystemPrompt):
                prompts = self._system_prompt(command.name)
                await self.caller.play(prompts, cut=self._urgent())
                self._instant([cmd.Timeline("told", {"prompt": command.name, "sounds": list(prompts)})])
            elif isinstance(command, cmd.SayQueuePosition):
                await self._say_position(command)
            elif isinstance(command, cmd.StartMusic):
                await self.caller.start_music()
            elif isinstance(command, cmd.StopMusic):
                await self.caller.stop_music()
            elif isinstance(command, cmd.RecordMessage):
                await self._record_message(command)
            elif isinstance(command, cmd.PostCallSurvey):
                await self._post_call_survey(command)
            elif isinstance(command, cmd.HandBack):
                raise HandBack(command.reason)
            else:
                raise TypeError(f"the call core gave an unknown command {command!r}")

    def _instant(self, commands: list[cmd.Command]) -> None:
        """Commands that never wait on the caller: CRM writes, events, ACD inputs."""
        ctx, call_id = self.ctx, self.call_id
        for command in commands:
            if isinstance(command, cmd.Timeline):
                ctx.store.add_event(CallEvent(call_id, utcnow(), command.kind, command.data))
                if log.isEnabledFor(logging.INFO) and (line := describe(command.kind, command.data)):
                    log.info("call %s: %s", call_id, line)
            elif isinstance(command, cmd.SaveRecord):
                ctx.store.save_call(self.record)
            elif isinstance(command, cmd.Publish):
                ctx.bus.publish(f"calls/{call_id}/{command.what}", command.payload)
            elif isinstance(command, cmd.ToAcd):
                ctx.acd.handle(command.event)
            elif isinstance(command, cmd.ReleaseOffer):
                ctx.acd.release_offer(call_id, command.agent)
            elif isinstance(command, cmd.AgentLog):
                ctx.store.add_agent_event(command.agent, utcnow(), command.kind, command.reason)
            elif isinstance(command, cmd.ScreenPop):
                # retained even with no display following (a dict kept, nothing encoded): a
                # desk that connects while the phone rings or the call is on still sees it
                name = self.agi.env.get("calleridname")
                ctx.bus.publish(f"offers/{command.agent}", offer_facts(
                    self.record, self.walker, command.agent, command.waited_seconds,
                    None if name in (None, "", "unknown") else name, utcnow()), retain=True)
                if ctx.bus.pops_with_history:
                    asyncio.create_task(screen_pop(ctx, self.record, self.walker, command.agent))
            elif isinstance(command, cmd.WrapUp):
                ctx.wrap_up(command.agent, command.queue)
            elif isinstance(command, cmd.RequestCallback):
                if command.queued_at is None:
                    ctx.callbacks.join(self.record, command.required)
                else:
                    ctx.callbacks.request(self.record, command.queued_at)
            elif isinstance(command, cmd.ReleaseTrace):
                ctx.acd.release_trace(call_id)

    async def _record_message(self, rec: cmd.RecordMessage) -> None:
        """AGI RECORD FILE after a beep; '#', 5 s of silence, the limit or a hang-up ends it.
        The message goes to the channel whatever ended it (a hang-up is the usual end)."""
        channel = self.ctx.voice_messages()
        if channel is None:
            raise HandBack("a voice-message destination, but no channels.voicemail in engine.yaml")
        started = time.monotonic()
        reply = await self.agi.command(f'RECORD FILE {channel.asterisk_path(self.call_id)} wav "#" '
                                       f"{rec.max_seconds * 1000} 0 BEEP s=5")
        seconds = round(time.monotonic() - started, 1)
        self._instant([cmd.Timeline("voice_message", {"seconds": seconds, "result": reply.result})])
        channel.recorded(self.record, self.walker.language, seconds)

    async def _ring(self, ring: cmd.Ring) -> None:
        sites = self.ctx.sites
        targets = "&".join(sites.dial_target(a, self.site) if sites else
                           f"PJSIP/{self.ctx.agent_endpoint[a]}" for a in ring.agents)
        status = await self.caller.dial(targets, ring.ring_timeout,
                                        answered=lambda: self.flow.answered_by is not None,
                                        caller_stays=ring.caller_stays)
        peer = None
        if status == "ANSWER" and self.flow.answered_by is None:   # AMI missed the DialEnd
            endpoint = endpoint_of(await self.agi.get_variable("DIALEDPEERNAME") or "")
            peer = self.ctx.endpoint_agent.get(endpoint)
            if peer is None and sites is not None:      # answered over a trunk
                peer = sites.answering_agent(endpoint, ring.agents)
        self._instant(self.flow.dial_ended(status, peer, time.monotonic(),
                                           caller_gone=self.caller.hung_up))
        if self.flow.caller_gone:
            raise CallerHungUp("caller hung up while an agent was ringing")

    async def _post_call_survey(self, survey: cmd.PostCallSurvey) -> None:
        """The plan's post_call_survey, on the line the agent left (`ivr check`: it ends in a
        hangup, never at a person); `_finish` stores the answers."""
        first = self.loaded.plan.post_call_survey
        if first is None:
            return
        self._survey = (survey, len(self.walker.path))
        instr = self.walker.walk_on(first)
        while not isinstance(instr, ins.TERMINAL):
            self._ivr_steps()
            instr = self.walker.send(await self._ask(instr))
        self._ivr_steps()
        if isinstance(instr, ins.Hangup):
            await self.caller.play(instr.prompts)
        elif isinstance(instr, ins.Route):     # the survey's safety key: pharmacovigilance
            await self._queue(instr, reason=self.flow.survey_safety)
            await self._run(self.flow.after_conversation(self.caller.hung_up))

    async def _store_survey(self) -> None:
        """The answers given (even by a caller who hung up midway), with the agent and queue."""
        if self._survey is None:
            return
        survey, start = self._survey
        answers = survey_answers(self.loaded.plan.nodes, self.walker.path[start:])
        try:
            await add_answers(self.ctx.store, self.call_id, answers, utcnow(),
                              agent=survey.agent, queue=survey.queue)
        except Exception:        # the call's record matters more; say which answers are lost
            log.exception("call %s: %d survey answers not stored in the CRM", self.call_id,
                          len(answers))

    def _urgent(self):
        """While the call waits in line, an offer or a divert cuts what it hears."""
        return self.waiter.urgent if self.waiter is not None and self.flow.in_queue else None

    async def _say_position(self, say: cmd.SayQueuePosition) -> None:
        """Position and estimated wait, with Asterisk's stock queue prompts; cut at once
        when an agent is free for the caller (an adverse-event report must not wait)."""
        cut = self._urgent()
        parts: list[tuple[str, ...] | int] = [
            ("queue-youarenext",) if say.position == 1 else ("queue-thereare",)]
        if say.position > 1:
            parts += [say.position - 1, ("queue-callswaiting",)]
        if say.minutes >= 1:
            parts += [("queue-holdtime",), say.minutes, ("queue-minutes",)]
        for part in parts:
            if cut is not None and cut.is_set():
                return
            if isinstance(part, int):
                await self.agi.command(f'SAY NUMBER {part} ""', wake=cut)
            else:
                await self.caller.play(part, cut=cut)

    def _system_prompt(self, name: str) -> tuple[str, ...]:
        """The site's own prompt in the caller's language when it has one
        (sounds/<lang>/<name>.wav: the plan's policy prompts, the destinations' prompts),
        else Asterisk's stock words."""
        language = self.walker.language
        if (self.ctx.sounds_dir / language / f"{name}.wav").exists():
            return (f"{language}/{name}",)
        if name not in SYSTEM_PROMPTS:
            log.error("call %s: no sound %s/%s.wav in %s: the caller hears only Asterisk's "
                      "'thank you'. Give the destination a prompt in %s and run `ivr sounds "
                      "build` (`ivr check` lists what is missing)", self.call_id, language, name,
                      self.ctx.sounds_dir, language)
        return SYSTEM_PROMPTS.get(name, ("queue-thankyou",))

    # ---- the end -----------------------------------------------------------------------
    async def _finish(self) -> None:
        self.walker.close()
        self._ivr_steps()
        flow, walker = self.flow, self.walker
        trace = self.ctx.acd.trace(self.call_id) if flow.queued_at is not None else []
        walked = Walked(list(walker.path), walker.language, walker.route_kind,
                        getattr(walker, "speech", None), self.listener.unavailable)
        commands = flow.finished(walked, utcnow(), trace)
        if not self.caller.hung_up:
            try:
                await self.caller.finish(self._done)
            except Exception:     # the caller may be gone already; the record still matters
                pass
        self._instant(commands)
        await self._store_survey()
        log.info("call %s from %s ended: %s", self.call_id, mask_number(self.record.caller),
                 self.record.disposition)
