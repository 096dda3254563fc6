"""The durable spool: CRM writes the database could not take wait here, on local disk,
until the writer replays them in order.

Layout of the spool directory (0700; files 0600, since they hold callers' numbers):
  <seq>-<unique>.jsonl   segments, replayed oldest (lowest seq) first; one write a line:
                         {"kind": "call"|"event"|"agent", "row": [...]}; an event or agent
                         row ends with its event_key (lines of older versions have none:
                         replayed as before, without the duplicate guard)
  rejected.jsonl         items the database refused for a data reason, set aside for a person
  .lock                  held (flock) by the one process that owns this spool

A segment is only ever appended to, so a line's index never changes: the replay records
"lines applied so far" per segment in the database, in the same transaction as the rows
(see writer.py), which makes an interrupted replay resume without duplicates. Segment
names are never reused, so a progress row left behind can never match a new segment.
Writes that are spooled after their commit in fact went through (its answer was lost) are
harmless too: calls are upserts, events are skipped by their event_key.

All methods do blocking file I/O: the store calls them through asyncio.to_thread.
"""
from __future__ import annotations

import fcntl
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import CrmError

Write = tuple[str, Any]              # ("call" | "event" | "agent", row tuple)
SEGMENT_MAX_BYTES = 8 * 1024 * 1024  # keeps a replay's memory bounded
REJECTED = "rejected.jsonl"


@dataclass
class SpooledLine:
    index: int                       # 0-based line number in its segment
    write: Write | None              # None: the line is unreadable (torn by a crash)
    text: str


class Spool:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self._lock_fd: int | None = None
        self._active: Path | None = None     # the segment this process appends to
        self._active_bytes = 0
        self._lines: dict[str, int] = {}     # segment name -> lines written
        self._applied: dict[str, int] = {}   # segment name -> lines known to be in the database
        # At open: the last row of each call a previous run spooled (reads must see them).
        self.spooled_calls: dict[str, tuple[Any, ...]] = {}

    @property
    def depth(self) -> int:
        """Writes waiting (lines a previous run left count fully until their replay starts)."""
        return sum(n - self._applied.get(name, 0) for name, n in self._lines.items())

    @property
    def rejected(self) -> Path:
        return self.dir / REJECTED

    # ------------------------------------------------------------ lifecycle
    def open(self) -> None:
        """Create the directory (0700), take its lock, count what a previous process left."""
        try:
            if not self.dir.is_dir():
                self.dir.mkdir(parents=True, mode=0o700)
                # 0700 whatever the umask; an existing directory is the operator's choice
                # (the files are 0600 in any case)
                os.chmod(self.dir, 0o700)
            fd = os.open(self.dir / ".lock", os.O_CREAT | os.O_RDWR, 0o600)
        except OSError as exc:
            raise CrmError(f"cannot use the CRM spool directory {self.dir}: {exc}. It must be a "
                           "writable local directory (crm.spool_dir in config/engine.yaml).") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            raise CrmError(f"the CRM spool {self.dir} is in use by another process (another "
                           "engine running?); give each engine its own crm.spool_dir") from exc
        self._lock_fd = fd
        for segment in self.segments():
            lines = self.read(segment)
            self._lines[segment.name] = len(lines)
            for line in lines:
                if line.write is not None and line.write[0] == "call" and line.write[1]:
                    self.spooled_calls[str(line.write[1][0])] = line.write[1]

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)          # releases the flock
            self._lock_fd = None

    # ------------------------------------------------------------ writing
    def segments(self) -> list[Path]:
        """Segments in replay order."""
        return sorted((p for p in self.dir.glob("*.jsonl") if p.name != REJECTED),
                      key=lambda p: (_seq(p), p.name))

    def append(self, writes: list[Write]) -> None:
        """Append and fsync: once this returns, the writes survive a crash or power cut."""
        if not writes:
            return
        data = "".join(encode(write) for write in writes).encode()
        if self._active is None or self._active_bytes >= SEGMENT_MAX_BYTES:
            self._start_segment()
        assert self._active is not None
        _append_durably(self._active, data)
        self._active_bytes += len(data)
        self._lines[self._active.name] = self._lines.get(self._active.name, 0) + len(writes)

    def _start_segment(self) -> None:
        seq = max((_seq(p) for p in self.segments()), default=0) + 1
        # time + random: unique forever, even after every segment has been removed
        path = self.dir / f"{seq:08d}-{time.time_ns():x}{secrets.token_hex(4)}.jsonl"
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        _fsync_dir(self.dir)                 # the new name itself must survive a crash
        self._active, self._active_bytes = path, 0

    def reject(self, text: str, reason: str) -> None:
        """Set aside an item the database refuses for a data reason (kept for a person)."""
        entry = _line({"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                       "reason": reason, "item": text})
        _append_durably(self.dir / REJECTED, entry.encode())

    # ------------------------------------------------------------ replaying
    def read(self, segment: Path) -> list[SpooledLine]:
        lines = []
        with open(segment, encoding="utf-8", errors="replace") as fh:
            for index, text in enumerate(fh):
                lines.append(SpooledLine(index, _parse(text), text.rstrip("\n")))
        return lines

    def mark_applied(self, segment: str, upto: int) -> None:
        self._applied[segment] = upto

    def remove(self, segment: Path) -> None:
        """A segment fully in the database: delete it (and stop appending to it)."""
        if segment == self._active:
            self._active = None
        segment.unlink(missing_ok=True)
        _fsync_dir(self.dir)
        self._lines.pop(segment.name, None)
        self._applied.pop(segment.name, None)


def encode(write: Write) -> str:
    """One spool line."""
    return _line({"kind": write[0], "row": list(write[1])})


def _line(obj: dict[str, Any]) -> str:
    # default=str: a stray non-JSON value must not cost the whole record
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str) + "\n"


def _parse(text: str) -> Write | None:
    try:
        obj = json.loads(text)
        kind, row = obj["kind"], obj["row"]
    except (ValueError, KeyError, TypeError):
        return None
    if kind not in ("call", "event", "agent") or not isinstance(row, list):
        return None
    return kind, tuple(row)


def _seq(path: Path) -> int:
    head = path.name.split("-", 1)[0]
    return int(head) if head.isdigit() else 0


def _append_durably(path: Path, data: bytes) -> None:
    """Append all of data and fsync; on failure (disk full) cut the file back to where it
    was, so a half-written line never glues itself to the next one."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        size = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError:
            try:
                os.ftruncate(fd, size)
            except OSError:
                pass                         # the reader skips a torn line anyway
            raise
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
