"""Several sites, one ACD (issue 16), through two real Asterisk instances: site paris is the
sandbox of IVR_SANDBOX_DIR, site lyon a second copy (IVR_SANDBOX_DIR_B, default `<dir>-b`,
copied from the first when missing), on another port range. Agents are SIPp phones homed at
one site each. A call entering lyon reaches an agent homed at paris through the trunk; then
lyon's Asterisk is stopped mid-traffic: its agents are paused with the reason, paris keeps
serving its callers, a call talking at paris goes on; lyon back, its agents are ready again.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from hotline_lab.lab import PROJECT, Lab
from hotline_lab.sandbox import Sandbox
from hotline_lab.settings import SANDBOX_DIR_ENV, SandboxSettings
from hotline_lab.sipp import AwaitHangup, Pause, Press, Sipp
from tests.integration.conftest import BASE_PORT, OFFICE_HOURS, lab_config, sounds_of

pytestmark = pytest.mark.asterisk

LYON_BASE = BASE_PORT + 500
OPERATOR = [Pause(1.5), Press("0"), AwaitHangup(90)]       # dialplans/minimal.yaml: 0 = a person
SIP_PORTS = {"paris": BASE_PORT + 60, "lyon": LYON_BASE + 60}


def _second_chroot() -> Path:
    first = Path(os.environ.get(SANDBOX_DIR_ENV) or PROJECT / ".cache/sandbox").resolve()
    second = Path(os.environ.get("IVR_SANDBOX_DIR_B") or f"{first}-b").resolve()
    if not (second / "root/usr/sbin/asterisk").exists():
        assert (first / "root/usr/sbin/asterisk").exists(), f"no sandbox built in {first}"
        shutil.rmtree(second, ignore_errors=True)
        subprocess.run(["cp", "-a", str(first), str(second)], check=True)
    return second


@pytest.fixture(scope="module")
def sites(lab: Lab, tmp_path_factory):
    """paris in the session's chroot (its single-site Asterisk is stopped meanwhile and
    started again after), lyon in the second chroot."""
    lab.sandbox.down(log=lambda *_: None)
    folder = tmp_path_factory.mktemp("sites")
    config = lab_config(folder, PROJECT / "dialplans/minimal.yaml", sounds_of(lab), extra={"sites": [
        {"name": "paris", "ami": {"host": "127.0.0.1", "port": BASE_PORT + 38},
         "trunk": "to-paris", "agents": ["alice", "bob"]},
        {"name": "lyon", "ami": {"host": "127.0.0.1", "port": LYON_BASE + 38},
         "trunk": "to-lyon", "agents": ["carol", "dave"], "down_after_s": 1.0}]},
        # RTP: lyon 2000-2399, paris 2400-2799; SIPp media above (Lab: rtp_end + …)
        sandbox={"site": "paris", "site_sip_ports": SIP_PORTS,
                 "rtp_start": BASE_PORT + 2400, "rtp_end": BASE_PORT + 2799})
    paris = Lab(config)
    lyon = Sandbox(paris.settings, SandboxSettings(
        dir=str(_second_chroot()), sip_port=SIP_PORTS["lyon"], rtp_start=BASE_PORT + 2000,
        rtp_end=BASE_PORT + 2399, agent_phone_base_port=paris.box.agent_phone_base_port,
        callback_port=LYON_BASE + 90, site="lyon", site_sip_ports=SIP_PORTS))
    paris.up(log=lambda *_: None)
    lyon.down(log=lambda *_: None)
    lyon.up(log=lambda *_: None)
    yield paris, lyon
    paris.down()
    lyon.down(log=lambda *_: None)
    lab.up(log=lambda *_: None)


def _agents(lab: Lab) -> dict[str, dict]:
    return {a["agent"]: a for a in json.loads(lab.ivr("agents", "--format", "json").stdout)}


def _until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting: {what}"
        time.sleep(0.3)


def test_a_call_at_one_site_reaches_an_agent_at_the_other_and_a_site_down_takes_out_only_its_agents(sites):
    paris, lyon = sites
    at_lyon = Sipp(lyon)
    paris.start_engine("--clock", OFFICE_HOURS, "--no-agents-ready")
    try:
        # 1. A caller at lyon, only alice (homed at paris) logged in: rung through the trunk
        paris.ivr("agent", "login", "alice")
        paris.start_phones(only={"alice": 0.5}, talk_seconds=2.0)
        media = paris.box.rtp_end + 600
        call = at_lyon.call("0611000160", "100", OPERATOR, LYON_BASE + 200, media)
        assert call.wait(90) == 0, at_lyon.errors("caller", LYON_BASE + 200)
        crossed = paris.call_record("0611000160")
        assert crossed["agent"] == "alice" and crossed["disposition"] == "answered", crossed
        assert crossed["call_id"].startswith("lyon-") and crossed["site"] == "lyon"   # lyon took it…
        cdr = (lyon.root / "var/log/asterisk/cdr-csv/Master.csv").read_text()
        assert any("0611000160" in line and "PJSIP/alice@to-paris" in line
                   for line in cdr.splitlines()), "…and rang alice through the trunk to paris"

        # 2. A talk at paris (alice, 25 s), the lyon agents logged in, then lyon stops
        paris.start_phones(answer_after=0.5, talk_seconds=25.0)
        talking = paris.call("0611000161", OPERATOR)
        _until(lambda: _agents(paris)["alice"]["state"] == "on-call", 30, "alice talking")
        for agent in ("bob", "carol", "dave"):
            paris.ivr("agent", "login", agent)
        lyon.down(log=lambda *_: None)
        # down_after_s 1 + a 0.5 s poll; the bound leaves room for `ivr agents` on a loaded box
        _until(lambda: {a["state"] for n, a in _agents(paris).items() if n in ("carol", "dave")}
               == {"paused"}, 10, "lyon's agents paused")
        agents = _agents(paris)
        assert agents["carol"]["reason"] == agents["dave"]["reason"] == "site lyon unreachable"
        assert agents["bob"]["state"] == "ready" and agents["alice"]["state"] == "on-call"
        assert "site lyon unreachable: no AMI link" in paris.log_text()
        links = {s["site"]: s for s in json.loads(paris.ivr("sites", "--format", "json").stdout)["rows"]}
        assert (links["lyon"]["link"], links["lyon"]["state"], links["lyon"]["paused_for_site"]) \
            == ("down", "down", 2)
        assert (links["paris"]["link"], links["paris"]["state"]) == ("up", "up")

        # 3. paris serves its callers meanwhile: bob, the one ready agent left
        served = paris.call("0611000162", OPERATOR)
        assert served.wait(90) == 0
        assert paris.call_record("0611000162", timeout=40)["agent"] == "bob"
        # the talk at paris spanned the outage and ended normally
        assert talking.wait(90) == 0
        talk = paris.call_record("0611000161")
        assert talk["agent"] == "alice" and talk["disposition"] == "answered"
        assert talk["talk_seconds"] >= 20 and talk["site"] == "paris", talk

        # 4. lyon back: its agents are ready again
        lyon.up(log=lambda *_: None)
        _until(lambda: {a["state"] for n, a in _agents(paris).items() if n in ("carol", "dave")}
               == {"ready"}, 20, "lyon's agents ready again")
        assert "site lyon reachable again" in paris.log_text()

        # 5. the figures split by the site that took each call
        report = json.loads(paris.ivr("report", "--by", "site", "--format", "json").stdout)
        assert {g["group"]: g["answered"] for g in report["groups"]} == {"lyon": 1, "paris": 2}
    finally:
        paris.stop_phones()
        paris.stop_engine()
