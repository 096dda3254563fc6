"""Pure ACD core: ``Acd.handle(event, now) -> list[Action]``; no I/O, no asyncio, time passed in.

Data structures (so a decision costs O(log n) in the waiting callers and in the agents of the
few queues concerned, never a scan of queues x agents):
* a *bucket* is (queue, requirement, extra requirement); it holds the set of agents whose skills
  match (found through a skill -> agents index), a heap of ready agents keyed by the queue
  strategy and a heap of waiting calls keyed by (virtual arrival, seq);
* every agent lists the buckets it is eligible for: an agent freeing up peeks one head per bucket;
  when nobody waits it is only noted in each bucket's `pending` list, and moved into the ready heap
  when a call next needs that bucket (most such entries are stale by then: dropped unpushed);
* heaps use lazy deletion via version numbers; one timer heap drives wrap-up, escalation and
  announcements, and ``next_deadline()`` is its valid top.
Invariant after every ``handle``: no available agent is eligible for a waiting call.
"""
from __future__ import annotations

import heapq
from bisect import bisect_left, insort
from collections import OrderedDict
from typing import Any, Callable

from . import actions as A
from . import events as E
from .config import AcdConfig
from .skills import SkillExpressionError, combine, compile_requirement
from .state import (_IDLE, _LEAST, _MOST, _RR, _T_ANN, _T_ESC, _T_WRAP, _UNSTAFFED, CONNECTED,
                    DONE, OFFERED, WAITING, AgentState, _Agent, _Bucket, _Call, _Queue)

__all__ = ["Acd", "AgentState", "WAITING", "OFFERED", "CONNECTED", "DONE"]

# Agent states as module constants: on Python 3.11 each `AgentState.X` lookup costs ~0.1 µs (an
# enum descriptor call), several per decision on the hot paths.
_LOGGED_OUT, _READY, _OFFERED = AgentState.LOGGED_OUT, AgentState.READY, AgentState.OFFERED
_ON_CALL, _WRAPUP, _PAUSED = AgentState.ON_CALL, AgentState.WRAPUP, AgentState.PAUSED


