"""The engine's answers on its control socket (ivr/app/control.py): `ivr agent`, `ivr agents`,
`ivr queues`, `ivr top`, `ivr reload`,
`ivr campaign`."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ivr.app.acd_driver import AcdDriver
from ivr.app.agents import AgentCommands
from ivr.app.plans import PlanHolder


class ControlApi:
    def __init__(self, agents: AgentCommands, acd: AcdDriver, plans: PlanHolder,
                 spool_depth: Callable[[], int], campaigns: Callable[[dict], dict] | None = None,
                 tasks: Callable[[], Any] | None = None,
                 sites: Callable[[], list[dict]] | None = None):
        self.agents, self.acd, self.plans = agents, acd, plans
        self._spool_depth = spool_depth
        self._campaigns = campaigns          # `ivr campaign …` (ivr/app/campaigns.py)
        self._tasks = tasks or (lambda: None)   # the TaskHub (ivr/app/tasks.py) once started
        self._sites = sites or (lambda: [])     # sites: their AMI links (ivr/app/site_links.py)

    def __call__(self, request: dict) -> dict:
        cmd = request["cmd"]
        if cmd == "agent":
            return self.agents.command(request["action"], request["agent"], request.get("reason", ""))
        if cmd == "wrapup_more":
            return self.agents.more_time(request["agent"], float(request.get("seconds", 60)))
        if cmd == "status":
            return {"ok": True, **self.acd.snapshot(), "channels": self.acd.channel_backlog(),
                    "plan_version": self.plans.current.version,
                    "crm_spool": self._spool_depth(), "sites": self._sites()}
        if cmd == "reload":
            return self.plans.reload().reply()
        if cmd == "campaign" and self._campaigns is not None:
            return self._campaigns(request)
        if cmd == "acd_config":           # what `ivr reload --what-if` compares the disk with
            return {"ok": True, "acd": self.acd.config.model_dump()}
        if cmd == "task":                 # the desk: accept / decline / reply / close a task
            hub = self._tasks()
            if hub is None:
                return {"ok": False, "error": "no task channel is configured (channels: in engine.yaml)"}
            return hub.command(request)
        if cmd in ("tasks_arrived", "publish"):   # the channels worker (ivr/channels/worker.py)
            hub = self._tasks()
            if hub is None:
                return {"ok": False, "error": "the engine has no task hub yet (channels starting)"}
            if cmd == "tasks_arrived":            # tasks it committed to the CRM
                return hub.arrived(request["notes"])
            if not str(request["topic"]).startswith("chat/"):    # a chat's news for the desk, only
                return {"ok": False, "error": "the channels worker publishes chat/<agent>/<task> only"}
            hub.outbox.publish(str(request["topic"]), dict(request["payload"]))
            return {"ok": True}
        return {"ok": False, "error": f"unknown command {cmd!r}"}
