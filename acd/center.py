"""One ACD for every channel: the call core (acd.core.Acd) and the task router
(acd.tasks.TaskRouter) over the same agents, queues and skills.

`ContactCenter.handle(event, now)` takes call events, agent events and task events alike and
returns the actions of both sides. After each event it applies the rule of acd/channels.py:
an agent with a call (ringing, talking, wrap-up, phone busy) gets no task offers; an agent
holding tasks that voice may not interrupt (or without "voice" in its profile) gets no call
offers. When an agent frees up completely, a waiting caller goes first: callers are on the
line; tasks then fill the units left.
"""
from __future__ import annotations

from typing import Any

from . import events as E
from .config import AcdConfig
from .core import Acd
from .tasks import TaskRouter

_TASK_EVENTS = (E.TaskArrived, E.TaskAccepted, E.TaskDeclined, E.TaskEnded, E.TaskTransferred)


class ContactCenter:
    def __init__(self, config: AcdConfig, *, trace: bool = True) -> None:
        self.config = config
        self.voice = Acd(config, trace=trace)
        self.voice.track_agents()
        self.tasks = TaskRouter(config, trace=trace)
        self._profiles = {a.name: a.channels for a in config.agents}
        self._held: dict[str, bool] = {}
        self._changed: set[str] = set()
        for a in config.agents:
            if not a.channels.voice:
                self._held[a.name] = True
                self.voice.hold(a.name, True, 0.0)

    def handle(self, event: Any, now: float) -> list[Any]:
        out: list[Any] = []
        if isinstance(event, _TASK_EVENTS):
            out.extend(self.tasks.handle(event, now))
        else:
            out.extend(self.voice.handle(event, now))
            if isinstance(event, E.AgentReady):
                self.tasks.resume(event.agent, now, out)
            self.tasks.run_due(now, out)
        self._sync(now, out)
        return out

    def next_deadline(self) -> float | None:
        times = [t for t in (self.voice.next_deadline(), self.tasks.next_deadline()) if t is not None]
        return min(times) if times else None

    def changed_agents(self) -> set[str]:
        changed, self._changed = self._changed, set()
        return changed

    def held_for_tasks(self, agent: str) -> bool:
        return self._held.get(agent, False)

    def _sync(self, now: float, out: list) -> None:
        """Until both sides agree: call state -> task availability, task load -> call hold.
        Most call events change one agent and no task load: one pass, no hold work."""
        voice, tasks, changed = self.voice, self.tasks, self._changed
        while True:
            v = voice.changed_agents()
            if v:
                free = voice.free_for_tasks
                for name in v:
                    tasks.set_available(name, free(name), now, out)
                changed |= v
            if not tasks.touched:
                return
            t, tasks.touched = tasks.touched, set()
            changed |= t
            for name in t:
                held = self._holds_calls(name)
                if self._held.get(name, False) != held:
                    self._held[name] = held
                    out.extend(voice.hold(name, held, now))

    def _holds_calls(self, agent: str) -> bool:
        return not self._profiles[agent].voice or self.tasks.holds_calls_back(agent)
