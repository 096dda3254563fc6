"""The call core: one caller's call from arrival to its CRM record, sans-IO.

`CallFlow` takes what happened (the dialplan's route, the ACD's actions, a dial's status, an
agent's answer seen on AMI, a key pressed while waiting, the caller hanging up, the engine
stopping) with `now`, and returns the commands its adapter carries out (ivr/call/commands.py).
It owns the call's record: the disposition (set in `_end` only), wait and talk times, and the
ring-no-answer, divert and callback decisions. Nothing here touches a socket, a clock or the
event loop, so every path is a unit test (tests/unit/test_call_flow.py); ivr/call/session.py is
the FastAGI adapter that drives it.

Times: `now` is monotonic seconds (durations); `wall` is an aware UTC datetime (timestamps).
"""
from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from acd import actions as act
from acd import events as ev
from ivr.call import commands as cmd
from ivr.crm.records import CallRecord, Disposition
from ivr.dialplan.instructions import Route

ANSWER = "ANSWER"
CANCEL = "CANCEL"


class Stage(StrEnum):
    """Where the call is; named in the record's hang-up cause."""
    MENU = "menu"
    SPEECH = "speech"
    QUEUE = "queue"
    RINGING = "ringing"
    TRANSFER = "transfer"


class DestinationSpec(Protocol):
    """A divert destination (ivr/call/destinations.py), as the core reads it."""
    transfer: str | None
    callback: bool
    message: list[str]
    voicemail: bool
    max_seconds: int


@dataclass(frozen=True, slots=True)
class Walked:
    """What the dialplan walker knew when the call ended, for the record."""
    path: list[dict]
    language: str | None
    route_kind: str | None
    speech: dict | None = None
    speech_unavailable: str | None = None


def divert_prompt(destination: str) -> str:
    """The sound a caller diverted to `destination` hears first (sounds/<lang>/<id>.wav,
    from the destination's `prompt:`): what happens next."""
    return f"divert-{destination}"


def seconds(start: float, end: float) -> float:
    """A duration as the CRM keeps it: seconds, to the millisecond, never negative."""
    return round(max(0.0, end - start), 3)


