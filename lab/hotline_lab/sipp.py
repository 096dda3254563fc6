"""SIPp callers and agent phones for the sandbox (tests, the demo, bench/load.py).

Scenarios are generated from a few steps so each test says what its caller does: pause, press a
key (RFC 4733 captures made here), stream speech audio, hang up, or wait for the hotline to hang
up. SIPp runs inside the sandbox chroot (it comes with it) on loopback.
"""
from __future__ import annotations

import itertools
import re
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from hotline_lab.sandbox import Sandbox, SandboxError

DTMF_EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}
SCENARIO_DIR = "tmp/ivr-sipp"          # inside the chroot
_counter = itertools.count()
MAX_PRESSES = 80                       # key presses one scripted call may make

_HEAD = '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="{name}">\n'
_OK_TO_BYE = """  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0

    ]]>
  </send>
"""


@dataclass(frozen=True)
class Pause:
    seconds: float


@dataclass(frozen=True)
class Press:
    key: str


@dataclass(frozen=True)
class Speak:
    """Stream a raw µ-law 8 kHz file (inside the chroot) as the caller's voice."""
    chroot_path: str
    seconds: float


@dataclass(frozen=True)
class CallerHangsUp:
    """The caller puts the phone down (sends BYE) at this point of the script."""


@dataclass(frozen=True)
class AwaitHangup:
    """Stay on the line until the hotline hangs up (at most `timeout` seconds)."""
    timeout: float = 120


Step = Pause | Press | Speak | CallerHangsUp | AwaitHangup


def caller_scenario(caller: str, steps: list[Step], name: str | None = None) -> str:
    """`name`: the caller-ID name sent (default "Caller <number>"); tests send hostile ones."""
    name = f"Caller {caller}" if name is None else name
    if any(bad in name for bad in ('"', "\\", "[", "]]>", "\n")):
        raise ValueError(f"caller-ID name {name!r}: no quote, backslash, '[' or line break "
                         "(they would break the SIP header or the SIPp scenario)")
    speech = any(isinstance(s, Speak) for s in steps)
    presses = 0
    media_port = "[rtpstream_audio_port]" if speech else "[media_port]"
    out = [_HEAD.format(name="hotline-caller"), f"""  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "{name}" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:{caller}@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=caller 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio {media_port} RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
      a=sendrecv

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true"/>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "{name}" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: sip:{caller}@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
"""]
    for step in steps:
        if isinstance(step, (Pause, Press, Speak)):
            out.append(_media_step(step, presses))
            presses += isinstance(step, Press)
        elif isinstance(step, CallerHangsUp):
            out.append(f"""  <send retrans="500">
    <![CDATA[
      BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "{name}" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"/>
""")
        elif isinstance(step, AwaitHangup):
            out.append(f'  <recv request="BYE" timeout="{int(step.timeout * 1000)}"/>\n' + _OK_TO_BYE)
    out.append("</scenario>\n")
    return "".join(out)


def _media_step(step: Pause | Press | Speak, presses: int) -> str:
    """A pause, a key (the `presses`-th of the call) or speech, in a call already up."""
    if isinstance(step, Pause):
        return f'  <pause milliseconds="{int(step.seconds * 1000)}"/>\n'
    if isinstance(step, Press):
        if presses >= MAX_PRESSES:
            raise ValueError(f"a scripted call may press at most {MAX_PRESSES} keys "
                             "(hotline_lab/sipp.py MAX_PRESSES); split the call or raise the limit")
        return (f'  <nop><action><exec play_pcap_audio="{pcap_for(step.key, presses)}"/>'
                f'</action></nop>\n  <pause milliseconds="300"/>\n')
    out = f'  <nop><action><exec rtp_stream="{step.chroot_path},1,0"/></action></nop>\n'
    if step.seconds > 0:
        out += f'  <pause milliseconds="{int(step.seconds * 1000)}"/>\n'
    return out


def pcap_for(key: str, index: int) -> str:
    """Path (inside the chroot) of the RFC 4733 capture for the `index`-th key of a call.

    SIPp replays a capture's RTP headers as they are, and Asterisk drops an event whose
    sequence number goes backwards: the captures shipped with SIPp come from one stream, so
    pressing 2 then 1 lost the 1. Each press gets its own capture, numbered after the last."""
    return f"/{SCENARIO_DIR}/dtmf/{index:02d}-{DTMF_EVENTS[key]}.pcap"


