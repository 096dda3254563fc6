"""Outbound campaigns on the running engine (issue 15): the adapter around the pure pacer
(ivr/outbound/pacer.py) and rules (ivr/outbound/rules.py).

    control socket ─► Campaigns ─► CampaignRunner ─► Pacer (core): how many calls now
                                        │ CampaignStore: reserve the attempt (rules), outcomes
                                        └ AMI Originate (channel id = attempt id) ─► Asterisk
    AMI events (OriginateResponse, Newstate, UserEvent OutboundAmd, Hangup) ─► the runner

Every call is reserved in the CRM before it is originated (a restart dials no one twice);
the window, DNC and limits are checked at the reservation on the engine's dialplan clock
(pinned in tests). The answered call runs Asterisk's [hotline-outbound] context (AMD, then
the campaign's dialplan); the control socket's handler is synchronous, so commands start
their work in the background and status answers from what the runner last read."""
from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from ivr.app.campaign_calls import AGENT_MODES, AcdPort, CampaignAgents, campaign_agents, serve_answered
from ivr.app.plans import LoadedPlan
from ivr.app.preview import Preview
from ivr.crm.outbound import CampaignStore
from ivr.dialplan.loader import load_plan
from ivr.dialplan.model import plan_version
from ivr.outbound import pacer as P
from ivr.outbound.campaign import Campaign, ContactSegment, opted_out, parse_campaign
from ivr.outbound.listing import parse_list

log = logging.getLogger(__name__)
CONTEXT = "hotline-outbound"
# OriginateResponse Reason (Asterisk's AST_CONTROL_*): what a call that never answered became
_REASONS = {"1": "no_answer", "3": "no_answer", "5": "busy", "8": "failed", "0": "failed"}
# The same from the unanswered channel's Hangup cause (Q.850): 17 busy, 18/19 no answer
_CAUSES = {"17": "busy", "18": "no_answer", "19": "no_answer", "16": "no_answer"}


@dataclass(frozen=True)
class _OnePlan:
    """A PlanHolder's face for a call that keeps one plan: the campaign's."""
    current: LoadedPlan


@functools.cache
def _outbound_session_class() -> type:
    """CallSession, watching the walk for the opt-out key (imported late: the call core is
    only needed once a person answers)."""
    from ivr.call.session import CallSession
    from ivr.crm.surveys import add_answers
    from ivr.outbound.surveys import survey_answers

    class OutboundSession(CallSession):
        opt_out_key = ""
        on_opt_out: Callable[[], None] = staticmethod(lambda: None)
        campaign = ""
        _opted = False

        async def _finish(self) -> None:
            await super()._finish()
            # a post-call survey's answers (kept with the agent by CallSession) not twice
            path = self.walker.path[:self._survey[1]] if self._survey else self.walker.path
            answers = survey_answers(self.walker.plan.nodes, path)
            if answers:          # CSAT / NPS questions of the campaign's dialplan
                await add_answers(self.ctx.store, self.call_id, answers, datetime.now(timezone.utc),
                                  campaign=self.campaign)

        def _ivr_steps(self) -> None:
            new = self.walker.path[self._path_logged:]
            super()._ivr_steps()
            if not self._opted and opted_out(new, self.opt_out_key):
                self._opted = True
                self.on_opt_out()

    return OutboundSession


@dataclass
class _Call:
    call_id: str                 # the pacer's
    attempt_id: str              # the CRM's, and the channel's Uniqueid
    number: str
    answered: bool = False
    outcome: str = ""            # set before the hangup when known (machine, message_left…)
    amd: tuple[str, str] = ("", "")
    opted_out: bool = False
    name: str = ""
    human: bool = False          # the pacer was told Answered (Ended, not NotAnswered, at the end)
    agent: str = ""
    detail: str = ""
    decision: asyncio.Future | None = None     # agent modes: the pacer's Connect or Abandon