class CallFlow:
    def __init__(self, record: CallRecord, *, queues: Collection[str],
                 destinations: Mapping[str, DestinationSpec], callback_key: str = "*"):
        self.record = record
        self.stage = Stage.MENU
        self._queues = queues
        self._destinations = destinations
        self.callback_key = callback_key
        self.required: str | None = None        # the route's extra skills; a callback keeps them
        self.queued_at: float | None = None     # monotonic: when it joined its (last) queue
        self.in_queue = False                   # the ACD holds the call
        self.music = False
        self.ringing: tuple[str, ...] = ()
        self.ring_started_at: float | None = None
        self.answered_by: str | None = None
        self.answered_at: float | None = None   # monotonic, from AMI: the real answer instant
        self.handed_back = False                # Asterisk's fallback takes the caller
        self._overflow_transfer = False         # a transfer out of the queue (a divert)
        self.caller_gone = False
        self.survey_opted_in = False            # the caller stays for the post-call survey

    @property
    def call_id(self) -> str:
        return self.record.call_id

    @property
    def queue_over(self) -> bool:
        """The call left the queue for good: answered and ended, diverted, or a callback."""
        return self.record.disposition is not None and not self.in_queue

    def _end(self, disposition: Disposition, cause: str | None = None) -> None:
        """The one place a disposition is set (the last word wins)."""
        self.record.disposition = disposition.value
        if cause is not None:
            self.record.hangup_cause = cause

    # ---- arrival and the menu ---------------------------------------------------------
    def arrived(self) -> list[cmd.Command]:
        """Written now, completed at the end: if the engine dies mid-call the CRM has it."""
        rec = self.record
        return [cmd.Timeline("arrived", {"caller": rec.caller, "dialed": rec.dialed,
                                         "plan_version": rec.plan_version}),
                cmd.SaveRecord(),
                cmd.Publish("started", {"caller": rec.caller, "dialed": rec.dialed,
                                        "plan_version": rec.plan_version})]

    def listening(self) -> None:
        self.stage = Stage.SPEECH

    def heard(self, text: str, confidence: float) -> None:
        """Transcript and confidence go to the CRM record, never to the logs."""
        self.record.speech_text, self.record.speech_confidence = text, round(confidence, 3)

    def self_service(self) -> None:
        self._end(Disposition.SELF_SERVICE)

    def transfer(self, destination: str) -> list[cmd.Command]:
        self.stage = Stage.TRANSFER
        return [cmd.Transfer(destination)]

    def transfer_ended(self, status: str) -> None:
        """The menu's transfer (answered: transferred) or a divert's (answered: overflowed)."""
        if status != ANSWER:
            self._end(Disposition.FAILED)
        else:
            self._end(Disposition.OVERFLOWED if self._overflow_transfer else Disposition.TRANSFERRED)

    def opted_in_survey(self) -> list[cmd.Command]:
        """The caller asked for the post-call survey in the menu: the agent's phone is then
        dialed so that the caller stays on the line when the agent hangs up."""
        if self.survey_opted_in:
            return []
        self.survey_opted_in = True
        return [cmd.Timeline("survey_opt_in", {})]

    # ---- the queue ---------------------------------------------------------------------
    def enter_queue(self, route: Route, now: float, waited_s: float = 0.0) -> list[cmd.Command]:
        """The call joins a queue. Its timeline step (with the menu's `ivr` steps before it)
        is what the CDR recovery completes a cut-off record from. waited_s: a caller resumed
        after an engine failover had waited this long already (its place is kept)."""
        rec = self.record
        self.stage, self.in_queue, self.queued_at = Stage.QUEUE, True, now
        rec.queue, rec.priority, rec.intent = route.queue, route.priority, route.intent
        rec.adverse_event = rec.adverse_event or route.adverse_event
        self.required = route.required
        # An adverse-event report is saved at once: the CRM opens its case now, so the agent
        # who answers can document it during the call (and a crash loses none of it).
        report = [cmd.SaveRecord()] if rec.adverse_event else []
        return report + [cmd.Timeline("queue_enter", {"queue": route.queue, "priority": route.priority,
                                                      "intent": route.intent,
                                                      **({"resumed_after_s": round(waited_s, 1)}
                                                         if waited_s else {})}),
                cmd.Publish("queued", {"queue": route.queue, "priority": route.priority,
                                       "intent": route.intent, "adverse_event": rec.adverse_event}),
                cmd.ToAcd(ev.CallArrived(self.call_id, route.queue, route.priority, rec.caller,
                                         route.required, route.agent, waited_s=waited_s))]

    def acd_actions(self, actions: Iterable[act.Action], now: float) -> list[cmd.Command]:
        """What the ACD decided for this call since we last looked, in order. An agent for
        the caller (or a divert) supersedes what the caller was about to be told."""
        notes: list[cmd.Command] = []
        say: list[cmd.Command] = []
        offers: list[act.OfferCall] = []
        for action in actions:
            if isinstance(action, act.OfferCall):
                offers.append(action)
            elif isinstance(action, act.CancelOffer):
                offers = [o for o in offers if o.agent != action.agent]
            elif isinstance(action, act.Diverted):
                return notes + self._stop_music() + self._divert(action, now)
            elif isinstance(action, act.Escalated):
                notes.append(cmd.Timeline("escalate", {"call_id": action.call_id, "queue": action.queue,
                                                       "rule": action.rule, "detail": action.detail}))
            elif isinstance(action, act.Overflowed):
                notes.append(cmd.Timeline("overflow", {"call_id": action.call_id,
                                                       "from_queue": action.from_queue,
                                                       "to_queue": action.to_queue}))
            elif isinstance(action, act.Announce):
                say += self._announcement(action)
            elif isinstance(action, act.OfferCallbackChoice):
                say.append(cmd.PlaySystemPrompt("callback-offer"))
        if offers:
            return notes + self._stop_music() + self._ring(offers, now)
        return notes + (self._stop_music(force=True) + say if say else [])

    @staticmethod
    def _announcement(action: act.Announce) -> list[cmd.Command]:
        # No estimate (nobody on duty: the ACD's EWT is infinite): the position only.
        ewt = action.ewt_seconds if math.isfinite(action.ewt_seconds) else None
        return [cmd.Timeline("announce", {"position": action.position,
                                          "ewt_seconds": None if ewt is None else round(ewt)}),
                cmd.SayQueuePosition(action.position, 0 if ewt is None else round(ewt / 60))]

    def waiting(self) -> list[cmd.Command]:
        """Nothing to do for now: the caller hears music until something happens."""
        if self.music:
            return []
        self.music = True
        return [cmd.StartMusic()]

    def key_while_waiting(self, key: str | None, now: float) -> list[cmd.Command]:
        """The callback key keeps the caller's place: the ACD calls back when its turn comes."""
        if key is None or key != self.callback_key or not self.record.caller:
            return []
        self.in_queue = False
        self._end(Disposition.CALLBACK, "callback requested; waiting for the caller's turn")
        return (self._stop_music()
                + [cmd.RequestCallback(self.required, self.queued_at),
                   cmd.Timeline("callback_request", {"number": self.record.caller,
                                                     "queue": self.record.queue,
                                                     "required": self.required}),
                   cmd.PlaySystemPrompt("callback-confirm")])

    def _since_queued(self, now: float) -> float:
        return self.queued_at if self.queued_at is not None else now

    def _stop_music(self, force: bool = False) -> list[cmd.Command]:
        if not (self.music or force):
            return []
        self.music = False
        return [cmd.StopMusic()]

    # ---- ringing agents ----------------------------------------------------------------
    def _ring(self, offers: list[act.OfferCall], now: float) -> list[cmd.Command]:
        self.stage = Stage.RINGING
        self.ringing = tuple(o.agent for o in offers)
        self.ring_started_at = now
        out: list[cmd.Command] = []
        for agent in self.ringing:
            out += [cmd.Timeline("offer", {"agent": agent, "queue": self.record.queue}),
                    cmd.Publish("offered", {"agent": agent}),
                    cmd.ScreenPop(agent, round(now - self._since_queued(now), 1))]
        return out + [cmd.Ring(self.ringing, max(o.ring_timeout for o in offers),
                               caller_stays=self.survey_opted_in)]

    def agent_answered(self, agent: str, now: float | None) -> list[cmd.Command]:
        """An offered agent picked up (AMI saw it; `now` None: seen late, e.g. after an AMI
        outage, so the answer instant is unknown and ringing counts as talk)."""
        if self.answered_by is not None:
            return []
        self.answered_by, self.answered_at = agent, now
        # In the timeline at once: if the engine dies mid-conversation, the CDR recovery
        # times the talk from this instant, not from the hotline's own answer.
        known = [cmd.Timeline("answered", {"agent": agent})] if now is not None else []
        return known + [cmd.Publish("answered", {"agent": agent}),
                        cmd.ToAcd(ev.OfferAnswered(self.call_id, agent))]

    def dial_ended(self, status: str, peer: str | None, now: float,
                   caller_gone: bool = False) -> list[cmd.Command]:
        """Dial returned: the conversation is over (ANSWER), or nobody answered. `peer` is
        the agent Asterisk says answered, when AMI did not tell us first."""
        offered, self.ringing = self.ringing, ()
        started = self.ring_started_at if self.ring_started_at is not None else now
        if status == ANSWER:
            out = [] if self.answered_by else self.agent_answered(peer or offered[0], None)
            return out + self._conversation_over(started, now)
        if caller_gone or status == CANCEL:
            return [cmd.ReleaseOffer(a) for a in offered] + self.caller_hung_up(now)
        out: list[cmd.Command] = []
        for agent in offered:      # no answer, busy or unreachable: RONA, the caller stays
            out += [cmd.ReleaseOffer(agent),
                    cmd.ToAcd(ev.OfferFailed(self.call_id, agent, status.lower())),
                    cmd.AgentLog(agent, "pause", "RONA"),
                    cmd.Timeline("ring_no_answer", {"agent": agent, "queue": self.record.queue,
                                                    "ring_ms": int((now - started) * 1000),
                                                    "status": status})]
        self.stage = Stage.QUEUE
        return out

    def _conversation_over(self, ring_started: float, now: float) -> list[cmd.Command]:
        rec, agent = self.record, self.answered_by or ""
        answered_at = self.answered_at if self.answered_at is not None else ring_started
        self.in_queue = False
        rec.agent = agent
        rec.wait_seconds = seconds(self._since_queued(answered_at), answered_at)
        rec.talk_seconds = seconds(answered_at, now)
        self._end(Disposition.ANSWERED)
        return [cmd.ToAcd(ev.CallEnded(self.call_id)), cmd.WrapUp(agent, rec.queue),
                cmd.Timeline("connect", {"agent": agent, "queue": rec.queue,
                                         "wait_seconds": rec.wait_seconds}),
                cmd.Timeline("complete", {"agent": agent, "talk_seconds": rec.talk_seconds})]

    def after_conversation(self, caller_gone: bool) -> list[cmd.Command]:
        """The agent hung up first on a caller who opted in: the survey. Anyone else (no
        opt-in, no conversation, the caller hung up) is done."""
        rec = self.record
        if (not self.survey_opted_in or caller_gone or self.caller_gone or not self.answered_by
                or rec.disposition != Disposition.ANSWERED.value):
            return []
        return [cmd.Timeline("survey_start", {"agent": self.answered_by, "queue": rec.queue}),
                cmd.PostCallSurvey(self.answered_by, rec.queue)]

    def survey_safety(self, route: Route, now: float) -> list[cmd.Command]:
        """The caller pressed the survey's safety key (a side effect to report): the survey
        ends and the call goes back in line at the safety route (pharmacovigilance, its
        priority), flagged adverse-event so the CRM opens the case at once. The record then
        follows the new conversation (the first agent stays in the timeline and on the
        survey's answers); no second survey after it."""
        first = self.answered_by
        self.survey_opted_in = False
        self.answered_by = self.answered_at = None
        self.ring_started_at = None
        self.record.decision_trace.append(f"survey safety key after {first}'s conversation")
        return [cmd.Timeline("survey_safety", {"agent": first, "queue": route.queue}),
                *self.enter_queue(route, now)]

    # ---- diverts -----------------------------------------------------------------------
    def _divert(self, action: act.Diverted, now: float) -> list[cmd.Command]:
        rec, where = self.record, action.destination
        rec.decision_trace.append(f"diverted to {where}: {action.reason}")
        noted = [cmd.Timeline("divert", {"destination": where, "reason": action.reason})]
        if where in self._queues:      # another queue: a new arrival there
            rec.hangup_cause = f"moved to queue {where}: {action.reason}"
            return noted + self.enter_queue(Route(where, rec.intent or "", rec.priority or 0, None, None,
                                          "divert", rec.adverse_event), now)
        self.in_queue = False          # the ACD let go of the call when it diverted it
        dest = self._destinations.get(where)
        if dest is None:
            return noted + [cmd.HandBack(f"destination {where!r} is not defined (queues' "
                                 "`destinations:`)")]
        rec.hangup_cause = f"diverted to {where}: {action.reason}"
        noted.append(cmd.PlaySystemPrompt(divert_prompt(where)))    # what happens next
        if dest.transfer:
            self.stage, self._overflow_transfer = Stage.TRANSFER, True
            return noted + [cmd.Transfer(dest.transfer)]
        if dest.callback and rec.caller and rec.queue:
            # The promise the prompt makes: the request waits in the queue (even with nobody
            # staffed, e.g. after hours) and an agent rings back when its turn comes.
            self._end(Disposition.CALLBACK, "callback requested; waiting for the caller's turn")
            return [cmd.RequestCallback(self.required, None),
                    cmd.Timeline("callback_request", {"number": rec.caller, "queue": rec.queue,
                                                      "required": self.required, "diverted": True}),
                    *noted]
        if dest.voicemail and rec.caller and rec.queue:
            # A message to call back from, then goodbye: the call ends here (no mailbox loop).
            self._end(Disposition.VOICEMAIL, "voice message left; an agent calls back")
            return noted + [cmd.RecordMessage(dest.max_seconds), cmd.Play(("vm-goodbye",))]
        if dest.voicemail:     # no number to call back: a person now rather than a promise
            return noted[:1] + [cmd.HandBack("a voice-message destination but the caller's "
                                             "number is unknown")]
        if dest.callback:      # no number to call back: a person now rather than a promise
            return noted[:1] + [cmd.HandBack("a callback destination but the caller's number is unknown")]
        self._end(Disposition.OVERFLOWED)
        return noted + [cmd.Play(tuple(dest.message) + ("vm-goodbye",))]

    # ---- endings -----------------------------------------------------------------------
    def caller_hung_up(self, now: float) -> list[cmd.Command]:
        self.caller_gone = True
        out = self._leave_queue(now)
        if self.record.disposition is None or out:
            self._end(Disposition.ABANDONED, f"caller hung up in {self.stage}")
        return out

    def _leave_queue(self, now: float) -> list[cmd.Command]:
        """Whatever ends the wait (hang-up, engine stop, our bug), the ACD forgets the call."""
        if not self.in_queue:
            return []
        self.in_queue = False
        self.record.wait_seconds = seconds(self._since_queued(now), now)
        return [cmd.ToAcd(ev.CallAbandoned(self.call_id))]

    def engine_stopping(self, now: float) -> list[cmd.Command]:
        """The engine stops with the call live: an answered conversation runs its course in
        Asterisk; anyone else goes to Asterisk's operator fallback."""
        if self.answered_by:
            self.in_queue = False
            self.record.agent = self.answered_by
            self._end(Disposition.ANSWERED, "engine stopped during the conversation")
            return []
        return self._leave_queue(now) + self.hand_back("engine stopped", now)

    def hand_back(self, why: str, now: float) -> list[cmd.Command]:
        """We cannot go on (misconfiguration, our bug): Asterisk's fallback takes the caller."""
        out = self._leave_queue(now)
        self.handed_back = True
        self.record.route = "fallback"
        self._end(Disposition.FAILED, f"{why} in {self.stage}: handed to Asterisk's operator fallback")
        return out

    def ivr_steps(self, path: list[dict], logged: int) -> list[cmd.Command]:
        """IVR steps (nodes visited, keys, timeouts, speech) not yet in the timeline."""
        return [cmd.Timeline("ivr", dict(step)) for step in path[logged:]]

    def finished(self, walked: Walked, wall: datetime, trace: list[str]) -> list[cmd.Command]:
        """The call is over: complete the record and say so."""
        rec = self.record
        rec.ended_at = wall
        rec.path = list(walked.path)
        rec.language = walked.language
        rec.route = rec.route or walked.route_kind
        if trace:
            rec.decision_trace = [*trace, *(t for t in rec.decision_trace if t not in trace)]
        if walked.speech:
            rec.speech_outcome = walked.speech.get("outcome")
            rec.intent = rec.intent or walked.speech.get("intent")
        if walked.speech_unavailable:       # why speech nodes took keys only: says it all
            rec.speech_outcome = walked.speech_unavailable
        return [cmd.Timeline("hangup", {"disposition": rec.disposition, "cause": rec.hangup_cause}),
                cmd.SaveRecord(), cmd.ReleaseTrace(),
                cmd.Publish("ended", {"disposition": rec.disposition, "queue": rec.queue,
                                      "agent": rec.agent, "wait_seconds": rec.wait_seconds,
                                      "talk_seconds": rec.talk_seconds})]


