"""The engine's supervision of the channels worker (ivr/channels/worker.py): started as a child
process, started again with back-off whenever it ends, stopped with the engine. See
ivr/channels/README.md "Worker process"."""
from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

log = logging.getLogger(__name__)


def backoff_after(failures: int, first_s: float = 1.0, most_s: float = 30.0) -> float:
    """1 s, 2 s, 4 s … at most 30 s before the n-th restart in a row."""
    return min(most_s, first_s * 2 ** max(0, failures - 1))


def exit_reason(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


class ChannelWorker:
    def __init__(self, config_file: Path, *, verbose: bool = True, healthy_after_s: float = 60.0,
                 on_restart: Callable[[], Awaitable[object]] | None = None) -> None:
        self.argv = [sys.executable, "-m", "ivr", "--config", str(config_file),
                     *(["-v"] if verbose else []), "channels-worker"]
        self.healthy_after_s = healthy_after_s
        self.on_restart = on_restart     # the engine's TaskHub.catch_up: what the last one stored
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    async def run(self) -> None:
        """Forever (until cancelled): keep one worker running. Its log lines go where the
        engine's go (inherited stdout/stderr)."""
        failures = 0
        try:
            while True:
                started = time.monotonic()
                self.process = await asyncio.create_subprocess_exec(*self.argv)
                self.starts += 1
                log.info("channels worker started (pid %d)", self.process.pid)
                if self.starts > 1 and self.on_restart is not None:
                    await self._catch_up()
                code = await self.process.wait()
                failures = 1 if time.monotonic() - started > self.healthy_after_s else failures + 1
                delay = backoff_after(failures)
                log.error("channels worker (pid %d) ended: %s; starting it again in %.0f s "
                          "(mails stay unseen on the server until stored: none is lost)",
                          self.process.pid, exit_reason(code), delay)
                await asyncio.sleep(delay)
        finally:
            self._terminate()

    async def _catch_up(self) -> None:
        try:
            await self.on_restart()
        except Exception:   # noqa: BLE001 — the CRM may be down: the next restart of the engine reloads
            log.exception("after the channels worker's restart, its stored tasks could not be re-read")

    def _terminate(self) -> None:
        """SIGTERM now; the worker also stops by itself once its parent is gone."""
        proc = self.process
        if proc is not None and proc.returncode is None:
            try:
                proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass

    async def stop(self, timeout_s: float = 5.0) -> None:
        proc = self.process
        if proc is None or proc.returncode is not None:
            return
        self._terminate()
        try:
            await asyncio.wait_for(proc.wait(), timeout_s)
        except asyncio.TimeoutError:
            log.warning("channels worker (pid %d) did not stop in %.0f s; killing it", proc.pid, timeout_s)
            proc.kill()
            await proc.wait()
