"""Pure router of non-voice tasks (e-mail, chat, SMS, voice messages, fax) by agent capacity.

The call side (acd.core.Acd) and this router share queues, skills and agents; acd.center
.ContactCenter joins them (an agent's calls and tasks exclude each other as the rule in
acd/channels.py says). The same rules as for calls, per channel:
* a task's place: virtual arrival = arrival − (priority + queue priority + SL boost) ×
  priority_step_seconds; smaller first, across every queue, requirement and channel an agent
  can take (fairness by priority and age across channels);
* the queue's escalation steps `widen` and `overflow` apply as for calls (arrival kept);
  `offer_callback` and `divert` are voice-only and skipped;
* near its channel's service-level target a waiting task gains priority (ChannelSettings).
Agents: the one with the most free units goes first (then the longest since its last offer),
so work spreads instead of piling onto one desk.

Structures, so a decision costs O(log n) and never a scan of tasks x agents: a bucket is
(queue, requirement); per bucket and channel a heap of waiting tasks and a heap of agents that
can take one more task of that channel; lazy deletion by version numbers (as in acd.core).
Invariant after every call: no offerable agent fits a waiting task it is eligible for.
"""
from __future__ import annotations

import heapq
from typing import Any

from . import actions as A
from . import events as E
from .channels import NON_VOICE
from .config import AcdConfig, AgentSpec
from .skills import Requirement, SkillExpressionError, combine, compile_requirement

WAITING, OFFERED, CONNECTED = range(3)
_T_ESC, _T_SL = range(2)


class _TAgent:
    __slots__ = ("idx", "name", "spec", "cost", "min_cost", "capacity", "used", "available", "declined",
                 "version", "last_offer", "tasks", "buckets", "ibuckets", "taken", "blocks",
                 "blocking")

    def __init__(self, idx: int, spec: AgentSpec) -> None:
        self.idx, self.name, self.spec = idx, spec.name, spec
        p = spec.channels
        self.cost = {ch: p.units(ch) for ch in p.accepts if ch in NON_VOICE}
        self.min_cost = min(self.cost.values(), default=0)
        self.capacity = p.capacity
        self.used = 0
        self.available = False  # voice side: logged in, not paused, not busy with a call
        self.declined = False   # a declined offer: no task offers until AgentReady
        self.version = 0
        self.last_offer = 0.0
        self.tasks: dict[str, str] = {}  # task id -> channel (offered or accepted)
        self.buckets: list[_TBucket] = []
        self.ibuckets: list[_TBucket] = []
        self.taken = 0
        # channels whose tasks hold calls back (acd/channels.py), and how many the agent holds:
        # ContactCenter asks after every load change, so a count instead of a scan
        self.blocks = frozenset(ch for ch in self.cost if ch not in p.voice_interrupts)
        self.blocking = 0

    @property
    def offerable(self) -> bool:
        return self.available and not self.declined and bool(self.cost)


class _TBucket:
    __slots__ = ("queue", "req", "agents", "ready", "waiting", "n_waiting", "indexed")

    def __init__(self, queue: str, req: Requirement) -> None:
        self.queue, self.req = queue, req
        self.agents: list[_TAgent] = []
        self.ready: dict[str, list[tuple]] = {}    # channel -> (-free, last_offer, idx, version)
        self.waiting: dict[str, list[tuple]] = {}  # channel -> (vscore, seq, task, version)
        self.n_waiting: dict[str, int] = {}
        self.indexed = False


class _Task:
    __slots__ = ("task_id", "channel", "queue", "origin", "priority", "boost", "required",
                 "arrival", "vscore", "seq", "bucket", "state", "version", "agent", "esc_index",
                 "esc_token", "sl_token", "sl_done", "trace")

    def __init__(self, task_id: str, channel: str, queue: str, priority: int,
                 required: str | None, arrival: float, seq: int) -> None:
        self.task_id, self.channel, self.queue, self.origin = task_id, channel, queue, queue
        self.priority, self.boost, self.required = priority, 0, required
        self.arrival, self.seq, self.vscore = arrival, seq, 0.0
        self.bucket: _TBucket | None = None
        self.state = WAITING
        self.version = -1
        self.agent: _TAgent | None = None
        self.esc_index = self.esc_token = self.sl_token = 0
        self.sl_done = False
        self.trace: list[tuple[float, str]] = []