def callback_made(record: CallRecord, *, agent: str, queued_at: float, answered_at: float,
                  customer_answered_at: float | None, now: float, customer_status: str | None,
                  trace: list[str], wall: datetime) -> None:
    """A callback conversation is over: the record written when the caller left gets the
    agent, the wait until the agent picked up and the talk with the customer (none when the
    customer never answered: the agent only heard it ring), so reports count it against
    service level."""
    record.agent = agent
    record.wait_seconds = seconds(queued_at, answered_at)
    record.talk_seconds = (seconds(customer_answered_at, now)
                           if customer_status == ANSWER and customer_answered_at is not None else 0.0)
    record.disposition = Disposition.CALLBACK.value
    record.decision_trace = list(trace)
    record.hangup_cause = (f"called back by {agent}; caller "
                           f"{'answered' if customer_status == ANSWER else 'did not answer'}")
    record.ended_at = wall


def unseen_hangup(call_id: str, caller: str, dialed: str, started: datetime,
                  wall: datetime) -> tuple[CallRecord, list[cmd.Timeline]]:
    """A caller who hung up before the engine took the call (Asterisk's hangup handler told
    us): abandoned with no menu, so the CRM still has every call."""
    record = CallRecord(call_id=call_id, caller=caller, dialed=dialed, started_at=started,
                        ended_at=wall, disposition=Disposition.ABANDONED.value, wait_seconds=0.0,
                        hangup_cause="the caller hung up before the engine took the call")
    return record, [cmd.Timeline("arrived", {"caller": caller, "dialed": dialed}),
                    cmd.Timeline("hangup", {"before_engine": True})]
