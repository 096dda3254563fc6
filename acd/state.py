"""Mutable records behind the ACD core (agents, queues, buckets, calls). Internal to acd.core."""
from __future__ import annotations

from enum import Enum

from .config import AgentSpec, EscalationStep, QueueSpec
from .skills import Requirement


class AgentState(str, Enum):
    LOGGED_OUT = "logged-out"
    READY = "ready"
    OFFERED = "offered"
    ON_CALL = "on-call"
    WRAPUP = "wrap-up"
    PAUSED = "paused"


_UNSTAFFED = (AgentState.LOGGED_OUT, AgentState.PAUSED)
WAITING, OFFERED, CONNECTED, DONE = range(4)
_T_WRAP, _T_ESC, _T_ANN = range(3)


class _Agent:
    __slots__ = ("idx", "spec", "name", "state", "reason", "since", "busy", "version",
                 "calls_taken", "idle_since", "buckets", "ibuckets", "call_id", "pending_pause",
                 "pending_logout", "wrap_until", "device_busy", "held")

    def __init__(self, idx: int, spec: AgentSpec) -> None:
        self.idx, self.spec, self.name = idx, spec, spec.name
        self.state = AgentState.LOGGED_OUT
        self.reason = ""
        self.since = 0.0
        self.busy = False                  # no call offers: device_busy or held (hot-path copy)
        self.device_busy = False           # phone busy with a call the ACD did not give (AMI)
        self.held = False                  # non-voice work or a profile without voice (ContactCenter)
        self.version = 0
        self.calls_taken = 0
        self.idle_since = 0.0
        self.buckets: list[_Bucket] = []   # every bucket it is eligible for (staffing counts)
        self.ibuckets: list[_Bucket] = []  # those already indexed (ready heaps / call heaps)
        self.call_id: str | None = None  # offered or connected call
        self.pending_pause: str | None = None
        self.pending_logout = False
        self.wrap_until = 0.0              # while in wrap-up: when it ends


class _Queue:
    __slots__ = ("spec", "name", "order", "aht", "steps", "base", "wrapup")

    def __init__(self, spec: QueueSpec) -> None:
        self.spec, self.name = spec, spec.name
        self.order: list[tuple[float, int]] = []  # sorted keys of waiting calls -> positions
        self.aht = spec.aht_seconds               # moving average of talk + wrap-up
        self.steps: list[EscalationStep] = list(spec.escalation)
        self.base: _Bucket | None = None  # bucket of the queue's own requirement (set by Acd)
        self.wrapup = spec.wrapup_seconds  # hot-path copy: a slot reads ~3x faster than pydantic


class _Bucket:
    __slots__ = ("queue", "req", "agents", "score", "ready", "pending", "calls", "n_calls", "staffed",
                 "rr", "rr_seq", "kind", "cap", "pending_cap", "ring_all", "ring_timeout", "indexed")

    def __init__(self, queue: _Queue, req: Requirement) -> None:
        self.queue, self.req = queue, req
        self.agents: list[_Agent] = []
        self.score: dict[int, int] = {}      # static skill score per agent idx
        self.ready: list[tuple] = []         # (k1, k2, idx, version)
        self.pending: list[tuple[int, int]] = []  # (idx, version) made ready, not yet in `ready`
        self.calls: list[tuple] = []         # (vscore, seq, call_id, version)
        self.n_calls = 0
        self.staffed = 0                     # eligible agents logged in and not paused
        self.rr: dict[int, int] = {}
        self.rr_seq = 0
        self.kind = _KIND[queue.spec.strategy]
        self.ring_all = queue.spec.strategy == "ring-all"
        self.ring_timeout = queue.spec.ring_timeout  # hot-path copy of the (frozen) spec value
        self.indexed = False
        self.cap = 64  # ready-heap size that triggers dropping stale entries (set by _make_bucket)
        self.pending_cap = 0  # pending size that triggers a flush into `ready` (0: always)


# Ready-heap key per strategy (smallest first); kinds are ints so _push_ready can inline them.
_IDLE, _MOST, _LEAST, _RR, _FEWEST = range(5)
_KIND = {"longest-idle": _IDLE, "most-skilled": _MOST, "least-skilled": _LEAST,
         "round-robin": _RR, "fewest-calls": _FEWEST, "ring-all": _IDLE}


class _Call:
    __slots__ = ("call_id", "queue", "origin", "priority", "caller", "required", "arrival",
                 "vscore", "seq", "bucket", "state", "version", "esc_index", "esc_token",
                 "ann_token", "callback", "offers", "agent", "answered_at", "trace")

    def __init__(self, call_id: str, queue: _Queue, priority: int, caller: str, required: str | None,
                 arrival: float, seq: int) -> None:
        self.call_id, self.queue, self.origin = call_id, queue, queue
        self.priority, self.caller, self.required = priority, caller, required
        self.arrival, self.seq = arrival, seq
        self.vscore = 0.0
        self.bucket: _Bucket | None = None
        self.state = WAITING
        self.version = -1  # -1: not in any heap
        self.esc_index = 0
        self.esc_token = 0
        self.ann_token = 0
        self.callback: str | None = None
        self.offers: list[_Agent] = []
        self.agent: _Agent | None = None
        self.answered_at = 0.0
        self.trace: list[tuple[float, str]] | None = None
