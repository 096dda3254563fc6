"""The sandbox's own settings (chroot folder, SIP/RTP ports, SIPp phones), kept out of the
engine's Settings: a production engine has no sandbox.

They live in `sandbox.yaml` beside the engine settings file the lab runs with; without that
file the defaults below (the embedded demo on the standard ports) apply.
"""
from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from ivr.config import ConfigError, Settings, read_yaml

PROJECT = Path(__file__).resolve().parents[2]
SANDBOX_FILE = "sandbox.yaml"
# Another chroot copy, so two people (or two test runs) can each have their own Asterisk.
SANDBOX_DIR_ENV = "IVR_SANDBOX_DIR"
# cdr_csv's Master.csv inside the chroot: the engine's cdr.csv_path when it runs on the sandbox.
CDR_CSV_IN_CHROOT = "root/var/log/asterisk/cdr-csv/Master.csv"


class SandboxSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dir: str = ".cache/sandbox"
    sip_port: int = 5060
    rtp_start: int = 10000
    rtp_end: int = 14999
    agent_phone_base_port: int = 5071  # SIPp agent phones listen on base + index
    callback_port: int = 5090          # the SIPp phone standing for callers' own numbers
    operator_ring_seconds: int = 30
    # Several sites (issue 16): this sandbox is the Asterisk of engine.yaml's site `site`;
    # site_sip_ports gives every site's SIP port, for the trunks between them (sites.py).
    site: str = ""
    site_sip_ports: dict[str, int] = {}

    def base(self, settings: Settings) -> Path:
        """The sandbox folder; a relative `dir` is taken from the project root (the lab runs
        from a source checkout), whichever engine settings file it runs with."""
        folder = Path(self.dir).expanduser()
        return (folder if folder.is_absolute() else PROJECT / folder).resolve()

    def cdr_csv_path(self, settings: Settings) -> Path:
        return self.base(settings) / CDR_CSV_IN_CHROOT


def sandbox_file(engine_config: Path) -> Path:
    return Path(engine_config).parent / SANDBOX_FILE


def load_sandbox_settings(engine_config: Path) -> SandboxSettings:
    """sandbox.yaml beside `engine_config` if there is one, else the defaults with
    IVR_SANDBOX_DIR (when set) as the folder."""
    path = sandbox_file(engine_config)
    if path.exists():
        try:
            return SandboxSettings.model_validate(read_yaml(path) or {})
        except ValidationError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
    if env_dir := os.environ.get(SANDBOX_DIR_ENV):
        return SandboxSettings(dir=env_dir)
    return SandboxSettings()