@dataclass
class CampaignRunner:
    campaign: Campaign
    store: CampaignStore
    originator: Callable[[], Any]                 # the AmiLink, or None while it is down
    clock: Callable[[], datetime]                 # the engine's dialplan clock
    holidays: Callable[[], frozenset[date]]
    spawn: Callable[[Coroutine], None]
    file: Path
    state: str = "loaded"
    summary: dict[str, Any] = field(default_factory=dict)
    pacer: P.Pacer | None = None
    calls: dict[str, _Call] = field(default_factory=dict)      # by attempt id
    acd: AcdPort | None = None
    agents: CampaignAgents | None = None
    _plan: LoadedPlan | None = None
    _timer: asyncio.TimerHandle | None = None

    def _now(self) -> float:
        return self.clock().timestamp()

    async def start(self) -> None:
        """Recover what a stopped engine left, seed the abandon rate, then dial."""
        c = self.campaign
        now = self.clock()
        interrupted = await self.store.recover(c.name, now)
        if interrupted:
            log.warning("campaign %s: %d call(s) of the last run have no outcome; their numbers "
                        "wait for the next day", c.name, interrupted)
        history = [(t.timestamp(), a) for t, a in
                   await self.store.abandon_history(c.name, now, c.limits.abandon_window_days)]
        limits = c.limits
        self.pacer = P.Pacer(P.PacerSettings(
            mode=c.mode, channels=limits.channels, abandon_limit=limits.abandon_rate_max,
            slow_from=limits.abandon_slow_from, abandon_after=limits.abandon_after_seconds,
            window_days=limits.abandon_window_days, prior_answer_rate=c.expected_answer_rate),
            history=history)
        if c.mode != "agentless" and self.acd is not None:
            self.agents = CampaignAgents(self.acd, campaign_agents(self.acd, c.agents, c.queue),
                                         self.handle, c.queue)
        await self.set_state("running")
        if self.agents is not None:
            self.agents.sync()

    async def set_state(self, state: str) -> None:
        self.state = state
        await self.store.set_state(self.campaign.name, state, self.clock())
        if self.pacer is not None:
            self.handle(P.Paused(state != "running"))
        await self.refresh()

    async def refresh(self) -> None:
        self.summary = await self.store.summary(self.campaign.name, self.clock(),
                                                self.campaign.limits.abandon_window_days)

    def loaded_plan(self) -> LoadedPlan:
        """The campaign's dialplan, read once (`ivr campaign load` again to change it)."""
        if self._plan is None:
            plan = load_plan(self.dialplan_path())
            self._plan = LoadedPlan(plan, plan_version(plan), self.dialplan_path())
        return self._plan

    def dialplan_path(self) -> Path:
        p = Path(self.campaign.dialplan)
        return p if p.is_absolute() else self.file.parent / p

    def status(self) -> dict[str, Any]:
        live = self.pacer.snapshot(self._now()) if self.pacer else {}
        return {"campaign": self.campaign.name, "mode": self.campaign.mode, "state": self.state,
                **self.summary, **{f"live_{k}": v for k, v in live.items()}}

    # ---- the pacer's actions ------------------------------------------------------------
    def handle(self, event: P.Event) -> None:
        if self.pacer is None:
            return
        for action in self.pacer.handle(event, self._now()):
            if isinstance(action, P.Dial):
                self.spawn(self._dial(action.call_id))
            elif isinstance(action, P.Connect):
                self._decided(action.call_id, action.agent)
            elif isinstance(action, P.Abandon):
                self._decided(action.call_id, None)
            # RunIvr: Asterisk's context already runs the dialplan
        self._arm_deadline()

    def _arm_deadline(self) -> None:
        """Wake the pacer at its next abandon deadline: the campaigns' tick is too coarse for
        the 2 s rule."""
        deadline = self.pacer.next_deadline() if self.pacer else None
        if deadline is None or (self._timer is not None and self._timer.when() <= self._timer_at(deadline)):
            return
        if self._timer is not None:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_at(self._timer_at(deadline), self._deadline_due)

    def _timer_at(self, deadline: float) -> float:
        return asyncio.get_running_loop().time() + max(0.0, deadline - self._now()) + 0.01

    def _deadline_due(self) -> None:
        self._timer = None
        self.handle(P.Tick())

    def person_answered(self, call: _Call) -> asyncio.Future:
        """Agent modes: AMD said a person; the pacer connects an agent or abandons."""
        call.decision = asyncio.get_running_loop().create_future()
        call.human = True
        self.handle(P.Answered(call.call_id))
        return call.decision

    def _decided(self, call_id: str, agent: str | None) -> None:
        call = next((c for c in self.calls.values() if c.call_id == call_id), None)
        if agent is not None and (self.agents is None or not self.agents.take(agent)):
            log.warning("campaign %s: agent %s was taken meanwhile: call %s abandoned",
                        self.campaign.name, agent, call_id)
            self.handle(P.AgentGone(agent))
            agent = None
        if call is None or call.decision is None or call.decision.done():
            if agent is not None and self.agents is not None:   # the customer is gone
                self.agents.release(agent, asyncio.get_running_loop())
            return
        call.decision.set_result(agent)

    async def _dial(self, call_id: str) -> None:
        c = self.campaign
        attempt_id = str(uuid.uuid4())
        try:
            reserved = await self.store.reserve_next(c, attempt_id, self.clock(), holidays=self.holidays())
        except Exception:
            log.exception("campaign %s: could not reserve a contact", c.name)
            reserved = None
        if reserved is None:
            self.handle(P.NotAnswered(call_id, "not_dialled"))
            return
        call = self.calls[attempt_id] = _Call(call_id, attempt_id, reserved.number, name=reserved.name)
        try:
            ami = self.originator()
            if ami is None:
                raise ConnectionError("no AMI link to Asterisk")
            await ami.originate(
                c.channel.format_map({**reserved.fields, "number": reserved.number}),
                context=CONTEXT, exten="s",
                caller_id=c.caller_id, timeout_s=c.limits.ring_seconds, channel_id=attempt_id,
                queued_only=True,
                variables={"IVR_CAMPAIGN": c.name, "IVR_ATTEMPT": attempt_id,
                           "IVR_MACHINE": c.machine.action, "IVR_MACHINE_MESSAGE": c.machine.message})
        except Exception as exc:
            log.warning("campaign %s: originate to %s failed (%s)", c.name, reserved.number, exc)
            await self._finish(call, "failed", str(exc))

    async def _finish(self, call: _Call, outcome: str, detail: str = "") -> None:
        if self.calls.pop(call.attempt_id, None) is None:
            return
        await self.store.finish(call.attempt_id, outcome, self.clock(), agent=call.agent or None,
                                detail=detail)
        self.handle(P.Ended(call.call_id) if call.human else P.NotAnswered(call.call_id, outcome))

    async def _finish_later(self, call: _Call, outcome: str, detail: str, wait_s: float = 1.0) -> None:
        await asyncio.sleep(wait_s)
        await self._finish(call, outcome, detail)

    # ---- Asterisk's events ----------------------------------------------------------------
    def on_ami_event(self, event: dict[str, str]) -> None:
        name = event.get("Event")
        if name == "UserEvent" and event.get("UserEvent") == "OutboundAmd":
            call = self.calls.get(event.get("Attempt", ""))
            if call is not None:
                call.amd = (event.get("Status", ""), event.get("Cause", ""))
                self.spawn(self.store.answered(call.attempt_id, self.clock(), *call.amd))
                if call.amd[0] == "MACHINE":
                    call.outcome = "message_left" if self.campaign.machine.action == "leave_message" \
                        else "machine"
            return
        call = self.calls.get(event.get("Uniqueid", ""))
        if call is None:
            return
        if name == "OriginateResponse" and event.get("Response") != "Success":
            # The channel's Hangup, when there was a channel, says more (its cause): wait a
            # moment for it before taking the Reason code.
            self.spawn(self._finish_later(call, _REASONS.get(event.get("Reason", ""), "failed"),
                                          f"reason {event.get('Reason', '?')}"))
        elif name == "Newstate" and event.get("ChannelStateDesc") == "Up" and not call.answered:
            call.answered = True
            if self.campaign.mode == "agentless":     # agent modes: once AMD says a person
                call.human = True
                self.handle(P.Answered(call.call_id))
        elif name == "Hangup":
            outcome = call.outcome or ("answered" if call.answered else
                                       _CAUSES.get(event.get("Cause", ""), "failed"))
            detail = "opted out" if call.opted_out else call.detail or \
                f"cause {event.get('Cause', '?')} {event.get('Cause-txt', '')}".strip()
            self.spawn(self._finish(call, outcome, detail))


