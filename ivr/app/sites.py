"""Several Asterisk servers, one ACD (issue 16): the glue between `sites:` and the engine.

- `site_problems` / `load_site_map`: the pure rules (ivr/sites/rules.py) with file:line, for
  `ivr check` and the engine's start (which refuses a wrong `sites:`).
- `SiteAmi`: a site's AMI settings as the AMI link reads them.
The links themselves (one per site) are ivr/app/site_links.py.
Without `sites:` none of this runs: the engine keeps its one `ami:` link.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ivr.config import AmiSettings, ConfigError, Settings
from ivr.dialplan.problems import Problem
from ivr.dialplan.source import Source, load_yaml
from ivr.sites.dialing import SiteMap
from ivr.sites.rules import site_issues
from ivr.sites.settings import SiteSettings


def site_problems(settings: Settings, src: Source | None = None) -> list[Problem]:
    """The `sites:` section's problems at file:line of engine.yaml (none without sites)."""
    if not settings.sites:
        return []
    src = src or _source(settings)
    try:
        known = settings.agents()
    except ConfigError as exc:     # agents.yaml itself is wrong: `ivr check` says so elsewhere
        return [src.problem(("sites",), f"sites: cannot check the agents ({exc})")]
    return [src.problem(issue.where, issue.message)
            for issue in site_issues(settings.sites, known, settings.agents_file)]


def load_site_map(settings: Settings) -> SiteMap | None:
    """The sites of `settings`, or None without `sites:`; ConfigError (every problem, one
    per line with file:line) when the section is wrong: the engine does not start so."""
    if not settings.sites:
        return None
    problems = site_problems(settings)
    if problems:
        raise ConfigError("\n".join(str(p) for p in problems) +
                          "\nsites: fix the lines above (`ivr check` lists them too)")
    endpoints = {name: agent.endpoint or name for name, agent in settings.agents().items()}
    return SiteMap.build(settings.sites, endpoints)


def site_link_rows(settings: Settings, live: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The sites of `settings` as `ivr cluster status` link rows; their state from the
    running engine (`live`: its `sites` status) or "unknown" when it does not answer."""
    by_site = {row["site"]: row for row in live or []}
    rows = []
    for site in settings.sites:
        row = by_site.get(site.name)
        rows.append({"link": "site", "name": site.name, "role": row["state"] if row else "unknown",
                     "address": f"{site.ami.host}:{site.ami.port}", "since": None, "pg_pid": None,
                     "lag_s": None})
    return rows


def _source(settings: Settings) -> Source:
    path = settings.file or settings.base_dir / "engine.yaml"
    try:
        return load_yaml(Path(path).read_text(encoding="utf-8"), str(path))[1]
    except OSError:
        return Source(str(path))


class SiteAmi(AmiSettings):
    """A site's AMI settings as the AMI link reads them; the secret from the site's own
    environment variable (each Asterisk may have its own), else its 0600 file."""
    secret_env: str = "IVR_AMI_SECRET"
    site: str = ""

    def secret(self) -> str:
        if value := os.environ.get(self.secret_env):
            return value
        if self.secret_file:
            return super().secret()
        raise ConfigError(f"site {self.site!r}: no AMI secret for {self.host}:{self.port}: set "
                          f"{self.secret_env} (sites[].ami.secret_env), or secret_file "
                          "pointing at a 0600 file")


def site_ami(site: SiteSettings) -> SiteAmi:
    return SiteAmi(site=site.name, **site.ami.model_dump())
