"""Live MQTT events during a real call, received by a real mosquitto subscriber."""
from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from hotline_lab.lab import PROJECT, Lab
from hotline_lab.sipp import AwaitHangup, Pause, Press
from tests.integration.conftest import free_port, lab_config, sounds_of

pytestmark = pytest.mark.asterisk


@pytest.fixture
def broker(mqtt_broker: tuple[int, subprocess.Popen]) -> int:
    return mqtt_broker[0]


class Subscriber:
    def __init__(self, port: int):
        self.messages: list[tuple[str, dict]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("hotline/#")
        self.client.loop_start()

    def _on_message(self, client, userdata, message) -> None:
        with self.lock:
            self.messages.append((message.topic, json.loads(message.payload)))

    def topics(self, prefix: str) -> list[tuple[str, dict]]:
        with self.lock:
            return [(t, p) for t, p in self.messages if t.startswith(prefix)]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def mqtt_lab(lab: Lab, tmp_path: Path, port: int) -> Lab:
    return Lab(lab_config(tmp_path, PROJECT / "dialplans/minimal.yaml", sounds_of(lab),
                          extra={"mqtt": {"enabled": True, "host": "127.0.0.1", "port": port}}))


def test_call_events_and_screen_pop_reach_a_subscriber(lab, broker, tmp_path):
    sub = Subscriber(broker)
    hub = mqtt_lab(lab, tmp_path, broker)
    try:
        hub.start_engine()
        hub.start_phones(answer_after=1.0, talk_seconds=1.0)
        call = hub.call("0611000030", [Pause(1.5), Press("1"), AwaitHangup(60)])
        assert call.wait(90) == 0
        rec = hub.call_record("0611000030")
        time.sleep(1.0)
        call_topics = [t.rsplit("/", 1)[1] for t, _ in sub.topics(f"hotline/calls/{rec['call_id']}/")]
        assert call_topics == ["started", "queued", "offered", "answered", "ended"]
        pops = sub.topics(f"hotline/screenpop/{rec['agent']}")
        assert pops, "no screen-pop for the agent who was rung"
        pop = pops[-1][1]
        assert pop["caller"] == "0611000030" and pop["queue"] == "orders"
        assert [s["node"] for s in pop["path"]][:1] == ["main"]
        assert sub.topics(f"hotline/agents/{rec['agent']}")
        assert sub.topics("hotline/queues/orders")
    finally:
        sub.close()
        hub.stop_phones()
        hub.stop_engine()


def test_broker_down_does_not_touch_the_call(lab, tmp_path):
    hub = mqtt_lab(lab, tmp_path, free_port())          # nothing listens there
    try:
        hub.start_engine()
        hub.start_phones(answer_after=0.5, talk_seconds=1.0)
        started = time.monotonic()
        call = hub.call("0611000031", [Pause(1.5), Press("1"), AwaitHangup(60)])
        assert call.wait(90) == 0
        assert time.monotonic() - started < 15
        rec = hub.call_record("0611000031")
        assert rec["disposition"] == "answered"
        assert "MQTT broker" in hub.log_text()
    finally:
        hub.stop_phones()
        hub.stop_engine()