class Acd:
    def __init__(self, config: AcdConfig, *, trace: bool = True, trace_limit: int = 10_000) -> None:
        self.config = config
        self._step = config.priority_step_seconds
        self._agents: dict[str, _Agent] = {}
        self._agent_list: list[_Agent] = []
        self._by_skill: dict[str, list[_Agent]] = {}
        for i, spec in enumerate(config.agents):
            a = _Agent(i, spec)
            self._agents[spec.name] = a
            self._agent_list.append(a)
            for s in spec.skills:
                self._by_skill.setdefault(s, []).append(a)
        self._queues = {q.name: _Queue(q) for q in config.queues}
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._bucket_cache: dict[tuple[str, str, str | None], _Bucket] = {}
        for q in self._queues.values():  # build config buckets up front (cheap later)
            q.base = self._bucket(q, q.spec.requirement, None)
            for s in q.steps:
                if s.widen is not None:
                    self._bucket(q, s.widen, None)
        self._calls: dict[str, _Call] = {}
        self._timers: list[tuple[float, int, int, Any, int]] = []  # mutated, never rebound: the
        # simulator peeks at its top to skip next_deadline() when no timer can come first
        self._seq = 0
        self._now = 0.0  # clock of the last handle(): default for state_snapshot()
        self._tracing = trace
        self._trace_limit = trace_limit
        self._traces: OrderedDict[str, list[tuple[float, str]]] = OrderedDict()
        self._changed: set[str] | None = None   # agents whose state changed (track_agents)
        self._handlers: dict[type, Callable[[Any, float, list], None]] = {
            E.CallArrived: self._on_arrived, E.AgentLoggedIn: self._on_login,
            E.AgentLoggedOut: self._on_logout, E.AgentPaused: self._on_paused,
            E.AgentReady: self._on_ready, E.AgentRestored: self._on_restored,
            E.DeviceBusy: self._on_device,
            E.OfferAnswered: self._on_answered, E.OfferFailed: self._on_failed,
            E.CallEnded: self._on_ended, E.CallAbandoned: self._on_abandoned,
            E.CallbackRequested: self._on_callback, E.WrapUpExtended: self._on_more_wrapup,
            E.Tick: lambda ev, now, out: None,
        }

    # ------------------------------------------------------------------ public API
    def handle(self, event: E.Event, now: float) -> list[A.Action]:
        out: list[A.Action] = []
        self._now = now
        timers = self._timers
        if timers and timers[0][0] <= now:
            self._run_timers(now, out)
        self._handlers[type(event)](event, now, out)
        return out

    # handle() for the simulator's three hot events, without building the event object (a frozen
    # dataclass costs about as much as the decision): same due-timer step, same handlers.
    def call_arrived(self, call_id: str, queue: str, now: float, priority: int = 0,
                     required: str | None = None) -> list[A.Action]:
        """= handle(CallArrived(call_id, queue, priority, "", required), now)"""
        out: list[A.Action] = []
        self._now = now
        timers = self._timers
        if timers and timers[0][0] <= now:
            self._run_timers(now, out)
        self._arrive(call_id, queue, priority, "", required, None, now, out)
        return out

    def offer_answered(self, call_id: str, agent: str, now: float) -> list[A.Action]:
        """= handle(OfferAnswered(call_id, agent), now)"""
        out: list[A.Action] = []
        self._now = now
        timers = self._timers
        if timers and timers[0][0] <= now:
            self._run_timers(now, out)
        self._answer(call_id, agent, now, out)
        return out

    def call_ended(self, call_id: str, now: float) -> list[A.Action]:
        """= handle(CallEnded(call_id), now)"""
        out: list[A.Action] = []
        self._now = now
        timers = self._timers
        if timers and timers[0][0] <= now:
            self._run_timers(now, out)
        self._end(call_id, now, out)
        return out

    def next_deadline(self) -> float | None:
        t = self._timers
        while t and self._timer_target(t[0]) is None:
            heapq.heappop(t)
        return t[0][0] if t else None

    def position(self, call_id: str) -> int | None:
        """1-based place among the callers waiting in the call's current queue."""
        c = self._calls.get(call_id)
        if c is None or c.state != WAITING:
            return None
        return bisect_left(c.queue.order, (c.vscore, c.seq)) + 1

    def estimated_wait(self, call_id: str) -> float | None:
        c = self._calls.get(call_id)
        if c is None:
            return None
        if c.state != WAITING:
            return 0.0
        return self._ewt(c.queue, c.bucket, self.position(call_id) or 1)  # type: ignore[arg-type]

    def trace(self, call_id: str) -> list[str]:
        return [f"t={t:.1f}s {msg}" for t, msg in self._traces.get(call_id, [])]

    def release_trace(self, call_id: str) -> None:
        """The caller has saved this call's story elsewhere (the engine: in its CRM record):
        forget it, so traces held are those of live calls rather than of the last
        `trace_limit` calls. A call still in the ACD (e.g. a callback request made at the
        end of the call) keeps its trace."""
        if call_id not in self._calls:
            self._traces.pop(call_id, None)

    def free_for_tasks(self, name: str) -> bool:
        """Logged in, not paused, no call ringing, talking or in wrap-up, phone not busy."""
        a = self._agents[name]
        return a.state is _READY and not a.device_busy

    def agent_state(self, name: str) -> AgentState:
        return self._agents[name].state

    def agent_reason(self, name: str) -> str:
        """The pause reason (or the queue of a wrap-up); "" otherwise."""
        return self._agents[name].reason

    def agent_since(self, name: str) -> float:
        """When the agent entered its current state (the `now` clock)."""
        return self._agents[name].since

    def wrapup_until(self, name: str) -> float | None:
        """When the agent's wrap-up ends (the `now` clock); None when not in wrap-up."""
        a = self._agents[name]
        return a.wrap_until if a.state is _WRAPUP else None

    def track_agents(self) -> None:
        """Start recording which agents change state (displays follow every change, timer
        driven ones included); `changed_agents()` hands them over. Off by default: the
        simulator has no display."""
        if self._changed is None:
            self._changed = set()

    def changed_agents(self) -> set[str]:
        if not self._changed:
            return set()
        changed, self._changed = self._changed, set()
        return changed

    def state_snapshot(self, now: float | None = None) -> dict[str, Any]:
        """For `ivr queues` / `ivr agents`. O(queues x agents): display only, not per event."""
        if now is None:
            now = self._now
        queues = []
        for q in self._queues.values():
            waiting = [c for c in self._calls.values() if c.queue is q and c.state == WAITING]
            oldest = min((c.arrival for c in waiting), default=None)
            base = self._buckets[(q.name, combine(q.spec.requirement, None))]
            ready = sum(1 for a in base.agents if a.state is AgentState.READY and not a.busy)
            busy = sum(1 for a in base.agents
                       if a.state in (AgentState.OFFERED, AgentState.ON_CALL, AgentState.WRAPUP)
                       or (a.busy and a.state is AgentState.READY))
            head = min(waiting, key=lambda c: (c.vscore, c.seq), default=None)
            able, why = self._able_for(head)
            queues.append({
                "queue": q.name, "waiting": len(waiting),
                "longest_wait": 0.0 if oldest is None else max(0.0, now - oldest),
                "oldest_arrival": oldest, "agents_ready": ready, "agents_busy": busy,
                "agents_staffed": base.staffed, "aht_seconds": round(q.aht, 1),
                "head_agents_able": able, "head_waits_because": why,
            })
        # phone_busy_elsewhere: the phone is busy (AMI device state) with a call the ACD did
        # not give, e.g. a direct call; the ACD's own calls show in `state` (on-call).
        agents = [{"agent": a.name, "state": a.state.value, "reason": a.reason, "since": a.since,
                   "talking": a.state is _ON_CALL or a.device_busy,
                   "phone_busy_elsewhere": a.device_busy, "held_for_tasks": a.held,
                   "calls_taken": a.calls_taken, "call_id": a.call_id}
                  for a in self._agent_list]
        return {"queues": queues, "agents": agents}

    @staticmethod
    def _able_for(head: _Call | None) -> tuple[int | None, str]:
        """Ready agents able to take the queue's head caller (its requirement, widened or
        with its extra skills), and, when none, why it waits. (None, "") with nobody waiting."""
        if head is None or head.bucket is None:
            return None, ""
        b = head.bucket
        able = sum(1 for a in b.agents if a.state is _READY and not a.busy)
        if able:
            return able, ""
        need = f"skills '{b.req.text}'" if b.req.text else "no particular skill"
        if not b.agents:
            return 0, f"no agent has the {need}"
        if not b.staffed:
            return 0, f"the {len(b.agents)} agent(s) with the {need} are logged out or paused"
        return 0, f"the {b.staffed} agent(s) on duty with the {need} are all busy"

    # ------------------------------------------------------------------ buckets
    def _bucket(self, q: _Queue, requirement: str, extra: str | None) -> _Bucket:
        fast = self._bucket_cache.get((q.name, requirement, extra))
        if fast is not None:
            return fast
        fast = self._bucket_cache[(q.name, requirement, extra)] = self._make_bucket(q, requirement, extra)
        return fast

    def _make_bucket(self, q: _Queue, requirement: str, extra: str | None) -> _Bucket:
        text = combine(requirement, extra)
        key = (q.name, text)
        b = self._buckets.get(key)
        if b is not None:
            return b
        req = compile_requirement(text)
        b = _Bucket(q, req)
        if req.necessary is None:
            cands = self._agent_list
        else:  # skill index: only agents holding one of the necessary skills
            seen: dict[int, _Agent] = {}
            for s in req.necessary:
                for a in self._by_skill.get(s, ()):
                    seen[a.idx] = a
            cands = sorted(seen.values(), key=lambda a: a.idx)
        for a in cands:
            if req.match(a.spec.skills):
                b.agents.append(a)
                b.score[a.idx] = req.score(a.spec.skills)
                a.buckets.append(b)
                if a.state not in _UNSTAFFED:
                    b.staffed += 1
        b.cap = 4 * len(b.agents) + 64
        b.pending_cap = 0 if b.ring_all else b.cap
        self._buckets[key] = b
        return b

    def _index(self, b: _Bucket) -> None:
        """First call in a bucket: start maintaining its ready heap. Buckets only reached by
        escalation (widen targets) cost nothing on every agent state change until then."""
        b.indexed = True
        for a in b.agents:
            a.ibuckets.append(b)
            if a.state is _READY and not a.busy:
                self._push_ready(a, (b,))

    # ------------------------------------------------------------------ tracing / timers
    def _log(self, c: _Call, now: float, msg: str) -> None:
        if c.trace is not None:
            c.trace.append((now, msg))

    # Heap entries hold ids (str/int), not objects: tuples of atoms get untracked by the GC,
    # which keeps collector pauses short with thousands of callers waiting.
    def _push_timer(self, when: float, kind: int, ident: str | int, token: int = 0) -> int:
        """Returns the entry's unique seq; call timers use it as their token."""
        self._seq += 1
        seq = self._seq
        heapq.heappush(self._timers, (when, seq, kind, ident, token or seq))
        return seq

    def _timer_target(self, t: tuple) -> Any:
        """The agent/call a timer entry still applies to, or None when stale."""
        kind, ident, token = t[2], t[3], t[4]
        if kind == _T_WRAP:
            a = self._agent_list[ident]
            return a if a.version == token and a.state is _WRAPUP else None
        c = self._calls.get(ident)  # escalation/announcement only matter while waiting
        if c is None or c.state != WAITING:
            return None
        return c if (c.esc_token if kind == _T_ESC else c.ann_token) == token else None

    def _run_timers(self, now: float, out: list) -> None:
        timers = self._timers
        while timers and timers[0][0] <= now:
            t = heapq.heappop(timers)
            target = self._timer_target(t)
            if target is None:
                continue
            when, kind = t[0], t[2]
            if kind == _T_WRAP:
                self._after_work(target, when, out)
            elif kind == _T_ESC:
                self._escalate(target, when, out)
            else:
                self._announce(target, when, out)

    # ------------------------------------------------------------------ agents
    def _set_state(self, a: _Agent, state: AgentState, now: float, reason: str = "") -> None:
        old = a.state
        was = old is not _LOGGED_OUT and old is not _PAUSED  # identity: hot path
        a.state, a.reason, a.since = state, reason, now
        a.version += 1
        if self._changed is not None:
            self._changed.add(a.name)
        is_ = state is not _LOGGED_OUT and state is not _PAUSED
        if was != is_:
            d = 1 if is_ else -1
            for b in a.buckets:
                b.staffed += d
        if state is _READY:
            a.idle_since = now  # caller must _dispatch_agent(), which indexes it if still idle

    def _push_ready(self, a: _Agent, buckets: "list[_Bucket] | tuple[_Bucket, ...] | None" = None) -> None:
        """Index an idle agent in every bucket it serves. Lazily: the agent is only noted in each
        bucket's `pending` list, and moved into the ready heap when a call needs that bucket
        (_flush_ready). Most of these entries go stale before then (one of the agent's buckets
        takes it), and a stale pending entry is dropped for the cost of one comparison instead
        of a heap push now plus a heap pop later. The key an entry gets is the same either way:
        everything it depends on bumps the agent's version when it changes."""
        entry = (a.idx, a.version)
        for b in a.ibuckets if buckets is None else buckets:
            p = b.pending
            p.append(entry)
            if len(p) > b.pending_cap:  # ring-all: cap 0, kept eager (heap order = order of offers)
                self._flush_ready(b)

    def _flush_ready(self, b: _Bucket) -> None:
        """Push the bucket's pending agents that are still ready into its ready heap, keyed by the
        queue's strategy: round-robin = least recently served by this queue; most/least-skilled
        = skill score on the bucket's requirement. Keys are inlined: one of the hot paths."""
        agents, push = self._agent_list, heapq.heappush
        r, k = b.ready, b.kind
        if len(r) > b.cap:  # drop stale entries: rare (cap fixed at 4x members), amortised O(1)
            b.ready = r = [e for e in r if self._agent_ok(e)]
            heapq.heapify(r)
        for idx, ver in b.pending:
            a = agents[idx]
            if a.version != ver:
                continue  # taken (or paused, logged out, busy) since: never reaches the heap
            idle = a.idle_since
            if k == _IDLE:
                push(r, (idle, 0.0, idx, ver))
            elif k == _MOST:
                push(r, (-b.score[idx], idle, idx, ver))
            elif k == _LEAST:
                push(r, (b.score[idx], idle, idx, ver))
            elif k == _RR:
                push(r, (b.rr.get(idx, 0), 0.0, idx, ver))
            else:
                push(r, (a.calls_taken, idle, idx, ver))
        b.pending = []

    def _agent_ok(self, e: tuple) -> bool:
        a = self._agent_list[e[2]]
        return a.version == e[3] and a.state is _READY and not a.busy

    def _after_work(self, a: _Agent, now: float, out: list) -> None:
        """End of a call / wrap-up / cancelled offer: honour pending logout or pause, else ready."""
        a.call_id = None
        if a.pending_logout:
            a.pending_logout, a.pending_pause = False, None
            self._set_state(a, _LOGGED_OUT, now)
        elif a.pending_pause is not None:
            reason, a.pending_pause = a.pending_pause, None
            self._set_state(a, _PAUSED, now, reason)
        else:
            self._set_state(a, _READY, now)
            self._dispatch_agent(a, now, out)

    def _dispatch_agent(self, a: _Agent, now: float, out: list) -> None:
        """An agent became available: take the best head across its buckets (cross-queue fairness)."""
        if a.busy or a.state is not _READY:
            return
        best = None
        calls = self._calls
        for b in a.ibuckets:
            if not b.n_calls:
                continue  # stale entries may remain; _wait compacts them
            h = b.calls
            while h:
                e = h[0]
                c = calls.get(e[2])
                # versions are unique and reset by _unwait: a match means waiting in this bucket
                if c is not None and c.version == e[3]:
                    if best is None or e < best:
                        best = e
                    break
                heapq.heappop(h)
        if best is not None:
            self._offer(calls[best[2]], [a], now, out, None)
        else:  # nobody waiting for it: index it as ready (skipped under load: cheaper)
            self._push_ready(a)

    # ------------------------------------------------------------------ calls
    def _wait(self, c: _Call, b: _Bucket) -> None:
        c.state = WAITING
        c.bucket = b
        if not b.indexed:
            self._index(b)
        self._seq += 1
        c.version = self._seq  # globally unique: stale entries of a reused call_id never match
        b.n_calls += 1
        h = b.calls
        if len(h) > 2 * b.n_calls + 64:
            calls = self._calls
            b.calls = h = [e for e in h if (x := calls.get(e[2])) is not None and x.version == e[3]
                           and x.state == WAITING and x.bucket is b]
            heapq.heapify(h)
        heapq.heappush(h, (c.vscore, c.seq, c.call_id, c.version))
        insort(c.queue.order, (c.vscore, c.seq))

    def _unwait(self, c: _Call) -> None:
        if c.version == -1:
            return  # never queued (offered on arrival) or already out
        c.version = -1
        b = c.bucket
        if b is not None:
            b.n_calls -= 1
        order = c.queue.order
        i = bisect_left(order, (c.vscore, c.seq))
        if i < len(order) and order[i][1] == c.seq:
            del order[i]

    def _finish(self, c: _Call) -> None:
        c.state = DONE
        self._calls.pop(c.call_id, None)

    def _dispatch_call(self, c: _Call, now: float, out: list) -> None:
        """A call became waiting in its bucket: pick agent(s) by the queue strategy."""
        b = c.bucket
        assert b is not None
        if not b.indexed:
            self._index(b)
        if b.pending:
            self._flush_ready(b)
        r = b.ready
        if b.ring_all:
            agents = [self._agent_list[e[2]] for e in r if self._agent_ok(e)]
            if agents:
                b.ready = []
                self._offer(c, agents, now, out, b)
            return
        agents_by_idx, pop = self._agent_list, heapq.heappop
        while r:
            e = pop(r)
            a = agents_by_idx[e[2]]
            if a.version == e[3]:  # same version: still ready and not busy (_agent_ok)
                self._offer(c, [a], now, out, b)
                return

    def _offer_preferred(self, c: _Call, name: str | None, now: float, out: list) -> bool:
        """A known caller's usual agent takes the call if ready and qualified; otherwise the
        queue's strategy decides as for anyone (the caller is not held for one person)."""
        a = self._agents.get(name) if name else None
        b = c.bucket
        if a is None or b is None:
            return False
        if a.state is not _READY or a.busy or not b.req.match(a.spec.skills):
            if c.trace is not None:
                self._log(c, now, f"preferred agent {name} not available "
                                  f"({a.state.value}{', phone busy' if a.busy else ''}): "
                                  f"queue strategy decides")
            return False
        if c.trace is not None:
            self._log(c, now, f"preferred agent {name} is ready: offered first")
        self._offer(c, [a], now, out, b)
        return True

    def _why(self, b: _Bucket | None, agents: list[_Agent], now: float) -> str:
        """Trace text: which rule picked the agent(s). b is None when an agent picked the call."""
        a = agents[0]
        if b is None:
            return (f"{a.name} freed: oldest priority-adjusted head across its "
                    f"{len(a.buckets)} eligible queue bucket(s)")
        s = b.queue.spec.strategy
        if s == "ring-all":
            return f"ring-all: {len(agents)} ready agent(s)"
        if s == "most-skilled" or s == "least-skilled":
            return f"{s}: skill score {b.score[a.idx]} on '{b.req.text}'"
        if s == "fewest-calls":
            return f"fewest-calls: {a.calls_taken} call(s) taken"
        if s == "round-robin":
            return "round-robin: next in rotation"
        return f"longest-idle: idle {now - a.idle_since:.1f}s"

    def _offer(self, c: _Call, agents: list[_Agent], now: float, out: list,
               picked_by: _Bucket | None) -> None:
        if c.version != -1:  # was queued (a new call offered at once never was)
            self._unwait(c)
        c.state = OFFERED
        c.offers = agents
        b = c.bucket
        assert b is not None
        ring = b.ring_timeout
        call_id = c.call_id
        for a in agents:
            # _set_state inlined (hot path): ready -> offered, both staffed, no count changes
            a.state, a.reason, a.since = _OFFERED, "", now
            a.version += 1
            if self._changed is not None:
                self._changed.add(a.name)
            a.call_id = call_id
            if b.kind == _RR:
                b.rr_seq += 1
                b.rr[a.idx] = b.rr_seq
            if c.callback is not None:
                out.append(A.StartCallback(call_id, a.name, c.callback))
            else:
                out.append(A.OfferCall(call_id, a.name, ring))
        if c.trace is not None:
            why = self._why(picked_by, agents, now)
            names = ",".join(a.name for a in agents)
            kind = "callback" if c.callback is not None else "offer"
            c.trace.append((now, f"{kind} to {names} in queue {b.queue.name} "
                                 f"[requirement '{b.req.text}'] after {now - c.arrival:.1f}s wait — {why}"))

    def _ewt(self, q: _Queue, b: _Bucket | None, position: int) -> float:
        n = b.staffed if b is not None else 0
        if n <= 0:
            return float("inf")
        return position * q.aht / n

    def _schedule_esc(self, c: _Call, now: float) -> None:
        steps = c.origin.steps
        if c.esc_index < len(steps):
            c.esc_token = self._push_timer(max(now, c.arrival + steps[c.esc_index].after_seconds),
                                           _T_ESC, c.call_id)

    def _divert(self, c: _Call, dest: str, reason: str, now: float, out: list) -> None:
        if c.state == WAITING:
            self._unwait(c)
        if c.trace is not None:
            self._log(c, now, f"diverted to {dest!r}: {reason}")
        self._finish(c)
        out.append(A.Diverted(c.call_id, dest, reason))

    def _escalate(self, c: _Call, now: float, out: list) -> None:
        if c.state != WAITING:
            return  # ringing: re-armed when the offer fails (_requeue)
        step = c.origin.steps[c.esc_index]
        c.esc_index += 1
        q = c.queue
        waited = now - c.arrival
        rule = step.rule
        label = f"step {c.esc_index} ({rule} after {step.after_seconds:g}s)"
        if rule == "widen":
            old = c.bucket.req.text if c.bucket else ""
            detail = f"{label}: requirement '{old}' -> '{step.widen}' (waited {waited:.1f}s)"
            if c.trace is not None:
                self._log(c, now, f"escalated {detail}")
            out.append(A.Escalated(c.call_id, q.name, rule, detail))
            self._unwait(c)
            self._wait(c, self._bucket(q, step.widen or "", c.required))
            self._schedule_esc(c, now)
            self._dispatch_call(c, now, out)
        elif rule == "overflow":
            target = self._queues[step.overflow or ""]
            detail = f"{label}: {q.name} -> {target.name} (waited {waited:.1f}s, arrival kept)"
            if c.trace is not None:
                self._log(c, now, f"escalated {detail}")
            out.append(A.Escalated(c.call_id, q.name, rule, detail))
            out.append(A.Overflowed(c.call_id, q.name, target.name))
            self._unwait(c)
            c.queue = target
            c.vscore = c.arrival - (c.priority + target.spec.priority) * self._step
            self._wait(c, self._bucket(target, target.spec.requirement, c.required))
            self._schedule_esc(c, now)
            self._dispatch_call(c, now, out)
        elif rule == "offer_callback":
            if c.callback is None:
                detail = f"{label}: callback offered (waited {waited:.1f}s)"
                if c.trace is not None:
                    self._log(c, now, f"escalated {detail}")
                out.append(A.Escalated(c.call_id, q.name, rule, detail))
                out.append(A.OfferCallbackChoice(c.call_id))
            self._schedule_esc(c, now)
        else:
            if c.callback is not None:  # caller already hung up for a callback: keep it
                if c.trace is not None:
                    self._log(c, now, f"{label} skipped: callback pending")
                self._schedule_esc(c, now)
                return
            detail = f"{label}: to {step.divert!r} (waited {waited:.1f}s)"
            out.append(A.Escalated(c.call_id, q.name, rule, detail))
            self._divert(c, step.divert or "", f"max wait: {detail}", now, out)

    def _announce(self, c: _Call, when: float, out: list) -> None:
        if c.state == WAITING and c.callback is None:
            pos = bisect_left(c.queue.order, (c.vscore, c.seq)) + 1
            out.append(A.Announce(c.call_id, pos, self._ewt(c.queue, c.bucket, pos)))
        self._arm_announce(c, when)

    def _requeue(self, c: _Call, now: float, out: list) -> None:
        """No offer left ringing: caller keeps its place (same key) and goes to the next agent."""
        c.offers = []
        self._wait(c, c.bucket)  # type: ignore[arg-type]
        self._schedule_esc(c, now)  # steps that came due while ringing fire now
        self._arm_announce(c, now)
        self._run_timers(now, out)
        if c.state == WAITING:
            self._dispatch_call(c, now, out)

    def _arm_announce(self, c: _Call, now: float) -> None:
        interval = c.queue.spec.announce_every_seconds
        if interval > 0 and c.callback is None:
            c.ann_token = self._push_timer(now + interval, _T_ANN, c.call_id)

    # ------------------------------------------------------------------ event handlers
    def _on_arrived(self, ev: E.CallArrived, now: float, out: list) -> None:
        self._arrive(ev.call_id, ev.queue, ev.priority, ev.caller, ev.required, ev.preferred_agent,
                     now, out, ev.callback, now - max(0.0, ev.waited_s))

    def _arrive(self, call_id: str, queue: str, priority: int, caller: str, required: str | None,
                preferred: str | None, now: float, out: list, callback: str | None = None,
                arrival: float | None = None) -> None:
        calls = self._calls
        if call_id in calls:
            return
        q = self._queues.get(queue)
        if q is None:
            out.append(A.Diverted(call_id, "hangup", f"unknown queue {queue!r}"))
            return
        self._seq += 1
        arrival = now if arrival is None else arrival
        c = _Call(call_id, q, priority, caller, required, arrival, self._seq)
        spec = q.spec
        c.vscore = arrival - (priority + spec.priority) * self._step
        if self._tracing:
            # A call re-joining (diverted to another queue, or as a callback) keeps its story.
            c.trace = self._traces.pop(call_id, None) or []
            self._traces[c.call_id] = c.trace
            if len(self._traces) > self._trace_limit:
                self._traces.popitem(last=False)
        try:  # no extra requirement (the usual case): the queue's own bucket, no key to build
            b = q.base if required is None else self._bucket(q, spec.requirement, required)
        except SkillExpressionError as err:
            c.state = DONE
            if c.trace is not None:
                self._log(c, now, f"diverted: bad required expression: {err}")
            out.append(A.Diverted(c.call_id, spec.congestion_destination, f"bad required expression: {err}"))
            return
        if c.trace is not None:
            self._log(c, now, f"arrived in queue {q.name} priority {priority} (queue +{spec.priority}), "
                              f"requirement '{b.req.text}'")
        calls[call_id] = c
        c.bucket = b
        if callback is not None:
            # Join rules protect callers on the line; a callback request keeps nobody waiting.
            c.callback, c.ann_token = callback, -1
            if c.trace is not None:
                self._log(c, now, f"callback request to {callback}: waits for an agent")
        elif arrival < now:  # resumed after an engine failover: it passed the join rules before
            if c.trace is not None:
                self._log(c, now, f"resumed after an engine failover, place kept ({now - arrival:.1f}s waited)")
        elif b.staffed == 0 and spec.join_when_no_agents != "join":
            if spec.join_when_no_agents == "refuse":
                self._divert(c, spec.congestion_destination, "join refused: no agents logged in", now, out)
            else:
                self._divert(c, spec.no_agents_destination or spec.congestion_destination,
                             "no agents logged in", now, out)
            return
        elif spec.max_length and len(q.order) >= spec.max_length:
            self._divert(c, spec.congestion_destination,
                         f"queue full ({len(q.order)} >= max_length {spec.max_length})", now, out)
            return
        if preferred and self._offer_preferred(c, preferred, now, out):
            return
        self._dispatch_call(c, now, out)  # a ready agent takes it without queueing
        if c.state != WAITING:
            return  # offered at once; _requeue arms timers if the offer fails
        self._wait(c, b)
        if spec.max_ewt_seconds and callback is None and arrival == now:
            ewt = self._ewt(q, b, bisect_left(q.order, (c.vscore, c.seq)) + 1)
            if ewt > spec.max_ewt_seconds:
                self._divert(c, spec.max_ewt_destination,
                             f"EWT {ewt:.0f}s > max_ewt_seconds {spec.max_ewt_seconds:g}", now, out)
                return
        if q.steps:  # guards inlined: most queues have neither steps nor announcements
            self._schedule_esc(c, now)
        if spec.announce_every_seconds > 0:
            self._arm_announce(c, now)

    def _agent(self, name: str) -> _Agent | None:
        return self._agents.get(name)

    def _on_login(self, ev: E.AgentLoggedIn, now: float, out: list) -> None:
        a = self._agent(ev.agent)
        if a is None:
            return
        a.pending_logout = False
        if a.state is _LOGGED_OUT:
            self._set_state(a, _READY, now)
            self._dispatch_agent(a, now, out)

    def _cancel_offer(self, a: _Agent, now: float, out: list) -> None:
        """Withdraw a ringing offer from one agent (logout); requeue when nobody else rings."""
        c = self._calls.get(a.call_id or "")
        if c is None or c.state != OFFERED or a not in c.offers:
            return
        c.offers = [x for x in c.offers if x is not a]
        out.append(A.CancelOffer(c.call_id, a.name))
        if c.trace is not None:
            self._log(c, now, f"offer to {a.name} cancelled (agent left)")
        if not c.offers:
            self._requeue(c, now, out)

    def _on_logout(self, ev: E.AgentLoggedOut, now: float, out: list) -> None:
        a = self._agent(ev.agent)
        if a is None or a.state is _LOGGED_OUT:
            return
        if a.state is _ON_CALL:
            a.pending_logout = True
            return
        if a.state is _OFFERED:
            self._set_state(a, _LOGGED_OUT, now)
            self._cancel_offer(a, now, out)
            a.call_id = None
            return
        a.pending_pause = None
        self._set_state(a, _LOGGED_OUT, now)

    def _on_paused(self, ev: E.AgentPaused, now: float, out: list) -> None:
        a = self._agent(ev.agent)
        if a is None or a.state is _LOGGED_OUT:
            return
        if a.state in (_OFFERED, _ON_CALL):
            a.pending_pause = ev.reason  # takes effect when the call is over
        else:  # ready, wrap-up (ends it) or already paused (new reason)
            self._set_state(a, _PAUSED, now, ev.reason)

    def _on_more_wrapup(self, ev: E.WrapUpExtended, now: float, out: list) -> None:
        a = self._agent(ev.agent)
        if a is None or a.state is not _WRAPUP or ev.seconds <= 0:
            return
        a.version += 1                      # the old wrap-up timer goes stale
        a.wrap_until = max(a.wrap_until, now) + ev.seconds
        self._push_timer(a.wrap_until, _T_WRAP, a.idx, a.version)
        if self._changed is not None:
            self._changed.add(a.name)

    def _on_ready(self, ev: E.AgentReady, now: float, out: list) -> None:
        a = self._agent(ev.agent)
        if a is None:
            return
        a.pending_pause = None
        a.pending_logout = False
        if a.state in (_PAUSED, _WRAPUP, _LOGGED_OUT):
            self._after_work(a, now, out)

    def _on_restored(self, ev: E.AgentRestored, now: float, out: list) -> None:
        state = AgentState(ev.state)
        if state not in (_READY, _PAUSED, _LOGGED_OUT):
            raise ValueError(f"agent {ev.agent}: cannot restore state {ev.state!r}")
        a = self._agent(ev.agent)
        if a is None or a.state not in (_READY, _LOGGED_OUT) or a.call_id is not None:
            return
        a.pending_pause, a.pending_logout = None, False
        # since: when it was recorded, never in the future of this clock
        self._set_state(a, state, min(ev.since, now), ev.reason if state is _PAUSED else "")
        if state is _READY:
            self._dispatch_agent(a, now, out)

    def _on_device(self, ev: E.DeviceBusy, now: float, out: list) -> None:
        a = self._agent(ev.agent)
        if a is None:
            return
        a.device_busy = ev.busy
        self._set_busy(a, now, out)

    def hold(self, agent: str, held: bool, now: float) -> list[A.Action]:
        """Keep a logged-in agent from call offers without changing its state (ContactCenter:
        non-voice work that voice may not interrupt, or a profile without voice). Like
        DeviceBusy, and independent of it: the agent takes calls when neither applies."""
        out: list[A.Action] = []
        a = self._agents.get(agent)
        if a is not None and a.held != held:
            a.held = held
            self._set_busy(a, now, out)
        return out

    def _set_busy(self, a: _Agent, now: float, out: list) -> None:
        busy = a.device_busy or a.held
        if a.busy == busy:
            return
        a.busy = busy
        if self._changed is not None:
            self._changed.add(a.name)
        if a.state is _READY:
            a.version += 1  # invalidates ready-heap entries either way
            if not busy:
                self._dispatch_agent(a, now, out)

    def _on_answered(self, ev: E.OfferAnswered, now: float, out: list) -> None:
        self._answer(ev.call_id, ev.agent, now, out)

    def _answer(self, call_id: str, agent: str, now: float, out: list) -> None:
        c = self._calls.get(call_id)
        a = self._agents.get(agent)
        if c is None or a is None or c.state != OFFERED or a not in c.offers:
            return  # stale (already cancelled / answered elsewhere)
        others = [x for x in c.offers if x is not a] if len(c.offers) > 1 else ()
        c.offers = []
        c.state = CONNECTED
        c.agent = a
        c.answered_at = now
        a.calls_taken += 1
        # _set_state inlined (hot path): an agent in c.offers is offered; offered -> on call,
        # both staffed, no count changes
        a.state, a.reason, a.since = _ON_CALL, "", now
        a.version += 1
        if self._changed is not None:
            self._changed.add(a.name)
        if c.trace is not None:
            self._log(c, now, f"answered by {a.name} after {now - c.arrival:.1f}s")
        if others:  # ring-all: the other legs stop ringing
            for o in others:
                out.append(A.CancelOffer(c.call_id, o.name))
            for o in others:
                self._after_work(o, now, out)

    def _on_failed(self, ev: E.OfferFailed, now: float, out: list) -> None:
        c = self._calls.get(ev.call_id)
        a = self._agent(ev.agent)
        if c is None or a is None or c.state != OFFERED or a not in c.offers:
            return
        c.offers = [x for x in c.offers if x is not a]
        a.call_id = None
        a.pending_pause = None
        if a.pending_logout:
            a.pending_logout = False
            self._set_state(a, _LOGGED_OUT, now)
        else:
            self._set_state(a, _PAUSED, now, "RONA")
        if c.trace is not None:
            self._log(c, now, f"RONA: {a.name} failed ({ev.reason}); agent paused, caller keeps its place")
        if not c.offers:
            self._requeue(c, now, out)

    def _on_ended(self, ev: E.CallEnded, now: float, out: list) -> None:
        self._end(ev.call_id, now, out)

    def _end(self, call_id: str, now: float, out: list) -> None:
        c = self._calls.get(call_id)
        if c is None:
            return
        if c.state != CONNECTED:  # explicit end of a call never answered: also cancels a callback
            self._drop(c, now, out, "ended before being answered")
            return
        a = c.agent
        assert a is not None
        q = c.queue
        wrap = q.wrapup
        q.aht += 0.05 * ((now - c.answered_at) + wrap - q.aht)  # EWMA for EWT
        if c.trace is not None:
            self._log(c, now, f"ended after {now - c.answered_at:.1f}s talk; {a.name} wrap-up {wrap:g}s")
        c.state = DONE  # _finish inlined
        del self._calls[call_id]
        if not wrap and not a.pending_logout and a.pending_pause is None:
            # _after_work + _set_state inlined (hot path): on call -> ready, both staffed
            a.call_id = None
            a.state, a.reason, a.since = _READY, "", now
            a.version += 1
            if self._changed is not None:
                self._changed.add(a.name)
            a.idle_since = now
            self._dispatch_agent(a, now, out)
        elif a.pending_logout or not wrap:
            self._after_work(a, now, out)
        else:
            self._set_state(a, _WRAPUP, now, q.name)
            a.wrap_until = now + wrap
            self._push_timer(a.wrap_until, _T_WRAP, a.idx, a.version)

    def _on_abandoned(self, ev: E.CallAbandoned, now: float, out: list) -> None:
        c = self._calls.get(ev.call_id)
        if c is None:
            return
        if c.state == CONNECTED:
            self._end(ev.call_id, now, out)
            return
        if c.callback is not None and c.state == WAITING:
            # the caller hanging up after choosing a callback is expected: keep the request
            # (cancel it with CallEnded)
            if c.trace is not None:
                self._log(c, now, "caller hung up; callback request kept")
            return
        self._drop(c, now, out, "abandoned")

    def _drop(self, c: _Call, now: float, out: list, why: str) -> None:
        """Remove a call that never got connected; withdraw offers still ringing."""
        if c.trace is not None:
            self._log(c, now, f"{why} after {now - c.arrival:.1f}s")
        if c.state == WAITING:
            self._unwait(c)
            self._finish(c)
            return
        offers, c.offers = c.offers, []
        self._finish(c)
        for a in offers:
            out.append(A.CancelOffer(c.call_id, a.name))
        for a in offers:
            self._after_work(a, now, out)

    def _on_callback(self, ev: E.CallbackRequested, now: float, out: list) -> None:
        c = self._calls.get(ev.call_id)
        if c is None or c.state == CONNECTED:
            return
        c.callback = ev.number
        c.ann_token = -1  # no more announcements: the caller has hung up
        if c.trace is not None:
            self._log(c, now, f"callback requested to {ev.number}; keeps position")
