"""Agent states across an engine restart: the CRM's agent events say who was ready, paused
(with which reason) or logged out, and since when; a restart puts them back so, instead of
making every agent ready.

`plan_restore` is pure (recorded events in, states to apply out); `AgentRestore` reads the
store and applies the plan through the engine's ACD handle. Start-up order (engine.py):
with the database up, the restore runs before the first call and gives agents without a
record today's default (ready unless --no-agents-ready). With the database down, the
default applies at once so callers are served, and the records are applied when it
answers, but only to agents nobody has touched since the start (no command, no call):
a person's own act since the start wins over an older record.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

from acd import events as ev
from acd.state import AgentState
from ivr.crm.records import AgentEvent

log = logging.getLogger(__name__)

# The reason the engine's own default login is recorded with: not a person's act.
DEFAULT_LOGIN_REASON = "engine start"
# CRM agent event → ACD state. A wrap-up whose end was never recorded (the engine stopped
# during it) ended while no engine ran: the agent was ready again.
_STATE_OF = {"login": AgentState.READY, "ready": AgentState.READY, "wrapup": AgentState.READY,
             "pause": AgentState.PAUSED, "logout": AgentState.LOGGED_OUT}


@dataclass(frozen=True)
class Restored:
    agent: str
    state: AgentState           # ready, paused or logged-out
    reason: str                 # the pause reason ("" otherwise)
    since: datetime | None      # when it was recorded; None: no record, today's default

    def describe(self) -> str:
        what = self.state.value + (f" ({self.reason})" if self.reason else "")
        return f"{self.agent} {what}" + (f" since {self.since:%Y-%m-%d %H:%M:%S} UTC"
                                          if self.since else " (no record: default)")


def crm_event_for(state: AgentState, reason: str = "") -> tuple[str, str | None]:
    """The CRM agent event (state, reason) that records an ACD state."""
    if state is AgentState.PAUSED:
        return "pause", reason or None
    if state is AgentState.LOGGED_OUT:
        return "logout", None
    if state is AgentState.WRAPUP:
        return "wrapup", None
    return "ready", None


def plan_restore(events: Iterable[AgentEvent], agents: Iterable[str], started_at: datetime,
                 default_ready: bool) -> tuple[list[Restored], set[str]]:
    """From the agent events of `store.agent_events(since=started_at)` (each agent's last
    event before the start, then those since): the state each configured agent gets, and
    the agents someone acted on since the start (their own command or a RONA): a restore
    that comes late (database down at start) leaves those alone."""
    last: dict[str, AgentEvent] = {}
    acted: set[str] = set()
    for event in events:                                   # oldest first
        if event.at < started_at:
            last[event.agent] = event
        elif not (event.state == "login" and event.reason == DEFAULT_LOGIN_REASON):
            acted.add(event.agent)
    default = AgentState.READY if default_ready else AgentState.LOGGED_OUT
    plan = []
    for agent in agents:
        event = last.get(agent)
        state = _STATE_OF.get(event.state) if event else None
        if state is None:             # no record (or one occupancy ignores): the default
            plan.append(Restored(agent, default, "", None))
        else:
            reason = (event.reason or "paused") if state is AgentState.PAUSED else ""
            plan.append(Restored(agent, state, reason, event.at))
    return plan, acted


class AgentRestore:
    """Applies the plan once. `handle` is the engine's ACD entry (events → actions
    dispatched); `command` its agent command (ACD + CRM record), used for the defaults;
    `record` writes a CRM agent event."""

    def __init__(self, agents: list[str], default_ready: bool, *, use_records: bool = True,
                 handle: Callable[[object], object], command: Callable[[str, str, str], dict],
                 record: Callable[[str, datetime, str, str | None], None],
                 busy_agents: Callable[[], set[str]]) -> None:
        self.agents, self.default_ready = agents, default_ready
        self._handle, self._command, self._record = handle, command, record
        self._busy_agents = busy_agents
        self.use_records = use_records     # False: `serve --reset-agents`, every agent default
        self.done = False
        self.defaults_applied = False

    def apply_defaults(self) -> None:
        """The database is not there yet: today's default for everyone, so calls are served."""
        if self.default_ready:
            for agent in self.agents:
                self._command("login", agent, DEFAULT_LOGIN_REASON)
        self.defaults_applied = True
        log.warning("agents: the CRM database is not reachable, so their states from before "
                    "the restart are not known yet: every agent starts %s; the recorded states "
                    "are applied when it answers (to agents who did nothing meanwhile)",
                    "ready" if self.default_ready else "logged out")

    async def restore(self, store, started_at: datetime) -> None:
        """Read the records (raises if the database fails: the caller retries) and apply."""
        events = await store.agent_events(since=started_at) if self.use_records else []
        plan, acted = plan_restore(events, self.agents, started_at, self.default_ready)
        late = self.defaults_applied
        skipped = (acted | self._busy_agents()) if late else set()
        applied = [r for r in plan if r.agent not in skipped]
        now_utc, now = datetime.now(timezone.utc), time.monotonic()
        for r in applied:
            if r.since is None:
                if not late and r.state is AgentState.READY:
                    self._command("login", r.agent, DEFAULT_LOGIN_REASON)
                continue
            since = now - max(0.0, (now_utc - r.since).total_seconds())
            self._handle(ev.AgentRestored(r.agent, r.state.value, r.reason, since))
            if late:      # the default login is on record since the start: record the truth
                self._record(r.agent, now_utc, *crm_event_for(r.state, r.reason))
        self.done = True
        recorded = [r for r in applied if r.since is not None]
        if recorded:
            log.info("agents restored from the CRM: %s", "; ".join(r.describe() for r in recorded))
        others = [r.agent for r in applied if r.since is None]
        if others:
            log.info("agents with no recorded state start %s: %s",
                     "as they are" if late else ("ready" if self.default_ready else "logged out"),
                     ", ".join(others))
        if skipped:
            log.info("agents who acted or took a call since the start keep their state: %s",
                     ", ".join(sorted(skipped)))
