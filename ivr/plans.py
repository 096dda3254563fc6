"""The running dialplan: validated before use, swapped atomically, never lost to a bad save.

A call takes `holder.current` when it starts and keeps that version to its end; a reload only
changes what new calls get. An invalid file is refused with the same messages as `ivr check`
and the running plan stays.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ivr.config import Settings
from ivr.dialplan import Plan, PlanInvalid, load_plan
from ivr.dialplan.loader import plan_version

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedPlan:
    plan: Plan
    version: str
    path: Path


class PlanHolder:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.path = settings.path(settings.dialplan)
        self._current: LoadedPlan | None = None

    @property
    def current(self) -> LoadedPlan:
        if self._current is None:
            raise RuntimeError("no dialplan loaded yet")
        return self._current

    def load_initial(self) -> LoadedPlan:
        """At start an invalid plan is fatal: PlanInvalid carries file:line:col problems."""
        self._current = self._load()
        log.info("dialplan %s version %s loaded", self.path, self._current.version)
        return self._current

    def reload(self) -> bool:
        """Validate the file again and swap it in; keep the running plan if it is invalid."""
        try:
            new = self._load()
        except PlanInvalid as exc:
            for problem in exc.problems:
                log.error("dialplan reload refused: %s", problem)
            log.error("still running dialplan version %s", self.current.version)
            return False
        if new.version != self.current.version:
            log.info("dialplan reloaded: version %s → %s", self.current.version, new.version)
        self._current = new
        return True

    def _load(self) -> LoadedPlan:
        plan = load_plan(self.path)
        return LoadedPlan(plan, plan_version(plan), self.path)
