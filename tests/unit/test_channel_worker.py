"""The channels worker's link to the engine (ivr/channels/worker.py EngineLink → the engine's
control socket → TaskHub.arrived → the ACD) and the supervisor's restart rules
(ivr/app/channel_worker.py). Through a real Unix socket and the real AcdDriver."""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from acd import events as E
from acd.config import AcdConfig
from ivr.app.acd_driver import AcdDriver
from ivr.app.bus import EventBus
from ivr.app.channel_worker import ChannelWorker, backoff_after, exit_reason
from ivr.app.control import ControlServer
from ivr.app.feed import LiveFeed, Outbox
from ivr.app.tasks import TaskHub
from ivr.channels.settings import ChannelsSettings
from ivr.channels.task_store import Ingested
from ivr.channels.worker import EngineLink, note_of
from ivr.config import MqttSettings

CONFIG = AcdConfig.from_dict({"agents": {"gina": {}},
                              "queues": {"general": {}, "pharmacovigilance": {}}})


def ingested(task_id: str, *, new: bool = True, duplicate: bool = False, case: str | None = None,
             queue: str = "general") -> Ingested:
    return Ingested(task_id=task_id, thread_id=task_id, new_task=new, duplicate=duplicate, queue=queue,
                    priority=0, contact_id=None, case_id=case)


def test_backoff_doubles_up_to_thirty_seconds() -> None:
    assert [backoff_after(n) for n in (1, 2, 3, 4, 5, 6, 7)] == [1, 2, 4, 8, 16, 30, 30]


def test_exit_reason_names_the_signal_for_people() -> None:
    assert exit_reason(-9) == "killed by SIGKILL"
    assert exit_reason(1) == "exit status 1"


def test_the_worker_is_on_by_default_with_email_or_chat() -> None:
    email = {"imap_host": "h", "user": "u", "from_address": "a@b"}
    assert ChannelsSettings.model_validate({"email": email}).worker_enabled()
    assert not ChannelsSettings.model_validate({"email": email, "worker": False}).worker_enabled()
    assert ChannelsSettings.model_validate({"chat": {}}).worker_enabled()
    assert not ChannelsSettings.model_validate({"sms": {}}).worker_enabled()      # SMS stays in the engine


def test_only_what_the_acd_must_hear_is_queued() -> None:
    link = EngineLink(Path("/nonexistent"))
    link.submit_mail(ingested("EM-1"), None)
    link.submit_mail(ingested("EM-1", new=False, duplicate=True), None)     # read again after a restart
    link.submit_mail(ingested("EM-2", new=False), None)                     # joins a task already routed
    link.submit_mail(ingested("EM-3", new=False, case="AE-1", queue="pharmacovigilance"), None)
    link.submit(E.TaskEnded("CH-1"))                                        # a chat that became an e-mail
    notes = [link.queue.get_nowait() for _ in range(link.queue.qsize())]
    assert [(n["task_id"], n["event"], n.get("queue")) for n in notes] == [
        ("EM-1", "arrived", "general"), ("EM-3", "transferred", "pharmacovigilance"), ("CH-1", "ended", None)]


def test_a_note_carries_the_age_not_the_workers_clock() -> None:
    note = note_of(E.TaskArrived("CH-2", "general", "email", 1, arrival=100.0), now=130.5)
    assert note == {"event": "arrived", "task_id": "CH-2", "queue": "general", "channel": "email",
                    "priority": 1, "age_s": 30.5}


