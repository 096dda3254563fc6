"""What a `sites:` section may not say. Pure: settings and agent names in, issues out; the
adapter (ivr/app/sites.py) turns each issue's settings path into file:line."""
from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from ivr.sites.settings import SiteSettings

Where = tuple[str | int, ...]


@dataclass(frozen=True)
class SiteIssue:
    where: Where          # path in engine.yaml, e.g. ("sites", 1, "agents", 0)
    message: str


def site_issues(sites: Sequence[SiteSettings], known_agents: Collection[str],
                agents_file: str) -> list[SiteIssue]:
    """Every problem of `sites` at once, so the admin fixes them in one pass."""
    issues: list[SiteIssue] = []
    names: dict[str, int] = {}
    amis: dict[tuple[str, int], int] = {}
    homes: dict[str, int] = {}
    for i, site in enumerate(sites):
        if site.name in names:
            issues.append(SiteIssue(("sites", i, "name"), f"site {site.name!r} is named twice "
                                    f"(also sites[{names[site.name]}]); give each site its own name"))
        names.setdefault(site.name, i)
        address = (site.ami.host.lower(), site.ami.port)
        if address in amis:
            other = sites[amis[address]].name
            issues.append(SiteIssue(("sites", i, "ami", "port"),
                                    f"site {site.name!r} has the same AMI address "
                                    f"{site.ami.host}:{site.ami.port} as site {other!r}: each "
                                    "site is its own Asterisk; fix its ami host or port"))
        amis.setdefault(address, i)
        for j, agent in enumerate(site.agents):
            where = ("sites", i, "agents", j)
            if agent not in known_agents:
                issues.append(SiteIssue(where, f"site {site.name!r}: unknown agent {agent!r} "
                                        f"(not in {agents_file}); add it there or fix the name"))
            elif agent in homes:
                first = homes[agent]
                issues.append(SiteIssue(where, f"agent {agent!r} is homed at two sites, "
                                        f"{sites[first].name!r} and {site.name!r}: a phone "
                                        "registers on one Asterisk; keep it in one site"))
            else:
                homes[agent] = i
        if len(sites) > 1 and site.agents and not site.trunk:
            issues.append(SiteIssue(("sites", i, "name"),
                                    f"site {site.name!r} has agents but no trunk: calls at the "
                                    "other sites cannot ring them; set `trunk:` to the PJSIP "
                                    "endpoint the other sites' Asterisk use to reach this one"))
    homeless = sorted(a for a in known_agents if a not in homes)
    if sites and homeless:
        issues.append(SiteIssue(("sites",), f"agent(s) {', '.join(homeless)} of {agents_file} "
                                "homed at no site: add each to the `agents:` of the site "
                                "whose Asterisk its phone registers on"))
    return issues