class Campaigns:
    """The campaigns the engine runs; `ivr campaign …` over the control socket."""

    def __init__(self, store: CampaignStore, originator: Callable[[], Any],
                 clock: Callable[[], datetime], holidays: Callable[[], frozenset[date]],
                 spawn: Callable[[Coroutine], None], tick_s: float = 0.5,
                 acd: AcdPort | None = None) -> None:
        self.store, self.originator, self.clock = store, originator, clock
        self.acd = acd
        self._sync_due = False
        endpoints = {a.name: a.endpoint or a.name for a in acd.config.agents} if acd is not None else {}
        self.preview = Preview(self, endpoints)
        self.holidays, self.spawn, self.tick_s = holidays, spawn, tick_s
        self.runners: dict[str, CampaignRunner] = {}

    def _runner(self, campaign: Campaign, file: Path, state: str) -> CampaignRunner:
        runner = CampaignRunner(campaign, self.store, self.originator, self.clock, self.holidays,
                                self.spawn, file, state, acd=self.acd)
        self.runners[campaign.name] = runner
        return runner

    async def restore(self) -> None:
        """At start: campaigns running when the engine stopped run again; the others wait."""
        for row in await self.store.campaigns():
            campaign, problems = parse_campaign(row.definition, f"<campaign {row.name}>")
            if campaign is None:
                log.error("campaign %s in the CRM no longer loads: %s", row.name, problems)
                continue
            runner = self._runner(campaign, Path(row.file), row.state)
            if row.state in ("running", "paused"):
                await runner.start()
                if row.state == "paused":
                    await runner.set_state("paused")
            else:
                await runner.refresh()

    async def run(self) -> None:
        """The pacer's clock: ticks (abandon deadlines, calls the window now allows) and the
        status figures every few seconds."""
        n = 0
        while True:
            await asyncio.sleep(self.tick_s)
            n += 1
            for runner in list(self.runners.values()):
                if runner.state == "running":
                    runner.handle(P.Tick())
                if n % 4 == 0:
                    await runner.refresh()

    def on_ami_event(self, event: dict[str, str]) -> None:
        for runner in self.runners.values():
            runner.on_ami_event(event)
        self.preview.on_ami_event(event)

    def on_agents_changed(self, agents: set[str]) -> None:
        """The ACD changed agents' states: the pacers hear of it right after (never from
        inside the ACD's own handling, which a Connect would re-enter)."""
        if not self._sync_due and any(r.agents for r in self.runners.values()):
            self._sync_due = True
            asyncio.get_running_loop().call_soon(self._sync_agents)

    def _sync_agents(self) -> None:
        self._sync_due = False
        for runner in self.runners.values():
            if runner.agents is not None and runner.state == "running":
                runner.agents.sync()

    async def answered_call(self, ctx: Any, chan: Any) -> None:
        """A person answered (AMD said so): the campaign's own dialplan takes the call, as an
        inbound call's (`agi://…/outbound,<campaign>,<attempt>` from [hotline-outbound])."""
        name = chan.env.args[0] if chan.env.args else ""
        runner = self.runners.get(name)
        if runner is None:
            log.error("outbound call for unknown campaign %r: hung up", name)
            return
        attempt = chan.env.args[1] if len(chan.env.args) > 1 else ""
        call = runner.calls.get(attempt)
        if runner.campaign.mode in AGENT_MODES:
            if call is None:
                log.error("campaign %s: answered attempt %s unknown (engine restarted?): hung up",
                          name, attempt)
                return
            await serve_answered(runner, call, chan, ctx,
                                 lambda topic, payload: ctx.bus.publish(topic, payload, retain=True))
            return

        def opt_out() -> None:
            if call is not None:
                call.opted_out = True
                number = call.number
            else:                        # the engine restarted mid-call: the CRM knows the number
                number = ""
            log.info("campaign %s: opt-out on attempt %s", name, attempt)
            self.spawn(self._opt_out(runner, attempt, number))

        session = _outbound_session_class()(dataclasses.replace(ctx, plans=_OnePlan(runner.loaded_plan())), chan)
        session.opt_out_key, session.on_opt_out = runner.campaign.opt_out_key, opt_out
        session.campaign = name
        await session.run()

    async def _opt_out(self, runner: CampaignRunner, attempt: str, number: str) -> None:
        if not number:
            number = next((a.number for a in await self.store.attempts(runner.campaign.name)
                           if a.attempt_id == attempt), "")
        if number:
            await self.store.add_dnc(number, "opt-out key", self.clock(), runner.campaign.name)

    def pause_all(self) -> None:
        """The engine stops: no new calls (the CRM keeps the state to resume after a restart)."""
        for runner in self.runners.values():
            runner.handle(P.Paused(True))

    # ---- the control socket -------------------------------------------------------------
    def command(self, request: dict[str, Any]) -> Any:
        action = request.get("action")
        if action == "preview_next":          # the desk (ivr/desk/preview_desk.py)
            return self.preview.next(request["agent"], request.get("name"))
        if action == "preview_dial":
            return self.preview.dial(request["agent"], request["attempt"])
        if action == "preview_skip":
            return self.preview.skip(request["agent"], request["attempt"], request.get("reason", ""))
        if action == "load":
            return self._load(Path(request["file"]))
        if action == "status":
            name = request.get("name")
            runners = [r for r in self.runners.values() if name in (None, r.campaign.name)]
            if name and not runners:
                return {"ok": False, "error": f"no campaign named {name!r} on the engine; load it "
                        "with `ivr campaign load FILE`"}
            return {"ok": True, "campaigns": [r.status() for r in runners]}
        runner = self.runners.get(request.get("name", ""))
        if runner is None:
            return {"ok": False, "error": f"no campaign named {request.get('name')!r} on the engine; "
                    f"loaded: {', '.join(sorted(self.runners)) or 'none'}"}
        if action == "start" and runner.state in ("loaded", "stopped"):
            runner.state = "starting"                 # a second start now is refused
            self.spawn(runner.start())
        elif action == "resume" and runner.state == "paused":
            self.spawn(runner.set_state("running"))
        elif action in ("pause", "stop") and runner.state in ("running", "paused"):
            self.spawn(runner.set_state("paused" if action == "pause" else "stopped"))
        elif action in ("start", "resume", "pause", "stop"):
            return {"ok": False, "error": f"campaign {runner.campaign.name} is {runner.state}: "
                    f"cannot {action} it"}
        else:
            return {"ok": False, "error": f"unknown campaign action {action!r}"}
        return {"ok": True, "campaign": runner.campaign.name, "action": action}

    def _load(self, path: Path) -> dict[str, Any]:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            return {"ok": False, "error": f"cannot read {path}: {exc}"}
        campaign, problems = parse_campaign(text, str(path))
        if campaign is None:
            return {"ok": False, "error": f"{path} has problems; nothing loaded",
                    "problems": [str(p) for p in problems]}
        contacts = []
        if campaign.list.csv is not None:
            csv = Path(campaign.list.csv)
            csv = csv if csv.is_absolute() else path.parent / csv
            try:
                contacts, rejects, problem = parse_list(csv.read_text(encoding="utf-8-sig"),
                                                        campaign.list.country_code)
            except (OSError, UnicodeDecodeError) as exc:
                return {"ok": False, "error": f"cannot read the list {csv}: {exc}"}
            if problem:
                return {"ok": False, "error": f"{csv}:{problem}"}
        else:
            rejects = []
        old = self.runners.get(campaign.name)
        if old is not None and old.state in ("running", "paused"):
            return {"ok": False, "error": f"campaign {campaign.name} is {old.state}: stop it before "
                    "loading it again"}
        runner = self._runner(campaign, path.resolve(), old.state if old else "loaded")
        segment = campaign.list.segment if isinstance(campaign.list.segment, ContactSegment) else None

        async def save() -> None:
            now = self.clock()
            await self.store.save_campaign(campaign, text, str(path.resolve()), now)
            found = await self.store.segment_contacts(segment) if segment is not None else contacts
            added = await self.store.add_contacts(campaign.name, found, now)
            if segment is not None:
                log.info("campaign %s: %d contact card(s) of the CRM match its segment, %d new in the "
                         "campaign", campaign.name, len(found), added)
            await runner.refresh()

        self.spawn(save())
        if segment is not None:
            return {"ok": True, "campaign": campaign.name, "contacts": 0, "rejected": 0,
                    "note": "the contacts come from the CRM's cards (the segment): `ivr campaign "
                            f"status {campaign.name}` counts them in a moment"}
        return {"ok": True, "campaign": campaign.name, "contacts": len(contacts),
                "rejected": len(rejects),
                "note": "rejected rows are not called: `ivr campaign list FILE` writes them" if rejects else ""}


def plan_holidays(plan: Any) -> frozenset[date]:
    """The holidays of the hotline's calendar: every `hours` node's of the inbound dialplan."""
    return frozenset(d for node in plan.nodes.values() for d in getattr(node, "holidays", None) or ())
