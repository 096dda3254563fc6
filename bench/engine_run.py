"""The real engine (`ivr -v serve`) with instrumentation, for bench/load.py.

It runs exactly what `ivr serve` runs (ivr.app.engine.Engine.serve_forever, same logging level),
but wraps AgiChannel.command to time every AGI command from the write to its parsed reply
(so the time includes the engine's own event-loop scheduling delay, the part an overloaded
engine adds), and samples live FastAGI sessions and event-loop lag. Nothing under ivr/ changes.

    python bench/engine_run.py STATS_FILE [--grace S] [--loop auto|uvloop|asyncio]   (IVR_CONFIG: settings)

The event loop is chosen as `ivr serve --loop` chooses it (ivr/app/runtime.py; default auto =
uvloop when installed). Collector pauses are timed with gc.callbacks (`gc` in STATS_FILE).

SIGUSR1 writes STATS_FILE (JSON) and starts a new measuring phase; SIGTERM stops as `ivr serve`.
Memory (bench/memprobe.py): a light sample every 30 s goes into STATS_FILE's "memory"; SIGUSR2
writes a census to STATS_FILE.census.json (with a full collection and malloc_trim first if
STATS_FILE.census-cmd says "collect"). --tracemalloc FRAMES traces allocations (slow).
"""
from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import signal
import sys
import time
from array import array
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collections import Counter  # noqa: E402

from ivr.telephony import ami as ami_module  # noqa: E402
from ivr.telephony.agi import server as agi_server  # noqa: E402
from ivr.config import load_settings  # noqa: E402
from ivr.app.engine import Engine  # noqa: E402
from ivr.app import runtime  # noqa: E402

import memprobe  # noqa: E402  (bench/, beside this file)

# Commands Asterisk answers at once (no media time inside the round trip).
INSTANT = ("GET VARIABLE", "SET VARIABLE", "CHANNEL STATUS", "EXEC StartMusicOnHold",
           "EXEC StopMusicOnHold", "VERBOSE", "NOOP")


class Stats:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.t0 = time.time()
        self.rtt: dict[str, array] = {}
        self.commands = 0
        self.max_sessions = 0
        self.max_waiters = 0
        self.lag = array("d")
        self.timeline: list[tuple[float, int, int]] = []   # (t, sessions, waiters)
        self.ami_events: Counter = Counter()
        self.gc_ms = [array("d"), array("d"), array("d")]     # pause of each collection, by generation
        self.crm_batches0 = _crm_batches()

    def add(self, text: str, ms: float) -> None:
        self.commands += 1
        for kind in INSTANT:
            if text.startswith(kind):
                self.rtt.setdefault(kind, array("d")).append(ms)
                return

    def dump(self, path: Path) -> None:
        every = array("d")
        per_kind = {}
        for kind, values in self.rtt.items():
            every.extend(values)
            per_kind[kind] = _pcts(values)
        data = {"since": self.t0, "until": time.time(), "commands": self.commands,
                "instant_rtt_ms": _pcts(every), "rtt_ms_by_command": per_kind,
                "max_sessions": self.max_sessions, "max_waiters": self.max_waiters,
                "loop_lag_ms": _pcts(self.lag), "timeline": self.timeline,
                "ami_events": sum(self.ami_events.values()),
                "ami_events_by_name": dict(self.ami_events.most_common()),
                "gc": {f"gen{g}": {"collections": len(v), "total_ms": round(sum(v), 1),
                                   "max_ms": round(max(v, default=0.0), 2)}
                       for g, v in enumerate(self.gc_ms)},
                "crm_transactions": _crm_batches() - self.crm_batches0, "memory": MEMORY}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(path)


def _pcts(values) -> dict:
    if not values:
        return {"n": 0}
    s = sorted(values)
    pick = lambda q: round(s[min(len(s) - 1, int(q * len(s)))], 3)  # noqa: E731
    return {"n": len(s), "p50": pick(0.50), "p90": pick(0.90), "p99": pick(0.99),
            "max": round(s[-1], 3)}


ENGINE: Engine | None = None
STARTED = time.time()


def _crm_batches() -> int:
    """Transactions the CRM writer committed so far (0 if this store does not count them)."""
    store = ENGINE.store if ENGINE is not None else None
    return int(getattr(store, "batches", 0) or 0)


