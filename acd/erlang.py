"""Erlang B / C / A staffing formulas (numerically stable: iterative Erlang B, no factorials)."""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ErlangResult:
    agents: int
    traffic_erlangs: float
    p_wait: float
    service_level: float   # P(wait <= target_seconds); Erlang A: virtual wait of a patient caller
    asa_seconds: float     # mean wait over all offered calls
    occupancy: float
    p_abandon: float = 0.0


def traffic(calls: float, period_seconds: float, aht_seconds: float) -> float:
    return calls * aht_seconds / period_seconds


def erlang_b(agents: int, a: float) -> float:
    """Blocking probability via B(n) = a B(n-1) / (n + a B(n-1)): stable for thousands of agents."""
    b = 1.0
    for n in range(1, agents + 1):
        b = a * b / (n + a * b)
    return b


def erlang_c_pwait(agents: int, a: float) -> float:
    if agents <= a:
        return 1.0
    b = erlang_b(agents, a)
    return agents * b / (agents - a * (1.0 - b))


def erlang_c(calls: float, period_seconds: float, aht_seconds: float, agents: int,
             target_seconds: float) -> ErlangResult:
    a = traffic(calls, period_seconds, aht_seconds)
    pw = erlang_c_pwait(agents, a)
    if agents <= a:
        return ErlangResult(agents, a, 1.0, 0.0, math.inf, 1.0)
    sl = 1.0 - pw * math.exp(-(agents - a) * target_seconds / aht_seconds)
    asa = pw * aht_seconds / (agents - a)
    return ErlangResult(agents, a, pw, sl, asa, a / agents)


def erlang_a(calls: float, period_seconds: float, aht_seconds: float, agents: int,
             target_seconds: float, patience_seconds: float) -> ErlangResult:
    """M/M/N+M: exponential patience. Birth-death chain normalised at state N (relative weights)."""
    if patience_seconds <= 0 or math.isinf(patience_seconds):
        return erlang_c(calls, period_seconds, aht_seconds, agents, target_seconds)
    lam = calls / period_seconds
    mu = 1.0 / aht_seconds
    theta = 1.0 / patience_seconds
    a = lam / mu
    n = agents
    below = 1.0 / erlang_b(n, a) if n > 0 else 1.0  # sum_{k<=N} pi_k / pi_N
    # queue states pi_{N+j}/pi_N, j >= 0, until negligible
    q = [1.0]
    term, j, qsum = 1.0, 0, 1.0
    while True:
        j += 1
        term *= lam / (n * mu + j * theta)
        if term < 1e-17 * (below + qsum) and n * mu + j * theta > lam:
            break
        q.append(term)
        qsum += term
    total = below - 1.0 + qsum
    p_wait = qsum / total
    eq = sum(k * x for k, x in enumerate(q)) / total
    p_ab = theta * eq / lam
    asa = eq / lam
    occ = min(1.0, a * (1.0 - p_ab) / n) if n else 1.0
    sl = 1.0 - _virtual_wait_tail([x / total for x in q], n * mu, theta, target_seconds)
    return ErlangResult(n, a, p_wait, sl, asa, occ, p_ab)


def _virtual_wait_tail(arrive: list[float], nmu: float, theta: float, t: float) -> float:
    """P(V > t) by uniformisation. An arrival finding j waiting must see j+1 departures ahead at
    rates Nmu + i*theta (i = j..0); state k = departures still needed, k -> k-1 at Nmu+(k-1)theta."""
    if t <= 0:
        return sum(arrive)
    size = len(arrive) + 1
    p = [0.0] + arrive[:]  # p[k], k = 0 (served) .. J+1
    rates = [0.0] + [nmu + (k - 1) * theta for k in range(1, size)]
    lam_u = max(rates)
    x = lam_u * t
    steps = int(x + 12 * math.sqrt(x) + 30)
    weight = math.exp(-x) if x < 700 else 0.0
    log_w = -x
    tail = 0.0
    for s in range(steps + 1):
        if s:
            log_w += math.log(x / s)
            weight = math.exp(log_w)
            # one uniformised step: mass moves k -> k-1 with prob rate_k / lam_u
            nxt = p[:]
            for k in range(1, size):
                move = p[k] * rates[k] / lam_u
                nxt[k] -= move
                nxt[k - 1] += move
            p = nxt
        tail += weight * sum(p[1:])
    return tail


def agents_for_service_level(calls: float, period_seconds: float, aht_seconds: float,
                             target_level: float, target_seconds: float,
                             patience_seconds: float | None = None,
                             max_occupancy: float | None = None) -> ErlangResult:
    """Fewest agents meeting the service level (and occupancy cap); Erlang A if patience given."""
    a = traffic(calls, period_seconds, aht_seconds)
    n = max(1, math.floor(a) + (0 if patience_seconds else 1))
    while True:
        r = (erlang_a(calls, period_seconds, aht_seconds, n, target_seconds, patience_seconds)
             if patience_seconds else erlang_c(calls, period_seconds, aht_seconds, n, target_seconds))
        if r.service_level >= target_level and (max_occupancy is None or r.occupancy <= max_occupancy):
            return r
        n += 1
