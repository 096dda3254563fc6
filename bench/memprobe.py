"""Where the engine's memory goes, for bench/load.py --soak (bench only; nothing under ivr/).

A census answers "is it Python objects, the collector, or the allocator?":
- Python objects by type (gc.get_objects), and how many the collector holds per generation;
- glibc's malloc: bytes in use vs free but kept (mallinfo2, all arenas), threads;
- pymalloc's arenas (sys._debugmallocstats' summary lines);
- optionally (`collect`): a full collection, then malloc_trim(0), with VmRSS after each, to
  tell cyclic garbage waiting for the oldest generation from memory the allocators keep;
- optionally tracemalloc (engine_run.py --tracemalloc FRAMES): the top allocation sites grown
  since the first census.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                 "uordblks", "fordblks", "keepcost")]


try:
    _libc = ctypes.CDLL(ctypes.util.find_library("c"))
    _libc.mallinfo2.restype = _Mallinfo2
except (OSError, AttributeError):            # not glibc (or < 2.33)
    _libc = None


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def malloc_mb() -> dict:
    if _libc is None:
        return {}
    m = _libc.mallinfo2()
    mb = lambda n: round(n / 2**20, 1)  # noqa: E731
    return {"heap_mb": mb(m.arena), "in_use_mb": mb(m.uordblks), "free_kept_mb": mb(m.fordblks),
            "mmapped_mb": mb(m.hblkhd)}


def pymalloc_summary() -> dict:
    """The totals sys._debugmallocstats writes to stderr (fd 2), read back through a file."""
    with tempfile.TemporaryFile() as tmp:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(tmp.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        text = tmp.read().decode(errors="replace")
    keys = {"# arenas allocated current": "arenas", "# bytes in allocated blocks": "blocks_bytes",
            "# bytes in available blocks": "free_blocks_bytes", "# arenas highwater mark": "arenas_peak"}
    out = {}
    for line in text.splitlines():
        for prefix, name in keys.items():
            if line.startswith(prefix) and "=" in line and name not in out:
                out[name] = int(line.split("=")[1].strip().replace(",", ""))
    return out


def light_sample(t0: float) -> dict:
    """Cheap enough for every 30 s under load (a few ms)."""
    return {"t": round(time.time() - t0), "rss_mb": round(rss_mb(), 1), "gc_count": gc.get_count(),
            "threads": threading.active_count(), **malloc_mb(),
            "pymalloc_arenas": pymalloc_summary().get("arenas"),
            **({"traced_mb": round(tracemalloc.get_traced_memory()[0] / 2**20, 1)}
               if tracemalloc.is_tracing() else {})}


class Census:
    def __init__(self) -> None:
        self.first_snapshot: tracemalloc.Snapshot | None = None

    def take(self, collect: bool) -> dict:
        t = time.perf_counter()
        objs = gc.get_objects()
        by_gen = [len(gc.get_objects(g)) for g in range(3)]
        types = Counter(type(o).__name__ for o in objs)
        del objs
        result = {"rss_mb": round(rss_mb(), 1), "objects": sum(types.values()), "by_generation": by_gen,
                  "frozen": gc.get_freeze_count(), "types": dict(types.most_common(40)),
                  "malloc": malloc_mb(), "pymalloc": pymalloc_summary(),
                  "threads": [th.name for th in threading.enumerate()]}
        if tracemalloc.is_tracing():
            snap = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(False, tracemalloc.__file__)])
            if self.first_snapshot is None:
                self.first_snapshot = snap
            else:
                result["tracemalloc_growth"] = [
                    f"{s.size_diff / 1024:+.0f} kB {s.count_diff:+d} {s.traceback}"
                    for s in snap.compare_to(self.first_snapshot, "lineno")[:25]]
        if collect:
            # What the collector finds unreachable (cycles), by type: kept aside, then freed.
            gc.set_debug(gc.DEBUG_SAVEALL)
            result["collected"] = gc.collect()
            result["garbage_types"] = dict(Counter(type(o).__name__ for o in gc.garbage).most_common(25))
            result["garbage_sample"] = _garbage_cycles()
            gc.set_debug(0)
            gc.garbage.clear()
            gc.collect()
            result["rss_after_collect_mb"] = round(rss_mb(), 1)
            result["pymalloc_after_collect"] = pymalloc_summary()
            if _libc is not None:
                _libc.malloc_trim(0)
                result["rss_after_malloc_trim_mb"] = round(rss_mb(), 1)
                result["malloc_after_trim"] = malloc_mb()
        result["census_ms"] = round((time.perf_counter() - t) * 1000, 1)
        return result



def _garbage_cycles(limit: int = 5) -> list[str]:
    """For a few frames and functions among the garbage: where they come from (the code that
    made the cycle: a frame kept by an exception's traceback, a closure...)."""
    seen = Counter()
    for o in gc.garbage:
        code = getattr(o, "f_code", None) or getattr(o, "__code__", None)
        if code is not None:
            seen[f"{type(o).__name__} {code.co_name} {code.co_filename.rsplit('/', 2)[-1]}:{code.co_firstlineno}"] += 1
        elif isinstance(o, BaseException):
            seen[f"exception {type(o).__name__}: {str(o)[:60]}"] += 1
    return [f"{n}× {what}" for what, n in seen.most_common(limit * 3)]