async def test_a_task_reaches_the_acd_once_the_engine_answers(tmp_path: Path) -> None:
    """The engine is not up yet when the worker commits: the note waits and is retried; a
    second note for the same task (the engine reloaded it meanwhile) changes nothing."""
    from ivr.app.control_api import ControlApi

    path = tmp_path / "control.sock"
    acd = AcdDriver(CONFIG, start_callback=lambda a: None)
    acd.handle(E.AgentLoggedIn("gina"))
    spawned: list[asyncio.Task] = []
    hub = TaskHub(acd, store=None, outbox=Outbox(EventBus(MqttSettings()), LiveFeed()),
                  spawn=lambda coro: spawned.append(asyncio.ensure_future(_closed(coro))))
    api = ControlApi(agents=None, acd=acd, plans=None, spool_depth=lambda: 0, tasks=lambda: hub)
    link = EngineLink(path, retry_s=0.05, linger_s=0.01)
    sender = asyncio.ensure_future(link.run())
    server = ControlServer(path, api)
    try:
        link.submit_mail(ingested("EM-1"), None)
        await asyncio.sleep(0.2)
        assert link.sent == 0 and hub.offered == {}           # nobody listening yet
        await server.start()
        await _until(lambda: link.sent == 1)
        assert hub.offered == {"EM-1": "gina"}
        link.submit_mail(ingested("EM-1"), None)
        await _until(lambda: link.sent == 2)
        assert acd.center.tasks.agent_tasks("gina") == {"EM-1": "email"}
    finally:
        sender.cancel()
        await server.stop()
        await asyncio.gather(sender, *spawned, return_exceptions=True)


async def test_the_supervisor_restarts_a_killed_worker_and_stops_it(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    worker = ChannelWorker(tmp_path / "engine.yaml")
    worker.argv = [sys.executable, "-c", "import time; time.sleep(60)"]   # a worker that just lives
    monkeypatch.setattr("ivr.app.channel_worker.backoff_after", lambda n: 0.05)
    job = asyncio.ensure_future(worker.run())
    try:
        await _until(lambda: worker.starts == 1 and worker.pid is not None)
        first = worker.process
        first.kill()
        await _until(lambda: worker.starts == 2)
        assert worker.pid != first.pid and first.returncode == -9
    finally:
        job.cancel()
        await asyncio.gather(job, return_exceptions=True)
        await worker.stop()
    assert worker.process.returncode is not None


async def _closed(coro) -> None:
    """TaskHub publishes offers after a CRM read; without a store here, only the routing counts."""
    coro.close()


async def _until(cond, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if cond():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


class _Chat:
    """A chat that knows one open task (ChatChannel.reply's contract: LookupError otherwise)."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, str]] = []

    async def reply(self, task_id: str, agent: str, text: str) -> None:
        if task_id != "CH-1":
            raise LookupError(f"chat {task_id} is over (the visitor left or it was closed)")
        self.lines.append((task_id, agent, text))


async def test_the_engine_relays_chat_replies_and_news_to_the_worker_in_order(tmp_path: Path) -> None:
    """engine ChatRelay → the worker's socket → RemoteHub: replies reach the chat, a refusal
    comes back to the desk as an error, and the news keep the worker's idea of who holds what."""
    from ivr.app.chat_relay import ChatRelay
    from ivr.channels.worker import RemoteHub, worker_socket

    remote = RemoteHub(store=None, link=EngineLink(tmp_path / "engine.sock"))
    remote.senders["chat"] = chat = _Chat()
    heard: list[tuple[str, str, str]] = []
    remote.watchers.append(lambda *news: heard.append(news))
    server = ControlServer(worker_socket(tmp_path / "engine.sock"), remote.handle)
    await server.start()

    hub = SimpleNamespace(senders={}, watchers=[])      # what ChatRelay touches of TaskHub
    jobs: list[asyncio.Task] = []
    relay = ChatRelay(hub, worker_socket(tmp_path / "engine.sock"), lambda c: jobs.append(asyncio.ensure_future(c)))
    try:
        assert hub.senders["chat"] is relay and hub.watchers == [relay.on_task]
        for state, agent in (("offered", "gina"), ("accepted", "gina"), ("closed", "gina")):
            relay.on_task("CH-1", state, agent)
        relay.on_task("EM-9", "accepted", "gina")                 # not a chat: not relayed
        await _until(lambda: len(heard) == 3)
        assert [s for _, s, _ in heard] == ["offered", "accepted", "closed"] and remote.offered == {}
        await relay.reply("CH-1", "gina", "Take it with food.")
        assert chat.lines == [("CH-1", "gina", "Take it with food.")]
        with pytest.raises(LookupError, match="CH-2 is over"):
            await relay.reply("CH-2", "gina", "Hello?")
    finally:
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        await server.stop()
