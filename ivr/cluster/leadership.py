"""Who routes calls: an active engine and a standby (issue 16), the pure rules.

The adapter (pg_leader.py) holds a PostgreSQL session-level advisory lock on a dedicated
connection and tells this core what it saw; the core says when to become active and when to
step down. Each takeover increments a term number in the database; the term fences a former
leader twice: here (`may_write`, `may_route`) and in the database itself (a trigger refuses a
write carrying an old term, see migration 10), because a process paused or partitioned may not
know yet that it lost its lock.

A leader that cannot prove within `lease_s` that its session (hence its lock) is alive stops
routing at once, even before the adapter notices the failure: routing asks `may_route(now)`.
The server frees a dead session's lock at once, before the former leader may have noticed;
so the winner of the lock waits out one lease before routing (TAKING_OVER): by then the
former leader's last proof is more than a lease old and it routes no more. Two engines never
route at the same time; a failover costs lease_s plus one poll.
Stepping down is final for the process (fail-stop): its in-memory queues may be stale, so it
hands its calls back and exits; its supervisor restarts it as a standby.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from enum import Enum


class Role(str, Enum):
    STANDBY = "standby"            # routes nothing, tries to take the lock
    TAKING_OVER = "taking-over"    # holds the lock, waits out the former leader's lease
    ACTIVE = "active"
    STEPPED_DOWN = "stepped-down"  # lost its lock: routes nothing, exits


# ---- events (what the adapter saw, with `now` in seconds of a monotonic clock) --------------
@dataclass(frozen=True)
class LockWon:
    term: int              # the term the database gave this takeover
    now: float


@dataclass(frozen=True)
class LinkOk:
    """A round trip on the lock's session succeeded and the row still names our term."""
    now: float


@dataclass(frozen=True)
class LinkFailed:
    """The lock's session failed or did not answer: the lock may be gone."""
    now: float
    reason: str


@dataclass(frozen=True)
class Superseded:
    """The database names a newer term than ours: another engine took over."""
    now: float
    term: int


@dataclass(frozen=True)
class Tick:
    now: float


Event = LockWon | LinkOk | LinkFailed | Superseded | Tick


# ---- actions --------------------------------------------------------------------------------
@dataclass(frozen=True)
class BecomeActive:
    term: int


@dataclass(frozen=True)
class StepDown:
    term: int
    reason: str


Action = BecomeActive | StepDown


class Leadership:
    def __init__(self, lease_s: float):
        if lease_s <= 0:
            raise ValueError("lease_s must be positive")
        self.lease_s = lease_s
        self.role = Role.STANDBY
        self.term: int | None = None
        self.last_ok: float | None = None     # last proof that our session is alive
        self.active_from = 0.0                # TAKING_OVER: when the former leader's lease is over
        self.reason = ""                      # why we stepped down

    def handle(self, event: Event) -> list[Action]:
        if self.role is Role.STEPPED_DOWN:
            return []                         # final: a new process takes part again
        if isinstance(event, LockWon):
            if self.role is Role.STANDBY:
                self.role, self.term, self.last_ok = Role.TAKING_OVER, event.term, event.now
                self.active_from = event.now + self.lease_s
            return []
        if self.role is Role.TAKING_OVER:
            return self._taking_over(event)
        if self.role is not Role.ACTIVE:
            return []                         # a standby's link troubles change nothing
        if isinstance(event, LinkOk):
            self.last_ok = max(self.last_ok or event.now, event.now)
            return []
        if isinstance(event, LinkFailed):
            return self._step_down(f"lost the connection holding the lock: {event.reason}")
        if isinstance(event, Superseded):
            return self._step_down(f"engine with term {event.term} took over (ours: {self.term})")
        if isinstance(event, Tick) and self._lease_over(event.now):
            return self._step_down(f"no answer from the database for {self.lease_s:g} s")
        return []

    def _taking_over(self, event: Event) -> list[Action]:
        if isinstance(event, (LinkFailed, Superseded)):   # lost before routing anything
            self.role, self.term, self.last_ok = Role.STANDBY, None, None
            return []
        if isinstance(event, LinkOk):
            self.last_ok = max(self.last_ok or event.now, event.now)
        elif isinstance(event, Tick) and event.now >= self.active_from and not self._lease_over(event.now):
            self.role = Role.ACTIVE
            return [BecomeActive(self.term or 0)]
        return []

    def may_route(self, now: float) -> bool:
        """Route calls only while active with a session proven alive within the lease."""
        return self.role is Role.ACTIVE and not self._lease_over(now)

    def may_write(self, term: int | None, now: float) -> bool:
        """A write tagged `term` may go out (the database checks it again)."""
        return term is not None and term == self.term and self.may_route(now)

    def _lease_over(self, now: float) -> bool:
        return self.last_ok is None or now - self.last_ok > self.lease_s

    def _step_down(self, reason: str) -> list[Action]:
        self.role, self.reason = Role.STEPPED_DOWN, reason
        return [StepDown(self.term or 0, reason)]


def lock_key(cluster_name: str) -> int:
    """The advisory lock's key: one per cluster name, stable across versions (a bigint for
    pg_try_advisory_lock; the high half, "IVRC", tells our locks from other programs')."""
    return 0x49_56_52_43 << 32 | zlib.crc32(cluster_name.encode())


@dataclass(frozen=True)
class ClusterRow:
    name: str
    term: int
    engine: str | None


def database_problem(row: ClusterRow | None, name: str, where: str) -> str | None:
    """Why this database is not the cluster's (None: it is). An engine on the wrong database
    would take its own lock there and route beside the real active engine: refused."""
    if row is None:
        return (f"{where} holds no hotline cluster: this engine (cluster {name!r}) refuses to "
                "start on it. Check crm.url / cluster.url; for a new cluster run "
                f"`ivr cluster init` once against its database")
    if row.name != name:
        return (f"{where} belongs to cluster {row.name!r}, not {name!r} (cluster.name in the "
                "settings): this engine refuses to start on it. Check crm.url / cluster.url")
    return None
