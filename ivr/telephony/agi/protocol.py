"""The AGI line protocol as a state machine with no I/O (in the manner of h11).

Feed bytes from Asterisk with `receive_data()`, take events with `next_event()`, and get the
bytes of a command with `send_command()`. One command is outstanding at a time: Asterisk
answers in order, and a byte sent during WAIT FOR DIGIT ends that wait early: `interrupt()`
gives the NOOP for that and owes its reply after the wait's. Every state change happens here;
the adapter only moves bytes. `hung_up` says whether what was parsed shows the caller gone.

Shapes handled (res_agi.c, Asterisk 22):
  header     `agi_name: value` lines, ended by a blank line (values may be empty)
  replies    `200 result=N [(data)] [endpos=N]`, `510 Invalid or unknown command`,
             `511 Command Not Permitted on a dead channel or intercept routine`,
             `520-Invalid command syntax...` … `520 End of proper usage.`
  hangup     an unsolicited `HANGUP` line when the caller hangs up (unless AGISIGHUP=no)
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum, auto

MAX_LINE = 8192          # longer lines are a broken or hostile peer, not Asterisk
MAX_HEADER_LINES = 200


@dataclass(frozen=True)
class Environment:
    """The `agi_*` variables Asterisk sends first (keys without the `agi_` prefix)."""
    values: dict[str, str]

    def get(self, key: str, default: str = "") -> str:
        return self.values.get(key, default)

    @property
    def args(self) -> list[str]:
        """`agi_arg_1`, `agi_arg_2`… in order."""
        out, n = [], 1
        while f"arg_{n}" in self.values:
            out.append(self.values[f"arg_{n}"])
            n += 1
        return out


@dataclass(frozen=True)
class Reply:
    code: int
    result: int | None = None
    data: str | None = None
    endpos: int | None = None
    text: str = ""           # the raw line(s), for logs and errors

    @property
    def ok(self) -> bool:
        return self.code == 200


@dataclass(frozen=True)
class HangupNotice:
    """Asterisk says the caller hung up; later commands may get 511."""


@dataclass(frozen=True)
class ProtocolError:
    message: str


class NeedData:
    """Nothing complete yet: feed more bytes."""


NEED_DATA = NeedData()
Event = Environment | Reply | HangupNotice | ProtocolError | NeedData

_REPLY_200 = re.compile(
    r"^200 result=(?P<result>-?\d+)(?: \((?P<data>.*)\))?(?: endpos=(?P<endpos>-?\d+))?\s*$")


class State(Enum):
    HEADER = auto()
    IDLE = auto()           # header read, no command outstanding
    AWAITING_REPLY = auto()
    CLOSED = auto()         # protocol error or peer gone: nothing more is parsed


class LocalProtocolError(Exception):
    """Our own misuse of the protocol (a second command while one is outstanding)."""


# Commands whose `result=-1` can only mean the channel is gone (res_agi.c). STREAM FILE is not
# one: it also answers -1 for a missing sound file.
HANGUP_ON_MINUS_ONE = ("WAIT FOR DIGIT",)


@dataclass
class AgiConnection:
    state: State = State.HEADER
    _buffer: bytearray = field(default_factory=bytearray)
    _header: dict[str, str] = field(default_factory=dict)
    _usage: list[str] = field(default_factory=list)     # lines of a 520- block
    _header_lines: int = 0
    _eof: bool = False       # the peer closed: an unfinished header is then an error
    _awaiting: list[str] = field(default_factory=list)  # commands owed a reply, in order
    # The caller is gone: a HANGUP line, a 511 reply, a -1 that only a hang-up gives, or the
    # peer closing the connection after the header.
    hung_up: bool = False

    def receive_data(self, data: bytes) -> None:
        """Add bytes from the peer; b"" means the peer closed the connection."""
        if self.state is State.CLOSED:
            return                    # a broken session buffers nothing more
        if data == b"":
            self._eof = True
            if self.state is not State.HEADER:
                self.hung_up = True   # Asterisk ends FastAGI when the channel goes
        self._buffer += data

    def send_command(self, command: str) -> bytes:
        """Record `command` as outstanding and return the bytes to send."""
        if self.state is not State.IDLE:
            raise LocalProtocolError(f"cannot send {command!r} in state {self.state.name}")
        if "\n" in command or "\r" in command:
            raise LocalProtocolError(f"AGI command must be one line: {command!r}")
        self.state = State.AWAITING_REPLY
        self._awaiting.append(command)
        return command.encode() + b"\n"

    def interrupt(self) -> bytes:
        """The bytes that end the outstanding command early (a WAIT FOR DIGIT answers
        result=1 at once): a NOOP, whose own reply then follows the command's."""
        if self.state is not State.AWAITING_REPLY or len(self._awaiting) != 1:
            raise LocalProtocolError(f"nothing to interrupt in state {self.state.name} "
                                     f"(outstanding: {self._awaiting})")
        self._awaiting.append("NOOP")
        return b"NOOP\n"

    def next_event(self) -> Event:
        while True:
            if self.state is State.CLOSED:
                return NEED_DATA
            line = self._next_line()
            if isinstance(line, (NeedData, ProtocolError)):
                return line
            event = self._handle_line(line)
            if event is not None:
                return event

    # ---- internals -----------------------------------------------------------------------

    def _next_line(self) -> str | NeedData | ProtocolError:
        newline = self._buffer.find(b"\n")
        if newline < 0:
            if len(self._buffer) > MAX_LINE:
                return self._fail(f"line longer than {MAX_LINE} bytes from Asterisk")
            if self._eof and self.state is State.HEADER:
                return self._fail("Asterisk closed the connection before the AGI header ended")
            return NEED_DATA
        if newline > MAX_LINE:
            return self._fail(f"line longer than {MAX_LINE} bytes from Asterisk")
        raw = bytes(self._buffer[:newline])
        del self._buffer[: newline + 1]
        return raw.decode("utf-8", errors="replace").rstrip("\r")

    def _fail(self, message: str) -> ProtocolError:
        self.state = State.CLOSED
        self._buffer.clear()
        return ProtocolError(message)

    def _handle_line(self, line: str) -> Event | None:
        if self.state is State.HEADER:
            return self._header_line(line)
        if line == "HANGUP":
            self.hung_up = True
            return HangupNotice()
        if self.state is State.IDLE:
            if not line.strip():
                return None
            return self._fail(f"unexpected line from Asterisk with no command pending: {line!r}")
        return self._reply_line(line)

    def _header_line(self, line: str) -> Event | None:
        if not line.strip():
            if not self._header:
                return None             # tolerate leading blank lines
            self.state = State.IDLE
            return Environment({k.removeprefix("agi_"): v for k, v in self._header.items()})
        self._header_lines += 1
        if self._header_lines > MAX_HEADER_LINES:
            return self._fail("AGI header has too many lines")
        name, sep, value = line.partition(":")   # values may be empty; split on the first ':'
        if not sep or not name.startswith("agi_"):
            return self._fail(f"malformed AGI header line: {line[:80]!r}")
        self._header[name.strip()] = value.strip()
        return None

    def _reply_line(self, line: str) -> Event | None:
        if self._usage or line.startswith("520-"):
            self._usage.append(line)
            if line.startswith("520 "):
                text = "\n".join(self._usage)
                self._usage = []
                self._replied()
                return Reply(code=520, text=text)
            if len(self._usage) > MAX_HEADER_LINES:
                return self._fail("520 usage block never ended")
            return None
        code_text = line[:3]
        if not code_text.isdigit():
            return self._fail(f"malformed AGI reply: {line[:80]!r}")
        code = int(code_text)
        command = self._replied()
        if code == 200:
            m = _REPLY_200.match(line)
            if not m:
                return self._fail(f"malformed 200 reply: {line[:80]!r}")
            result, endpos = int(m.group("result")), m.group("endpos")
            if result == -1 and command.upper().startswith(HANGUP_ON_MINUS_ONE):
                self.hung_up = True
            return Reply(200, result, m.group("data"),
                         int(endpos) if endpos is not None else None, line)
        if code == 511:               # the channel is dead: only a hang-up gives that
            self.hung_up = True
        return Reply(code=code, text=line)

    def _replied(self) -> str:
        """A reply came: it answers the oldest outstanding command (returned)."""
        command = self._awaiting.pop(0) if self._awaiting else ""
        self.state = State.AWAITING_REPLY if self._awaiting else State.IDLE
        return command
