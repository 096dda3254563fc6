"""What a call may use of the engine, and nothing more: narrow, typed ports.

The app root (ivr/app/engine.py) builds one `CallContext` and hands it to every call; no call
holds the engine. `Waiter` is the mailbox between the ACD driver and a call waiting in line.
"""
from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from acd import actions as act
from ivr.call.destinations import Destination
from ivr.crm.records import CallEvent, CallRecord

T = TypeVar("T")


class Waiter:
    """A call in the ACD: the driver drops its actions here and wakes the caller's wait;
    an agent's answer seen on AMI goes to `on_answer` (the call's core decides)."""

    def __init__(self, call_id: str, on_answer: Callable[[str, float | None], None],
                 answered: Callable[[], bool]):
        self.call_id = call_id
        self.actions: deque[act.Action] = deque()
        self.wake = asyncio.Event()          # anything for the call: its wait ends
        self.urgent = asyncio.Event()        # an agent or a divert: announcements stop
        self.offered_agents: set[str] = set()
        self.on_answer = on_answer
        self._answered = answered

    @property
    def is_answered(self) -> bool:
        return self._answered()

    def push(self, action: act.Action) -> None:
        self.actions.append(action)
        self.wake.set()
        if isinstance(action, (act.OfferCall, act.Diverted)):
            self.urgent.set()

    def take(self) -> list[act.Action]:
        """The actions so far; what arrives from now on wakes the call again."""
        actions = list(self.actions)
        self.actions.clear()
        self.wake.clear()
        self.urgent.clear()
        return actions


class AcdPort(Protocol):
    def handle(self, event: object) -> list[object]: ...
    def join(self, waiter: Waiter) -> None: ...
    def leave(self, call_id: str) -> None: ...
    def release_offer(self, call_id: str, agent: str) -> None: ...
    def trace(self, call_id: str) -> list[str]: ...
    def release_trace(self, call_id: str) -> None: ...


class CallbackPort(Protocol):
    def request(self, record: CallRecord, queued_at: float) -> None: ...
    def join(self, record: CallRecord, required: str | None) -> None: ...


class StorePort(Protocol):
    def save_call(self, record: CallRecord) -> None: ...
    def add_event(self, event: CallEvent) -> None: ...
    def add_agent_event(self, agent: str, at: datetime, state: str,
                        reason: str | None = None) -> None: ...
    async def live_read(self, read: Awaitable[T], default: T, what: str) -> T: ...
    async def find_contact(self, number: str) -> dict[str, Any] | None: ...
    async def contact_history(self, number: str, limit: int | None = 100) -> list[CallRecord]: ...
    async def list_cases(self, status: str | None = None, *, kind: str | None = None) -> list[dict[str, Any]]: ...


class BusPort(Protocol):
    @property
    def enabled(self) -> bool: ...            # anyone listens: build events, else skip
    @property
    def pops_with_history(self) -> bool: ...  # MQTT's pop carries the CRM history
    def publish(self, topic: str, payload: dict, retain: bool = False) -> None: ...


class PlansPort(Protocol):
    @property
    def current(self) -> Any: ...      # ivr.app.plans.LoadedPlan: .plan, .version


class SpeechPort(Protocol):
    """The loaded model (None: keys only), the AudioSocket server and the breaker."""
    model: Any
    audiosocket: Any
    breaker: Any
    host: str
    port: int


@dataclass
class CallContext:
    plans: PlansPort
    store: StorePort
    bus: BusPort
    acd: AcdPort
    callbacks: CallbackPort
    speech: SpeechPort
    agent_endpoint: Mapping[str, str]          # agent → PJSIP endpoint
    endpoint_agent: Mapping[str, str]          # PJSIP endpoint → agent
    queue_names: frozenset[str]
    destinations: Mapping[str, Destination]
    sounds_dir: Path                           # the plan's prompts, sounds/<lang>/<id>.wav
    sounds_prefix: str                         # where Asterisk finds them
    wrap_up: Callable[[str, str | None], None]
    dialplan_now: Callable[[], datetime]
    # A call coming back after an engine failover (issue 16): (its route, seconds waited,
    # opted in to the post-call survey) to rejoin its queue at its place without the menus;
    # None: a new call.
    resume: Callable[[str], tuple[Any, float, bool] | None] = lambda call_id: None
    # A waiting caller opted in to the post-call survey: kept with its place (cluster).
    note_survey_opt_in: Callable[[str], None] = lambda call_id: None
    # The voice-message channel (ivr/channels/voicemail.py) once started, else None.
    voice_messages: Callable[[], Any] = lambda: None
    # Several sites (issue 16): ivr/sites/dialing.py SiteMap (dial_target, answering_agent);
    # None: one Asterisk, agents rung as PJSIP/<endpoint>.
    sites: Any = None
