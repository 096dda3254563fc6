"""SMS over SIP for the sandbox: a SIPp UAC that sends one SIP MESSAGE to the hotline (what an
SMS trunk does) and a SIPp UAS that takes the hotline's replies (MessageSend) and writes each
received MESSAGE to a log the tests read. A body may hold any bytes (tests send invalid UTF-8
on purpose): see SEND."""
from __future__ import annotations

import itertools
import subprocess
import time
import uuid

from hotline_lab.sipp import SCENARIO_DIR, Sipp

_counter = itertools.count()

# Declared UTF-8 although a body may not be: SIPp converts an ISO-8859-1 file's bytes to
# UTF-8 (é becomes Ã©) but copies a "UTF-8" file's bytes as they are, invalid ones included.
SEND = b"""<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="sms-send">
  <send retrans="500">
    <![CDATA[
      MESSAGE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:@FROM@@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 MESSAGE
      Max-Forwards: 70
      Content-Type: text/plain;charset=UTF-8
      Content-Length: [len]

@BODY@
    ]]>
  </send>
  <recv response="202"/>
</scenario>
"""

RECEIVE = b"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="sms-receive">
  <recv request="MESSAGE"/>
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
</scenario>
"""


def send_scenario(sender: str, body: bytes) -> bytes:
    if any(c in sender for c in "<>@\"\r\n "):
        raise ValueError(f"sender {sender!r}: no spaces, quotes, <, >, @")
    if b"]]>" in body:
        raise ValueError("the body may not contain ']]>' (it would end the scenario's CDATA)")
    return SEND.replace(b"@FROM@", sender.encode()).replace(b"@BODY@", body)


class SmsPhone:
    """Sends SMS to the hotline and receives its replies, through SIPp in the sandbox."""

    def __init__(self, sipp: Sipp, receive_port: int, send_port: int) -> None:
        self.sipp = sipp
        self.receive_port = receive_port
        self.send_port = send_port
        self.receiver: subprocess.Popen | None = None
        self.log = sipp.dir / f"sms-received-{receive_port}.log"

    def _write(self, name: str, xml: bytes) -> str:
        self.sipp._write_captures()      # also checks that the sandbox is built
        path = self.sipp.dir / f"{name}-{next(_counter)}.xml"
        path.write_bytes(xml)
        return "/" + str(path.relative_to(self.sipp.sandbox.root))

    def send(self, sender: str, body: bytes, to: str = "100", call_id: str | None = None,
             timeout: float = 15) -> str:
        """One MESSAGE, waiting for Asterisk's 202 Accepted; returns the Call-ID used."""
        call_id = call_id or f"{uuid.uuid4()}@sms.test"
        if any(c in call_id for c in "%<>\r\n "):
            raise ValueError(f"Call-ID {call_id!r}: no spaces, %, < or >")
        scenario = self._write("sms-send", send_scenario(sender, body))
        err = f"/{SCENARIO_DIR}/sms-send-{self.send_port}.err"
        run = subprocess.run(
            ["chroot", str(self.sipp.sandbox.root), "sipp", f"127.0.0.1:{self.sipp.sip_port}",
             "-sf", scenario, "-s", to, "-cid_str", call_id, "-i", "127.0.0.1", "-p", str(self.send_port), "-m", "1",
             "-nostdin", "-timeout", f"{int(timeout)}s", "-timeout_error", "-trace_err",
             "-error_file", err], capture_output=True, timeout=timeout + 10)
        if run.returncode != 0:
            errors = (self.sipp.sandbox.root / err.lstrip("/"))
            raise AssertionError(f"SIPp MESSAGE failed ({run.returncode}): "
                                 f"{errors.read_text(errors='replace')[-2000:] if errors.exists() else ''}"
                                 f"{run.stderr.decode(errors='replace')[-1000:]}")
        return call_id

    def start_receiver(self) -> None:
        """A UAS answering 200 to each MESSAGE, every message traced to `self.log`."""
        self.log.unlink(missing_ok=True)
        scenario = self._write("sms-receive", RECEIVE)
        log_in_chroot = "/" + str(self.log.relative_to(self.sipp.sandbox.root))
        self.receiver = subprocess.Popen(
            ["chroot", str(self.sipp.sandbox.root), "sipp", "-sf", scenario, "-i", "127.0.0.1",
             "-p", str(self.receive_port), "-nostdin", "-trace_msg", "-message_file", log_in_chroot,
             "-message_overwrite", "false"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        time.sleep(0.5)

    def received(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_received(self, needle: str, timeout: float = 15) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.received()
            if needle in text:
                return text
            time.sleep(0.2)
        raise AssertionError(f"no MESSAGE with {needle!r} reached the SIPp receiver within {timeout} s; "
                             f"it got:\n{self.received()[-2000:]}")

    def stop(self) -> None:
        if self.receiver is not None and self.receiver.poll() is None:
            self.receiver.terminate()
            try:
                self.receiver.wait(5)
            except subprocess.TimeoutExpired:
                self.receiver.kill()
                self.receiver.wait()
        self.receiver = None