STATS = Stats()
MEMORY: list[dict] = []          # light samples since start (not reset per phase)
CENSUS = memprobe.Census()
_gc_t0 = 0.0


def _gc_timer(phase: str, info: dict) -> None:
    global _gc_t0
    if phase == "start":
        _gc_t0 = time.perf_counter()
    else:
        STATS.gc_ms[info["generation"]].append((time.perf_counter() - _gc_t0) * 1000.0)


gc.callbacks.append(_gc_timer)
_original_command = agi_server.AgiChannel.command


async def _timed_command(self, text: str, *, wake=None):
    t0 = time.perf_counter()
    try:
        return await _original_command(self, text, wake=wake)
    finally:
        STATS.add(text, (time.perf_counter() - t0) * 1000.0)


agi_server.AgiChannel.command = _timed_command
_original_dispatch = ami_module.AmiLink._dispatch


def _counted_dispatch(self, manager, message) -> None:
    STATS.ami_events[message.get("Event") or "(response)"] += 1
    _original_dispatch(self, manager, message)


ami_module.AmiLink._dispatch = _counted_dispatch


async def _sampler(engine: Engine, period: float = 0.1) -> None:
    n = 0
    while True:
        t = time.perf_counter()
        await asyncio.sleep(period)
        STATS.lag.append((time.perf_counter() - t - period) * 1000.0)
        sessions = len(engine.agi.sessions) if engine.agi else 0
        waiters = len(engine.acd.waiters)
        STATS.max_sessions = max(STATS.max_sessions, sessions)
        STATS.max_waiters = max(STATS.max_waiters, waiters)
        n += 1
        if n % 10 == 0:
            STATS.timeline.append((round(time.time(), 1), sessions, waiters))
        if n % 300 == 0:
            MEMORY.append({**memprobe.light_sample(STARTED), "sessions": sessions})


async def main(stats_file: Path, grace: float) -> None:
    global ENGINE
    if "--gc-threshold" in sys.argv:        # A/B of collector thresholds, bench only
        gc.set_threshold(*(int(x) for x in sys.argv[sys.argv.index("--gc-threshold") + 1].split(",")))
    if "--tracemalloc" in sys.argv:         # where memory goes, bench only (slow)
        import tracemalloc
        tracemalloc.start(int(sys.argv[sys.argv.index("--tracemalloc") + 1]))
    engine = ENGINE = Engine(load_settings())
    loop = asyncio.get_running_loop()

    def on_usr1() -> None:
        STATS.dump(stats_file)
        STATS.reset()

    def on_usr2() -> None:
        cmd = stats_file.with_suffix(".census-cmd")
        collect = cmd.exists() and "collect" in cmd.read_text()
        out = stats_file.with_suffix(".census.json")
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(CENSUS.take(collect)))
        tmp.replace(out)

    loop.add_signal_handler(signal.SIGUSR1, on_usr1)
    loop.add_signal_handler(signal.SIGUSR2, on_usr2)
    sampler = None

    original_start = engine.start

    async def start() -> None:
        nonlocal sampler
        await original_start()
        if "--crm-linger-ms" in sys.argv:   # A/B of a CRM batching setting, bench only
            engine.store.linger = float(sys.argv[sys.argv.index("--crm-linger-ms") + 1]) / 1000
        sampler = asyncio.create_task(_sampler(engine))

    engine.start = start
    try:
        await engine.serve_forever(grace)
    finally:
        if sampler:
            sampler.cancel()
        STATS.dump(stats_file)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("panoramisk").setLevel(logging.INFO)
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    grace = float(sys.argv[sys.argv.index("--grace") + 1]) if "--grace" in sys.argv else 10.0
    loop = sys.argv[sys.argv.index("--loop") + 1] if "--loop" in sys.argv else "auto"
    if "--uvloop" in sys.argv:          # the old spelling
        loop = "uvloop"
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    # as `ivr serve --loop LOOP` runs it; --gc-default: Python's collector thresholds (A/B)
    runtime.run(main(Path(sys.argv[1]), grace), loop, gc_tuning="--gc-default" not in sys.argv)