def dtmf_pcap(key: str, index: int) -> bytes:
    """A libpcap file with one RFC 4733 event (payload type 101), sequence numbers and RTP
    timestamp placed after the index-1 earlier presses of the same call."""
    event = DTMF_EVENTS[key]
    seq0, ts = 1000 + index * 20, 8000 + index * 16000
    packets, t = [], 0.0
    durations = [0, 320, 640, 960, 1280, 1600, 1920, 1920, 1920]
    for n, duration in enumerate(durations):
        end = 0x80 if n >= 6 else 0x00              # the end bit, sent three times
        payload = struct.pack("!BBH", event, end | 10, duration)
        marker = 0x80 if n == 0 else 0x00
        rtp = struct.pack("!BBHII", 0x80, marker | 101, seq0 + n, ts, 0x5EED) + payload
        packets.append((t, _ip_udp(rtp)))
        t += 0.02
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for at, frame in packets:
        out.append(struct.pack("<IIII", int(at), int((at % 1) * 1e6), len(frame), len(frame)))
        out.append(frame)
    return b"".join(out)


def _ip_udp(payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", 8000, 8000, 8 + len(payload), 0) + payload
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                         bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
    words = struct.unpack("!10H", header)
    total = sum(words)
    total = (total & 0xFFFF) + (total >> 16)
    checksum = ~((total & 0xFFFF) + (total >> 16)) & 0xFFFF
    header = header[:10] + struct.pack("!H", checksum) + header[12:]
    ethernet = b"\x00" * 12 + b"\x08\x00"
    return ethernet + header + udp


def agent_scenario(answer_after: float | None, talk_seconds: float = 3.0) -> str:
    """An agent phone: rings, answers after `answer_after` s (None: never answers), talks,
    then hangs up. SIPp serves every incoming call with this scenario."""
    head = _HEAD.format(name="agent-phone") + """  <recv request="INVITE" crlf="true">
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" check_it="true" assign_to="remote_from"/>
      <ereg regexp=".*" search_in="hdr" header="To:" check_it="true" assign_to="local_to"/>
      <ereg regexp="sip:[^>;]*" search_in="hdr" header="Contact:" check_it="true" assign_to="remote_contact"/>
      <ereg regexp="[0-9]+" search_in="hdr" header="CSeq:" check_it="true" assign_to="invite_cseq"/>
    </action>
  </recv>
  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0

    ]]>
  </send>
"""
    if answer_after is None:
        return head + """  <recv request="CANCEL"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <send>
    <![CDATA[
      SIP/2.0 487 Request Terminated
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      CSeq: [$invite_cseq] INVITE
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK"/>
</scenario>
"""
    return head + f"""  <pause milliseconds="{int(answer_after * 1000)}"/>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=agent 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000

    ]]>
  </send>
  <recv request="ACK" optional="false"/>
  <pause milliseconds="{int(talk_seconds * 1000)}"/>
  <send retrans="500">
    <![CDATA[
      BYE [$remote_contact] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$local_to];tag=[pid]SIPpTag01[call_number]
      To: [$remote_from]
      Call-ID: [call_id]
      CSeq: [$invite_cseq] BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
</scenario>
"""


def customer_scenario(answer_after: float | None, steps: list[Step], busy: bool = False) -> str:
    """The phone of a customer an outbound campaign calls (issue 15): busy (486 at once),
    never answering (None), or answering after `answer_after` s, then pauses, presses keys or
    speaks (`steps`), and either waits for the hotline's BYE (an AwaitHangup step) or hangs
    up itself. SIPp serves every incoming call with it."""
    if busy:
        return _HEAD.format(name="customer-busy") + """  <recv request="INVITE"/>
  <send>
    <![CDATA[
      SIP/2.0 486 Busy Here
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK"/>
</scenario>
"""
    if answer_after is None:
        return agent_scenario(None)
    speech = any(isinstance(step, Speak) for step in steps)
    answered = agent_scenario(answer_after, 0)
    if speech:
        answered = answered.replace("m=audio [media_port]", "m=audio [rtpstream_audio_port]")
    # the agent's phone without talk time: the steps go where its (zero) talk pause is
    head, _, hangup = answered.partition('  <pause milliseconds="0"/>\n')
    body, presses = [], 0
    for step in steps:
        if isinstance(step, (Pause, Press, Speak)):
            body.append(_media_step(step, presses))
            presses += isinstance(step, Press)
        elif isinstance(step, AwaitHangup):      # the hotline's BYE: no header of ours needed
            head = re.sub(r"\s*<action>.*?</action>", "", head, count=1, flags=re.S)
            return head + "".join(body) + (f'  <recv request="BYE" timeout="{int(step.timeout * 1000)}"/>\n'
                                           + _OK_TO_BYE + "</scenario>\n")
    return head + "".join(body) + hangup


class Sipp:
    """Runs SIPp inside the sandbox chroot.

    Creating one writes nothing: the scenarios and DTMF captures go into the chroot only once
    it is built, since a chroot folder that exists before the build stops the build's final
    rename (bench/load.py on a fresh machine)."""

    def __init__(self, sandbox: Sandbox):
        self.sandbox = sandbox
        self.dir = sandbox.root / SCENARIO_DIR
        self.sip_port = sandbox.box.sip_port
        self._captures_written = False

    def _write_captures(self) -> None:
        if self._captures_written:
            return
        if not self.sandbox.is_built():
            raise SandboxError(f"the sandbox in {self.sandbox.base} is not built, so SIPp cannot "
                               "run: `python -m hotline_lab sandbox build` (or start the lab) first")
        dtmf = self.dir / "dtmf"
        dtmf.mkdir(parents=True, exist_ok=True)
        for index in range(MAX_PRESSES):
            for key in DTMF_EVENTS:
                path = dtmf / f"{index:02d}-{DTMF_EVENTS[key]}.pcap"
                if not path.exists():
                    path.write_bytes(dtmf_pcap(key, index))
        self._captures_written = True

    def _write(self, name: str, xml: str) -> str:
        self._write_captures()
        path = self.dir / f"{name}-{next(_counter)}.xml"
        path.write_text(xml)
        return "/" + str(path.relative_to(self.sandbox.root))

    def call(self, caller: str, exten: str, steps: list[Step], local_port: int,
             media_port: int, timeout: float = 180, name: str | None = None) -> subprocess.Popen:
        """Place one call (returns the running SIPp; `.wait()` gives 0 if it went as scripted)."""
        scenario = self._write("caller", caller_scenario(caller, steps, name))
        cmd = ["chroot", str(self.sandbox.root), "sipp", f"127.0.0.1:{self.sip_port}",
               "-sf", scenario, "-s", exten, "-i", "127.0.0.1", "-p", str(local_port),
               "-mp", str(media_port), "-m", "1", "-nostdin", "-timeout", f"{int(timeout)}s",
               "-timeout_error", "-trace_err", "-error_file", f"/{SCENARIO_DIR}/caller-{local_port}.err"]
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL)

    def phone(self, port: int, media_port: int, answer_after: float | None,
              talk_seconds: float = 3.0) -> subprocess.Popen:
        """Start an agent phone listening on `port` until stopped."""
        scenario = self._write("agent", agent_scenario(answer_after, talk_seconds))
        cmd = ["chroot", str(self.sandbox.root), "sipp", "-sf", scenario, "-i", "127.0.0.1",
               "-p", str(port), "-mp", str(media_port), "-nostdin", "-trace_err",
               "-error_file", f"/{SCENARIO_DIR}/agent-{port}.err"]
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL)

    def customer(self, port: int, media_port: int, answer_after: float | None,
                 steps: list[Step], busy: bool = False) -> subprocess.Popen:
        """Start a customer's phone (customer_scenario) listening on `port` until stopped."""
        scenario = self._write("customer", customer_scenario(answer_after, steps, busy))
        # its own RTP ports (4 from media_port): many customers stream greetings at once
        cmd = ["chroot", str(self.sandbox.root), "sipp", "-sf", scenario, "-i", "127.0.0.1",
               "-p", str(port), "-mp", str(media_port), "-max_rtp_port", str(media_port + 3),
               "-nostdin", "-trace_err",
               "-error_file", f"/{SCENARIO_DIR}/customer-{port}.err"]
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL)

    def errors(self, kind: str, port: int) -> str:
        path = self.dir / f"{kind}-{port}.err"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
