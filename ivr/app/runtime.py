"""The engine's event loop: uvloop when it is installed (the default), else asyncio's own.

Measured with bench/load.py (same SIPp load, same code, alternate runs): uvloop's loop and
transports cost the engine ~13% less CPU per call than asyncio's selector loop. uvloop is a
pinned dependency (pyproject.toml); where it cannot be installed (Windows, PyPy) `auto`
falls back to asyncio's loop and says so in the log.

`ivr serve --loop auto|uvloop|asyncio` (or IVR_LOOP) chooses; bench/engine_run.py uses the
same function, so the benchmark measures what `ivr serve` runs.
"""
from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)
LOOPS = ("auto", "uvloop", "asyncio")
T = TypeVar("T")


class LoopUnavailable(Exception):
    """`--loop uvloop` was asked for and uvloop cannot be imported."""


def loop_factory(choice: str = "auto") -> tuple[Callable[[], asyncio.AbstractEventLoop] | None, str]:
    """(factory for asyncio.Runner, a name for the log). factory None = asyncio's default."""
    if choice not in LOOPS:
        raise ValueError(f"event loop {choice!r} is not one of {', '.join(LOOPS)}")
    if choice == "asyncio":
        return None, "asyncio"
    try:
        import uvloop
    except ImportError as exc:
        if choice == "uvloop":
            raise LoopUnavailable(f"uvloop is not installed ({exc}): `pip install uvloop==0.23.0`, "
                                  "or run with --loop asyncio") from None
        return None, "asyncio (uvloop not installed)"
    return uvloop.new_event_loop, f"uvloop {uvloop.__version__}"


def tune_gc() -> None:
    """Fewer young collections: a call allocates a few thousand short-lived objects, and with
    the default threshold (700) the collector ran every few calls, each time also walking the
    survivors. Long-lived start-up objects are frozen by the engine after start."""
    gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(max(gen0, 10_000), max(gen1, 20), max(gen2, 20))


def run(main: Coroutine[Any, Any, T], choice: str = "auto", *, gc_tuning: bool = True) -> T:
    """asyncio.run(main) on the chosen loop."""
    try:
        factory, name = loop_factory(choice)
    except Exception:
        main.close()           # never started: no "coroutine was never awaited" warning
        raise
    log.info("event loop: %s", name)
    if gc_tuning:
        tune_gc()
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
