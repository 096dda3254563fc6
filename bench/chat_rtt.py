"""chat_rtt_ms: visitor → agent's desk → visitor, through the real servers (bench/channels.py).

An engine (`ivr serve`, channels.chat on its own port, no Asterisk) and a desk (`ivr desk
serve`); `chats` visitors (HTTP sessions with their server-sent event streams) and an
automated agent client per agent that signs in to the desk, follows its event stream
(/agent/<name>/events), accepts the chat offers and answers every visitor line through the
desk's reply endpoint, as the chat view does. One round trip: the visitor POSTs a line → the
engine stores it and publishes chat/<agent>/<task> → desk → the agent client's stream → its
reply POST → desk → engine (control socket) → stored → the visitor's stream shows the line."""
from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests
import yaml

from tests.desk.desk_server import BASE_PORT, IVR, PROJECT, desk_port, serve_desk

AGENTS = ("alice", "bob", "carol")
PASSWORD = "bench-secret-12"


def _config(work: Path, chat_port: int) -> Path:
    config = work / "config"
    config.mkdir()
    (config / "agents.yaml").write_text(yaml.safe_dump({"agents": {a: {"skills": {"medinfo": 5}} for a in AGENTS}}))
    (config / "queues.yaml").write_text(yaml.safe_dump({"queues": {
        q: {"requirement": "medinfo"} for q in ("medinfo", "pharmacovigilance", "operator", "orders")}}))
    (config / "engine.yaml").write_text(yaml.safe_dump({
        "crm": {"url": f"sqlite:///{work / 'crm.db'}", "spool_dir": str(work / "spool")},
        "dialplan": str(PROJECT / "dialplans/minimal.yaml"), "sounds": {"dir": str(work / "sounds")},
        "agi": {"port": BASE_PORT + 752}, "ami": {"port": BASE_PORT + 753},
        "control": {"socket": str(work / "control.sock")},
        "knowledge": {"dir": str(PROJECT / "knowledge")},
        "channels": {"chat": {"port": chat_port, "queue": "medinfo", "per_session_per_minute": 1000,
                              "per_address_per_minute": 100_000, "open_chats_per_address": 1000}}}))
    return config / "engine.yaml"


def _events(response: requests.Response) -> Any:
    kind = ""
    for line in response.iter_lines(decode_unicode=True):
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            yield kind, json.loads(line[6:])


class AgentClient(threading.Thread):
    """Signs in, accepts every chat offered, answers each new visitor line with 'ok'."""

    def __init__(self, desk_url: str, name: str) -> None:
        super().__init__(daemon=True)
        self.url, self.name, self.http = desk_url, name, requests.Session()
        page = self.http.get(desk_url + "/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        self.http.post(desk_url + "/login", data={"name": name, "password": PASSWORD, "csrf_token": token})
        desk = self.http.get(f"{desk_url}/agent/{name}").text
        self.csrf = re.search(r'name="csrf_token" value="([^"]+)"', desk).group(1)
        self.answered: dict[str, int] = {}      # task → visitor lines answered

    def post(self, path: str, **fields: str) -> None:
        try:
            self.http.post(self.url + path, data=fields, headers={"X-CSRF-Token": self.csrf},
                           allow_redirects=False)
        except requests.RequestException:
            pass                          # the desk stopped at the end of the run

    def run(self) -> None:
        try:
            self._follow()
        except requests.RequestException:
            pass                          # the desk stopped at the end of the run

    def _follow(self) -> None:
        with self.http.get(f"{self.url}/agent/{self.name}/events", stream=True, timeout=300) as stream:
            for kind, event in _events(stream):
                topic = event.get("topic") or ""
                task = topic.rpartition("/")[2]
                if kind == "tasks" and event.get("state") == "offered":
                    self.post(f"/agent/{self.name}/task/{task}/accept")
                elif kind == "chat" and event.get("state") == "line":
                    threading.Thread(target=self.post, args=(f"/agent/{self.name}/task/{task}/reply",),
                                     kwargs={"text": "ok"}, daemon=True).start()


class VisitorClient:
    def __init__(self, url: str) -> None:
        self.url, self.http = url, requests.Session()
        self.csrf = re.search(r'data-csrf="([0-9a-f]+)"', self.http.get(url + "/").text).group(1)
        self.agent_lines = threading.Semaphore(0)
        self.joined = threading.Event()
        threading.Thread(target=self._listen, daemon=True).start()

    def _listen(self) -> None:
        try:
            with self.http.get(self.url + "/chat/events", stream=True, timeout=300) as stream:
                for kind, event in _events(stream):
                    if kind == "line" and event.get("from") == "agent":
                        self.agent_lines.release()
                    elif kind == "state" and event.get("state") == "joined":
                        self.joined.set()
        except requests.RequestException:
            pass

    def send(self, path: str, **fields: str) -> None:
        answer = self.http.post(self.url + path, data={"csrf_token": self.csrf, **fields})
        assert answer.status_code == 200, answer.text

    def round_trips(self, n: int, out: list[float]) -> None:
        for i in range(n):
            t0 = time.perf_counter()
            self.send("/chat/send", text=f"question {i}")
            assert self.agent_lines.acquire(timeout=10), "no answer within 10 s"
            out.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.05)


def chat_rtt(chats: int, messages: int) -> dict[str, float]:
    chat_port = BASE_PORT + 750
    with tempfile.TemporaryDirectory(prefix="bench-chat-") as tmp:
        work = Path(tmp)
        config = _config(work, chat_port)
        subprocess.run([*IVR, "--config", str(config), "sounds", "build", str(PROJECT / "dialplans/minimal.yaml")],
                       check=True, capture_output=True, cwd=PROJECT, timeout=120)
        log = open(work / "engine.log", "wb")
        engine = subprocess.Popen([*IVR, "--config", str(config), "serve"], stdout=log, stderr=subprocess.STDOUT,
                                  cwd=PROJECT, env={**os.environ, "IVR_AMI_SECRET": "unused"})
        desk = None
        try:
            deadline = time.monotonic() + 60
            while b"web chat and form on" not in (work / "engine.log").read_bytes():
                assert engine.poll() is None and time.monotonic() < deadline, (work / "engine.log").read_text()
                time.sleep(0.2)
            desk = serve_desk(config, desk_port(), work / "desk.log")
            for name in AGENTS:
                desk.add_user(name, "agent", PASSWORD)
            for name in AGENTS:
                AgentClient(desk.url, name).start()
            time.sleep(1.0)                                   # the agents' streams are open
            url = f"http://127.0.0.1:{chat_port}"
            visitors = [VisitorClient(url) for _ in range(chats)]
            for i, v in enumerate(visitors):
                v.send("/chat/start", name=f"Visitor {i}", text="hello")
            for v in visitors:
                assert v.joined.wait(20), "a chat was not accepted within 20 s"
                v.agent_lines.acquire(timeout=10)             # the answer to "hello"
            alone: list[float] = []
            visitors[0].round_trips(messages, alone)          # one chat: the path's own latency
            rtts: list[float] = []
            threads = [threading.Thread(target=v.round_trips, args=(messages, rtts)) for v in visitors]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            rtts.sort()
            alone.sort()
            return {"n": len(rtts), "p50": rtts[len(rtts) // 2], "p95": rtts[int(0.95 * len(rtts))],
                    "max": rtts[-1], "alone_p50": alone[len(alone) // 2],
                    "alone_p95": alone[int(0.95 * len(alone))]}
        finally:
            if desk:
                desk.stop()
            engine.terminate()
            engine.wait(30)
            log.close()
