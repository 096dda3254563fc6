"""The running dialplan: validated before use, swapped atomically, never lost to a bad save.

A call takes `holder.current` when it starts and keeps that version to its end; a reload only
changes what new calls get. An invalid file is refused with the same messages as `ivr check`
and the running plan stays.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from acd.config import AcdConfig
from ivr.app.prompts import missing_prompts
from ivr.config import ConfigError, Settings
from ivr.dialplan import Catalog, Plan, PlanInvalid, load_checked
from ivr.dialplan.model import plan_version

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReloadOutcome:
    """What a reload did: swapped the file in, or refused it with the problems to fix
    (`file:line:col: message` lines, as `ivr check` prints them)."""
    version: str                      # the version running afterwards
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def __bool__(self) -> bool:       # `if plans.reload():` reads as "was it swapped in"
        return self.ok

    def reply(self) -> dict:
        """The control socket's answer to `ivr reload`, problems included."""
        if self.ok:
            return {"ok": True, "plan_version": self.version}
        return {"ok": False, "plan_version": self.version, "problems": list(self.problems),
                "error": f"the new dialplan is invalid ({len(self.problems)} problem(s) above); "
                         f"the running plan (version {self.version}) stays"}


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
        self._mtime: int | None = None

    @property
    def current(self) -> LoadedPlan:
        if self._current is None:
            raise RuntimeError("no dialplan loaded yet")
        return self._current

    def load_initial(self) -> LoadedPlan:
        """At start an invalid plan is fatal: PlanInvalid carries file:line:col problems."""
        self.changed_on_disk()
        self._current = self._load()
        log.info("dialplan %s version %s loaded", self.path, self._current.version)
        return self._current

    def reload(self) -> ReloadOutcome:
        """Validate the file again and swap it in; keep the running plan if it is invalid."""
        try:
            new = self._load()
        except PlanInvalid as exc:
            for problem in exc.problems:
                log.error("dialplan reload refused: %s", problem)
            log.error("still running dialplan version %s", self.current.version)
            return ReloadOutcome(self.current.version, tuple(str(p) for p in exc.problems))
        except ConfigError as exc:
            log.error("dialplan reload refused: %s; still running version %s", exc,
                      self.current.version)
            return ReloadOutcome(self.current.version, (str(exc),))
        if new.version != self.current.version:
            log.info("dialplan reloaded: version %s → %s", self.current.version, new.version)
        self._current = new
        return ReloadOutcome(new.version)

    def changed_on_disk(self) -> bool:
        """True once when the file's modification time moved (hot reload on save)."""
        try:
            mtime = self.path.stat().st_mtime_ns
        except OSError:
            return False
        previous, self._mtime = self._mtime, mtime
        return previous is not None and mtime != previous

    def _load(self) -> LoadedPlan:
        """Every `ivr check` rule against config, and every prompt on disk, or PlanInvalid."""
        plan = load_checked(self.path, catalog_from_settings(self.settings))
        missing = missing_prompts(plan, self.settings.path(self.settings.sounds.dir))
        if missing:
            raise PlanInvalid(missing)
        return LoadedPlan(plan, plan_version(plan), self.path)


def catalog_from_settings(settings: Settings) -> Catalog:
    """What dialplans may name: queues, skills and agents from config."""
    return catalog_for(settings.acd_config())


def catalog_for(acd: AcdConfig) -> Catalog:
    return Catalog(queues={q.name for q in acd.queues},
                   skills={skill for agent in acd.agents for skill in agent.skills},
                   agents={a.name for a in acd.agents})
