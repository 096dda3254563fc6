"""`ivr reload --what-if` through the real control socket, the real CLI and a real SQLite CRM:
the engine says which queues and agents it runs, the CLI replays the last days under those and
under the ones on disk, names the queue that gets worse than its target, and reloads only when
told to."""
from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

from click.testing import CliRunner
from hotline_lab.lab import write_config

from acd.config import AcdConfig
from ivr.app.acd_driver import AcdDriver
from ivr.app.control import ControlServer
from ivr.app.control_api import ControlApi
from ivr.app.plans import PlanHolder
from ivr.app.prompts import sound_path
from ivr.cli.main import main
from ivr.config import load_settings
from ivr.crm.store import open_store
from ivr.dialplan import load_plan
from ivr.dialplan.model import all_prompts
from ivr.planning.synthetic import arrivals, recorded_history

ROOT = Path(__file__).resolve().parents[2]


def _site(tmp_path: Path) -> tuple[Path, PlanHolder]:
    plan_file, sounds = tmp_path / "plan.yaml", tmp_path / "sounds"
    plan_file.write_text((ROOT / "dialplans/hotline.yaml").read_text())
    plan = load_plan(plan_file)
    for pid, _texts, _path in all_prompts(plan):
        for lang in plan.languages:
            f = sound_path(sounds, lang, pid)
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(b"RIFF")
    cfg = write_config(tmp_path / "config", base_port=40500, dialplan=plan_file,
                       crm=tmp_path / "crm.db", sounds=sounds)
    holder = PlanHolder(load_settings(cfg))
    holder.load_initial()
    return cfg, holder


def test_reload_what_if_names_the_worse_queue_and_asks_before_reloading(tmp_path: Path) -> None:
    cfg, holder = _site(tmp_path)
    settings = holder.settings
    # the engine runs six order-takers; the agents file on disk has two (bob and dave)
    running = AcdConfig.from_dict({"queues": settings.acd_config().model_dump()["queues"],
                                   "agents": {f"o{i}": {"skills": {"orders": 3, "fr": 3}}
                                              for i in range(6)}})
    day = datetime.now(timezone.utc).date() - timedelta(days=2)
    records = recorded_history(running, arrivals(day, 1, {"orders": 500.0}, seed=8), seed=8)

    async def fill() -> None:
        store = await open_store(settings.crm_url())
        for r in records:
            store.save_call(r)
        await store.close()
    asyncio.run(fill())

    api = ControlApi(None, AcdDriver(running, start_callback=lambda action: None), holder,  # type: ignore[arg-type]
                     lambda: 0)
    older_engine = {"on": False}     # an engine built before `acd_config`: answers as ControlApi did

    def handler(request: dict) -> dict:
        if older_engine["on"] and request["cmd"] == "acd_config":
            return {"ok": False, "error": "unknown command 'acd_config'"}
        return api(request)
    server = ControlServer(settings.path(settings.control.socket), handler)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(server.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        asked = CliRunner().invoke(main, ["--config", str(cfg), "reload", "--what-if"])
        assert asked.exit_code == 1, asked.output
        assert "queue orders gets WORSE than its target" in asked.output
        assert "not reloaded" in asked.output and "dialplan version" not in asked.output
        done = CliRunner().invoke(main, ["--config", str(cfg), "reload", "--what-if", "--yes"])
        assert done.exit_code == 0, done.output
        assert "WORSE" in done.output and f"dialplan version {holder.current.version}" in done.output
        older_engine["on"] = True       # the recorded figures stand in for the running config
        older = CliRunner().invoke(main, ["--config", str(cfg), "reload", "--what-if", "--yes"])
        assert older.exit_code == 0, older.output
        assert "compared with the recorded figures" in older.output and "WORSE" in older.output
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
