"""The `sites:` section of engine.yaml: one entry per Asterisk server (shape only; the rules
across entries and agents.yaml are in rules.py)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

SITE_NAME = r"^[a-z0-9][a-z0-9_-]{0,31}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SiteAmiSettings(_Strict):
    """A site's AMI, as the single-site `ami:` section (ivr/app/sites.py reads its secret)."""
    host: str
    port: int = Field(5038, ge=1, le=65535)
    username: str = "ivr-engine"
    # The secret never sits in the YAML: the environment variable named here, else a 0600 file.
    secret_env: str = "IVR_AMI_SECRET"
    secret_file: str | None = None
    action_timeout: float = Field(5.0, gt=0)


class SiteSettings(_Strict):
    name: str = Field(pattern=SITE_NAME)
    ami: SiteAmiSettings
    # Agents (names from agents.yaml) whose phones register on this site's Asterisk.
    agents: list[str] = Field(default_factory=list)
    # The PJSIP endpoint the *other* sites' Asterisk use to reach this site's phones: a call
    # at another site rings PJSIP/<agent endpoint>@<trunk>. Required when there are 2+ sites.
    trunk: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    # How long the link may stay lost before the site's agents are paused (a reconnect
    # within this time pauses nobody).
    down_after_s: float = Field(3.0, ge=0, le=300)
    # This site's Asterisk's cdr_csv Master.csv as the engine sees it (a shared or synced
    # folder), read by CDR reconciliation like cdr.csv_path; None: its calls taken by Asterisk
    # alone while no engine served are not recovered into the CRM.
    cdr_csv: str | None = None
