"""A subscriber of the engine's live feed (its control socket), in a thread of its own, for
tests and benchmarks: it records every event with the instant it arrived."""
from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path


class FeedReader(threading.Thread):
    def __init__(self, socket_path: Path | str):
        super().__init__(daemon=True)
        self.path = Path(socket_path)
        self.events: list[tuple[float, dict]] = []      # (time.monotonic(), {"topic", "payload"})
        self.connected = threading.Event()
        self.stop = threading.Event()

    def run(self) -> None:
        asyncio.run(self._read())

    async def _read(self) -> None:
        reader, writer = await asyncio.open_unix_connection(str(self.path), limit=2**20)
        writer.write(b'{"cmd": "subscribe"}\n')
        await writer.drain()
        self.connected.set()
        while not self.stop.is_set():
            try:
                line = await asyncio.wait_for(reader.readline(), 0.2)
            except TimeoutError:
                continue
            if not line:
                break
            self.events.append((time.monotonic(), json.loads(line)))
        writer.close()

    def topics(self, prefix: str) -> list[tuple[float, dict]]:
        """(arrival, payload) of the events whose topic starts with `prefix`."""
        return [(t, e["payload"]) for t, e in list(self.events) if e["topic"].startswith(prefix)]