class TaskRouter:
    def __init__(self, config: AcdConfig, *, trace: bool = True) -> None:
        self.config = config
        self._trace = trace  # False: no decision traces (benchmarks, simulations)
        self._step = config.priority_step_seconds
        self._queues = {q.name: q for q in config.queues}
        self._agents = {s.name: _TAgent(i, s) for i, s in enumerate(config.agents)}
        self._agent_list = list(self._agents.values())
        self._buckets: dict[tuple[str, str], _TBucket] = {}
        self._bucket_cache: dict[tuple[str, str, str | None], _TBucket] = {}
        self._tasks: dict[str, _Task] = {}
        self._timers: list[tuple[float, int, int, str, int]] = []
        self._seq = 0
        self.touched: set[str] = set()  # agents whose task load changed (ContactCenter drains it)
        self._handlers: dict[type, Any] = {
            E.TaskArrived: self._on_arrived, E.TaskAccepted: self._on_accepted,
            E.TaskDeclined: self._on_declined, E.TaskEnded: self._on_ended,
            E.TaskTransferred: self._on_transferred, E.Tick: lambda ev, now, out: None}

    # ------------------------------------------------------------------ public API
    def handle(self, event: E.TaskEvent | E.Tick, now: float) -> list[Any]:
        out: list[Any] = []
        self.run_due(now, out)
        self._handlers[type(event)](event, now, out)
        return out

    def run_due(self, now: float, out: list) -> None:
        t = self._timers
        while t and t[0][0] <= now:
            when, _, kind, task_id, token = heapq.heappop(t)
            task = self._tasks.get(task_id)
            if task is None or task.state != WAITING:
                continue  # offered: re-armed if it comes back
            if kind == _T_ESC and task.esc_token == token:
                self._escalate(task, when, out)
            elif kind == _T_SL and task.sl_token == token:
                self._near_breach(task, when, out)

    def next_deadline(self) -> float | None:
        t = self._timers
        while t:
            _, _, kind, task_id, token = t[0]
            task = self._tasks.get(task_id)
            if task is not None and task.state == WAITING and token == (
                    task.esc_token if kind == _T_ESC else task.sl_token):
                return t[0][0]
            heapq.heappop(t)
        return None

    def set_available(self, agent: str, available: bool, now: float, out: list) -> None:
        """Voice side: the agent may take tasks (logged in, not paused, no call). Called on
        every call event of the agent: an agent with no channel to take costs one lookup."""
        a = self._agents.get(agent)
        if a is None or a.available == available:
            return
        a.available = available
        if a.cost:
            self._changed(a, now, out, load=False)

    def resume(self, agent: str, now: float, out: list) -> None:
        """AgentReady: ends the pause a declined offer started."""
        a = self._agents.get(agent)
        if a is not None and a.declined:
            a.declined = False
            self._changed(a, now, out, load=False)

    def holds_calls_back(self, agent: str) -> bool:
        """Whether the agent holds (offered or accepted) a task that voice may not interrupt
        (its channel is not in the agent's `voice_interrupts`)."""
        a = self._agents.get(agent)
        return a is not None and a.blocking > 0

    def agent_tasks(self, agent: str) -> dict[str, str]:
        """task id -> channel, offered or accepted."""
        a = self._agents.get(agent)
        return dict(a.tasks) if a else {}

    def agent_load(self, agent: str) -> tuple[int, int]:
        a = self._agents[agent]
        return a.used, a.capacity

    def task_state(self, task_id: str) -> str | None:
        t = self._tasks.get(task_id)
        return None if t is None else ("waiting", "offered", "connected")[t.state]

    def task_priority(self, task_id: str) -> int | None:
        t = self._tasks.get(task_id)
        return None if t is None else t.priority + t.boost

    def trace(self, task_id: str) -> list[str]:
        t = self._tasks.get(task_id)
        return [f"t={w:.1f}s {m}" for w, m in (t.trace if t else [])]

    def snapshot(self, now: float) -> dict[str, Any]:
        """Backlog per queue and channel, load per agent. O(tasks): display only."""
        backlog: dict[tuple[str, str], dict[str, Any]] = {}
        for t in self._tasks.values():
            row = backlog.setdefault((t.queue, t.channel), {
                "queue": t.queue, "channel": t.channel, "waiting": 0, "offered": 0,
                "connected": 0, "oldest_age": 0.0})
            row[("waiting", "offered", "connected")[t.state]] += 1
            if t.state == WAITING:
                row["oldest_age"] = max(row["oldest_age"], now - t.arrival)
        agents = [{"agent": a.name, "used": a.used, "capacity": a.capacity,
                   "tasks": len(a.tasks), "available": a.available, "declined": a.declined}
                  for a in self._agent_list]
        return {"backlog": sorted(backlog.values(), key=lambda r: (r["queue"], r["channel"])),
                "agents": agents}

    # ------------------------------------------------------------------ buckets
    def _bucket(self, queue: str, requirement: str, extra: str | None) -> _TBucket:
        fast = self._bucket_cache.get((queue, requirement, extra))
        if fast is None:
            fast = self._bucket_cache[(queue, requirement, extra)] = self._make_bucket(
                queue, requirement, extra)
        return fast

    def _make_bucket(self, queue: str, requirement: str, extra: str | None) -> _TBucket:
        text = combine(requirement, extra)
        b = self._buckets.get((queue, text))
        if b is not None:
            return b
        req = compile_requirement(text)
        b = _TBucket(queue, req)
        for a in self._agent_list:
            if a.cost and req.match(a.spec.skills):
                b.agents.append(a)
                a.buckets.append(b)
        self._buckets[(queue, text)] = b
        return b

    def _index(self, b: _TBucket) -> None:
        b.indexed = True
        for a in b.agents:
            a.ibuckets.append(b)
            if a.offerable:
                self._push_ready(a, (b,))

    def _push_ready(self, a: _TAgent, buckets: Any = None) -> None:
        free = a.capacity - a.used
        if free < a.min_cost:
            return
        entry = (-free, a.last_offer, a.idx, a.version)
        for b in a.ibuckets if buckets is None else buckets:
            for ch, cost in a.cost.items():
                if cost <= free:
                    h = b.ready.get(ch)
                    if h is None:
                        h = b.ready[ch] = []
                    elif len(h) > 4 * len(b.agents) + 64:  # drop stale entries, amortised O(1)
                        h[:] = [e for e in h if self._agent_list[e[2]].version == e[3]]
                        heapq.heapify(h)
                    heapq.heappush(h, entry)

    # ------------------------------------------------------------------ agents
    def _changed(self, a: _TAgent, now: float, out: list, load: bool = True) -> None:
        """Load or availability changed: old ready entries go stale; take waiting work that
        fits, then stand ready for the rest. `touched` lists load changes (what holds calls)."""
        a.version += 1
        if load:
            self.touched.add(a.name)
        if not a.offerable:
            return
        self._dispatch_agent(a, now, out)
        self._push_ready(a)

    def _dispatch_agent(self, a: _TAgent, now: float, out: list) -> None:
        while True:
            free = a.capacity - a.used
            if free < a.min_cost:
                return
            best = None
            for b in a.ibuckets:
                for ch, n in b.n_waiting.items():
                    cost = a.cost.get(ch)
                    if not n or cost is None or cost > free:
                        continue
                    h = b.waiting[ch]
                    while h:
                        e = h[0]
                        if e[2].version == e[3]:     # seq is unique: tasks are never compared
                            if best is None or e < best:
                                best = e
                            break
                        heapq.heappop(h)
            if best is None:
                return
            self._offer(best[2], a, now, out, "agent freed: oldest priority-adjusted head "
                                                       "across its queues and channels")

    # ------------------------------------------------------------------ tasks
    def _wait(self, t: _Task, b: _TBucket) -> None:
        t.state, t.bucket, t.agent = WAITING, b, None
        if not b.indexed:
            self._index(b)
        self._seq += 1
        t.version = self._seq
        ch = t.channel
        b.n_waiting[ch] = b.n_waiting.get(ch, 0) + 1
        h = b.waiting.setdefault(ch, [])
        if len(h) > 2 * b.n_waiting[ch] + 64:
            h[:] = [e for e in h if e[2].version == e[3]]
            heapq.heapify(h)
        heapq.heappush(h, (t.vscore, t.seq, t, t.version))

    def _unwait(self, t: _Task) -> None:
        if t.version != -1:
            t.version = -1
            b = t.bucket
            if b is not None:
                b.n_waiting[t.channel] -= 1

    def _dispatch_task(self, t: _Task, now: float, out: list) -> bool:
        """Offer the task to the bucket's best ready agent, if any."""
        b = t.bucket
        assert b is not None
        if not b.indexed:
            self._index(b)
        h = b.ready.get(t.channel)
        agents = self._agent_list
        while h:
            e = heapq.heappop(h)
            a = agents[e[2]]
            if a.version == e[3]:  # unchanged since pushed: offerable, and the task fits
                self._offer(t, a, now, out, f"most free units ({-e[0]}) in queue {b.queue}"
                            if self._trace else "")
                a.version += 1
                self._push_ready(a)
                return True
        return False

    def _offer(self, t: _Task, a: _TAgent, now: float, out: list, why: str) -> None:
        self._unwait(t)
        t.state, t.agent = OFFERED, a
        a.used += a.cost[t.channel]
        a.tasks[t.task_id] = t.channel
        if t.channel in a.blocks:
            a.blocking += 1
        a.last_offer = now
        a.taken += 1
        self.touched.add(a.name)
        if self._trace:
            t.trace.append((now, f"offered to {a.name} after {now - t.arrival:.1f}s — {why}"))
        out.append(A.OfferTask(t.task_id, a.name, t.channel, t.queue))

    def _release(self, t: _Task, now: float, out: list) -> None:
        """The task leaves its agent (ended, declined, transferred)."""
        a = t.agent
        if a is None:
            return
        t.agent = None
        if a.tasks.pop(t.task_id, None) is not None:
            a.used -= a.cost.get(t.channel, 0)
            if t.channel in a.blocks:
                a.blocking -= 1
        self._changed(a, now, out)

    def _requeue(self, t: _Task, now: float, out: list) -> None:
        """Waiting again (arrived, declined, transferred): escalations already due first, then
        a ready agent, else the bucket's heap. A task offered at once never enters the heap, so
        it leaves no stale entry there for later decisions to pop."""
        t.state, t.agent = WAITING, None
        self._arm(t, now)
        self.run_due(now, out)
        if t.state == WAITING and t.version == -1 and not self._dispatch_task(t, now, out):
            self._wait(t, t.bucket)  # type: ignore[arg-type]

    def _arm(self, t: _Task, now: float) -> None:
        steps = self._queues[t.origin].escalation
        if t.esc_index < len(steps):
            t.esc_token = self._push_timer(max(now, t.arrival + steps[t.esc_index].after_seconds),
                                           _T_ESC, t.task_id)
        else:
            t.esc_token = 0  # a timer armed for another queue (before a transfer) goes stale
        if not t.sl_done:
            s = self.config.channels
            t.sl_token = self._push_timer(max(now, t.arrival + s.near_breach * s.target(t.channel)),
                                          _T_SL, t.task_id)

    def _push_timer(self, when: float, kind: int, task_id: str) -> int:
        self._seq += 1
        heapq.heappush(self._timers, (when, self._seq, kind, task_id, self._seq))
        return self._seq

    def _key(self, t: _Task) -> None:
        q = self._queues[t.queue]
        t.vscore = t.arrival - (t.priority + t.boost + q.priority) * self._step

    # ------------------------------------------------------------------ event handlers
    def _on_arrived(self, ev: E.TaskArrived, now: float, out: list) -> None:
        if ev.task_id in self._tasks:
            return
        q = self._queues.get(ev.queue)
        if q is None:
            out.append(A.TaskRejected(ev.task_id, f"unknown queue {ev.queue!r}"))
            return
        if ev.channel not in NON_VOICE:
            out.append(A.TaskRejected(ev.task_id, f"channel {ev.channel!r} is not one of "
                                                  f"{', '.join(NON_VOICE)} (calls go to the call side)"))
            return
        try:
            b = self._bucket(q.name, q.requirement, ev.required)
        except SkillExpressionError as err:
            out.append(A.TaskRejected(ev.task_id, f"bad required expression: {err}"))
            return
        self._seq += 1
        t = _Task(ev.task_id, ev.channel, q.name, ev.priority, ev.required,
                  now if ev.arrival is None else min(ev.arrival, now), self._seq)
        self._key(t)
        self._tasks[t.task_id] = t
        if self._trace:
            t.trace.append((now, f"{t.channel} arrived in queue {q.name} priority {t.priority}, "
                             f"requirement '{b.req.text}'"))
        t.bucket = b
        self._requeue(t, now, out)

    def _on_accepted(self, ev: E.TaskAccepted, now: float, out: list) -> None:
        t = self._tasks.get(ev.task_id)
        if t is None or t.state != OFFERED or t.agent is None or t.agent.name != ev.agent:
            return  # stale: already withdrawn
        t.state = CONNECTED
        self.touched.add(ev.agent)
        if self._trace:
            t.trace.append((now, f"accepted by {ev.agent} after {now - t.arrival:.1f}s"))

    def _on_declined(self, ev: E.TaskDeclined, now: float, out: list) -> None:
        t = self._tasks.get(ev.task_id)
        if t is None or t.state != OFFERED or t.agent is None or t.agent.name != ev.agent:
            return
        a = t.agent
        a.declined = True
        t.trace.append((now, f"declined by {ev.agent} ({ev.reason or 'no reason'}): keeps its "
                             "place; agent gets no task offers until ready again"))
        self._release(t, now, out)
        self._requeue(t, now, out)

    def _on_ended(self, ev: E.TaskEnded, now: float, out: list) -> None:
        t = self._tasks.pop(ev.task_id, None)
        if t is None:
            return
        if t.state == WAITING:
            self._unwait(t)
            return
        if t.state == OFFERED and t.agent is not None:
            out.append(A.CancelTaskOffer(t.task_id, t.agent.name))
        t.version = -1
        self._release(t, now, out)

    def _on_transferred(self, ev: E.TaskTransferred, now: float, out: list) -> None:
        t = self._tasks.get(ev.task_id)
        q = self._queues.get(ev.queue)
        if t is None:
            return
        if q is None:
            out.append(A.TaskRejected(ev.task_id, f"transfer to unknown queue {ev.queue!r}"))
            return
        if t.state == OFFERED and t.agent is not None:
            out.append(A.CancelTaskOffer(t.task_id, t.agent.name))
        self._unwait(t)
        self._release(t, now, out)
        t.queue = t.origin = q.name
        t.esc_index = 0
        t.bucket = self._bucket(q.name, q.requirement, t.required)
        self._key(t)
        t.trace.append((now, f"transferred to queue {q.name} (arrival kept)"))
        self._requeue(t, now, out)

    # ------------------------------------------------------------------ timers
    def _escalate(self, t: _Task, now: float, out: list) -> None:
        steps = self._queues[t.origin].escalation
        if t.esc_index >= len(steps):
            return
        step = steps[t.esc_index]
        t.esc_index += 1
        rule = step.rule
        label = f"step {t.esc_index} ({rule} after {step.after_seconds:g}s)"
        if rule == "widen" or rule == "overflow":
            self._unwait(t)
            if rule == "widen":
                detail = f"{label}: requirement -> '{step.widen}'"
                t.bucket = self._bucket(t.queue, step.widen or "", t.required)
            else:
                detail = f"{label}: {t.queue} -> {step.overflow} (arrival kept)"
                t.queue = step.overflow or t.queue
                q = self._queues[t.queue]
                t.bucket = self._bucket(q.name, q.requirement, t.required)
                self._key(t)
            out.append(A.Escalated(t.task_id, t.origin, rule, detail))
            t.trace.append((now, f"escalated {detail}"))
            self._wait(t, t.bucket)
            self._dispatch_task(t, now, out)
        else:
            t.trace.append((now, f"{label} skipped: voice only"))
        if t.state == WAITING:
            steps = self._queues[t.origin].escalation
            if t.esc_index < len(steps):
                t.esc_token = self._push_timer(max(now, t.arrival + steps[t.esc_index].after_seconds),
                                               _T_ESC, t.task_id)

    def _near_breach(self, t: _Task, now: float, out: list) -> None:
        s = self.config.channels
        t.sl_done = True
        if not s.breach_priority:
            return
        t.boost += s.breach_priority
        self._unwait(t)
        self._key(t)
        self._wait(t, t.bucket)  # type: ignore[arg-type]
        detail = (f"{t.channel} waited {now - t.arrival:.0f}s of its {s.target(t.channel):g}s "
                  f"service level: priority +{s.breach_priority}")
        out.append(A.Escalated(t.task_id, t.queue, "service_level", detail))
        t.trace.append((now, f"escalated {detail}"))
