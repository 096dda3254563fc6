"""A local Asterisk 22 + SIPp sandbox: a Debian-sid chroot built once, cached, started on loopback.

Asterisk 22 and SIPp are not in Debian 12; sid has both. The chroot is built with mmdebstrap,
then every start installs the project's asterisk/ configs (and the lab's own, under
hotline_lab/asterisk/) rendered with the ports of the engine settings and of sandbox.yaml.
Asterisk runs as root inside the chroot *without* -U/-G (with them it loses the right to read
its own configs). `down` stops exactly the process `up` started (pid file).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ivr.config import Settings

from hotline_lab.settings import SandboxSettings

PACKAGES = [
    "asterisk",
    "asterisk-core-sounds-en-wav",
    "asterisk-core-sounds-fr-wav",
    "asterisk-moh-opsound-wav",
    "sip-tester",
]
ASTERISK_DIRS = [
    "etc/asterisk", "var/lib/asterisk", "var/spool/asterisk", "var/log/asterisk",
    "run/asterisk", "usr/share/asterisk",
]
# The lab runs from a source checkout (lab/hotline_lab/ inside it): the project's asterisk/ is
# what a site includes; the lab's own files (asterisk.conf, modules, CDR, MoH…) sit beside us.
PROJECT = Path(__file__).resolve().parents[2]
LAB_ASTERISK = Path(__file__).resolve().parent / "asterisk"
STATIC_CONFIGS = ["asterisk.conf", "modules.conf", "logger.conf", "musiconhold.conf", "cdr.conf",
                  "extensions_transfer.conf", "amd.conf"]


class SandboxError(Exception):
    """The sandbox could not be built, started or stopped; the message says what to do."""


@dataclass
class Sandbox:
    settings: Settings
    box: SandboxSettings

    def __post_init__(self) -> None:
        if self.box.site:     # one site's Asterisk (issue 16): its own AMI, agents, trunks
            self.settings = site_settings(self.settings, self.box.site)

    @property
    def base(self) -> Path:
        return self.box.base(self.settings)

    @property
    def root(self) -> Path:
        return self.base / "root"

    @property
    def pid_file(self) -> Path:
        return self.base / "asterisk.pid"

    @property
    def log_file(self) -> Path:
        return self.base / "asterisk.out"

    # ---- build -------------------------------------------------------------------------
    def is_built(self) -> bool:
        return (self.root / "usr/sbin/asterisk").exists() and (self.root / "usr/bin/sipp").exists()

    def build(self, log=print) -> None:
        """Build the chroot once (~1 min, ~450 MB); later calls reuse it."""
        if self.is_built():
            return
        if self.root.exists():
            # Said before mmdebstrap runs a minute for a final rename that cannot happen.
            raise SandboxError(
                f"{self.root} exists but holds no Asterisk (an interrupted build, or something "
                f"wrote into the chroot before it was built): remove it (rm -rf {self.root}) "
                "and build again")
        _require_root("build the Asterisk sandbox (mmdebstrap and chroot need it)")
        if not shutil.which("mmdebstrap"):
            raise SandboxError("mmdebstrap is not installed: run `apt-get install -y mmdebstrap` "
                               "(or `make setup`), then try again")
        tmp = self.base / "root.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        self.base.mkdir(parents=True, exist_ok=True)
        log(f"building the Asterisk 22 sandbox in {self.root} (once; about a minute)…")
        cmd = ["mmdebstrap", "--variant=apt", "--aptopt=Acquire::Check-Valid-Until \"false\"",
               "--include=" + ",".join(PACKAGES), "sid", str(tmp)]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise SandboxError("mmdebstrap failed to build the sandbox:\n" + result.stderr[-3000:])
        _prepare_chroot(tmp)
        tmp.rename(self.root)

    # ---- configs -----------------------------------------------------------------------
    def install_configs(self) -> None:
        s = self.settings
        etc = self.root / "etc/asterisk"
        for old in etc.glob("*"):
            if old.is_file():
                old.unlink()
        source = s.asterisk_path()
        for name in STATIC_CONFIGS:
            shutil.copy(LAB_ASTERISK / name, etc / name)
        for name in ["extensions_hotline.conf", "pjsip_hotline.conf", "manager_hotline.conf"]:
            shutil.copy(source / name, etc / name)
        for name, text in render_configs(s, self.box).items():
            (etc / name).write_text(text)
        (etc / "manager_hotline_secret.conf").write_text(f"secret = {s.ami.secret()}\n")
        os.chmod(etc / "manager_hotline_secret.conf", 0o600)
        self.sync_sounds()

    def sync_sounds(self) -> None:
        """Copy the project's prompts where Asterisk looks for them (sounds/<prefix>/<lang>/),
        and give Asterisk's own French prompts the plain language name `fr`."""
        french = self.root / "usr/share/asterisk/sounds/fr"
        if not french.exists() and (french.parent / "fr_CA_f_June").exists():
            french.symlink_to("fr_CA_f_June")
        src = self.settings.path(self.settings.sounds.dir)
        dst = self.root / "usr/share/asterisk/sounds" / self.settings.sounds.asterisk_prefix
        if dst.exists():
            shutil.rmtree(dst)
        if src.exists():
            shutil.copytree(src, dst)

    # ---- run ---------------------------------------------------------------------------
    def running_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def up(self, log=print, timeout: float = 60.0) -> int:
        _require_root("start the Asterisk sandbox (chroot needs it)")
        if pid := self.running_pid():
            raise SandboxError(f"the sandbox is already running (pid {pid}); "
                               "`python -m hotline_lab sandbox down` first")
        self.build(log)
        s = self.settings
        _check_port_free("tcp", s.ami.port, "AMI (ami.port)")
        _check_port_free("udp", self.box.sip_port, "SIP (sandbox.yaml sip_port)")
        self.install_configs()
        (self.root / "run/asterisk").mkdir(parents=True, exist_ok=True)
        out = open(self.log_file, "wb")
        proc = subprocess.Popen(["chroot", str(self.root), "asterisk", "-f"],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        self.pid_file.write_text(str(proc.pid))
        try:
            wait_fully_booted(s, proc, timeout)
        except SandboxError:
            self.down()
            raise SandboxError(f"Asterisk did not start; its own words:\n{self._asterisk_says()}")
        log(f"Asterisk 22 up (pid {proc.pid}): SIP udp 127.0.0.1:{self.box.sip_port}, "
            f"AMI 127.0.0.1:{s.ami.port}, engine expected at agi://127.0.0.1:{s.agi.port}")
        return proc.pid

    def down(self, log=print) -> bool:
        pid = self.running_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        self.cli("core stop now", timeout=5, check=False)
        for _ in range(50):
            if not _alive(pid):
                break
            time.sleep(0.1)
        else:
            os.killpg(pid, signal.SIGKILL)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        self.pid_file.unlink(missing_ok=True)
        log(f"Asterisk sandbox stopped (pid {pid})")
        return True

    def status(self) -> dict:
        pid = self.running_pid()
        return {"built": self.is_built(), "running": pid is not None, "pid": pid,
                "dir": str(self.base), "sip_port": self.box.sip_port,
                "ami_port": self.settings.ami.port, "agi_port": self.settings.agi.port}

    def cli(self, command: str, timeout: float = 10, check: bool = True) -> str:
        """Run an Asterisk CLI command through the control socket (asterisk -rx)."""
        result = subprocess.run(["chroot", str(self.root), "asterisk", "-rx", command],
                                capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise SandboxError(f"asterisk -rx {command!r} failed: {result.stderr or result.stdout}")
        return result.stdout

    def _asterisk_says(self) -> str:
        text = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
        messages = self.root / "var/log/asterisk/messages.log"
        if messages.exists():
            text += "\n".join(messages.read_text(errors="replace").splitlines()[-40:])
        return text[-4000:] or "(nothing logged)"


def render_configs(s: Settings, box: SandboxSettings) -> dict[str, str]:
    """The files that carry this machine's ports, agents and globals (never tracked)."""
    agents = site_agents(s, box.site)
    operators = [a.endpoint for a in agents.values() if a.operator] or [
        a.endpoint for a in agents.values()]
    operator_dial = "&".join(f"PJSIP/{e}" for e in operators)
    extensions = (
        "[globals]\n"
        f"IVR_ENGINE=agi://{s.agi.host}:{s.agi.port}\n"
        f"IVR_OPERATOR_DIAL={operator_dial}\n"
        f"IVR_OPERATOR_RING={box.operator_ring_seconds}\n"
        f"IVR_AUDIOSOCKET={s.audiosocket.host}:{s.audiosocket.port}\n"
        f"IVR_CALLBACK_PORT={box.callback_port}\n"
        + (f"IVR_SITE={box.site}\n" if box.site else "") + "\n"
        "#include extensions_hotline.conf\n"
        "#include extensions_transfer.conf\n"
    )
    pjsip = [
        "; Agents are recognised by the From user (their endpoint name), callers by address.",
        "[global]", "type = global", "endpoint_identifier_order = username,ip", "",
        "[transport-udp]", "type = transport", "protocol = udp",
        f"bind = 127.0.0.1:{box.sip_port}", "",
        "#include pjsip_hotline.conf", "",
        "; Test callers: SIPp on loopback, identified by address.",
        "[test-caller](hotline-caller)", "",
        "[test-caller]", "type = identify", "endpoint = test-caller", "match = 127.0.0.1", "",
        "#include pjsip_agents.conf", "",
        *render_site_trunks(s, box),
    ]
    manager = (
        "[general]\nenabled = yes\n"
        f"port = {s.ami.port}\nbindaddr = 127.0.0.1\n\n#include manager_hotline.conf\n"
    )
    rtp = f"[general]\nrtpstart = {box.rtp_start}\nrtpend = {box.rtp_end}\n"
    site_files = {}
    if box.site:    # uniqueids (the CRM's call ids) must not collide between the sites
        options = (LAB_ASTERISK / "asterisk.conf").read_text()
        site_files["asterisk.conf"] = options.replace("[options]\n", f"[options]\nsystemname = {box.site}\n")
    return {
        **site_files,
        "extensions.conf": extensions,
        "pjsip.conf": "\n".join(pjsip),
        "pjsip_agents.conf": render_agent_endpoints(s, box),
        "manager.conf": manager,
        "rtp.conf": rtp,
    }


def render_agent_endpoints(s: Settings, box: SandboxSettings) -> str:
    """One PJSIP endpoint per agent; in the sandbox each phone is a SIPp UAS on its own port."""
    lines = ["; Generated from config/agents.yaml — do not edit."]
    homed = site_agents(s, box.site)
    for index, (name, agent) in enumerate(s.agents().items()):
        if name not in homed:      # another site's phone: reached through its trunk
            continue
        port = agent_phone_port(box, index)
        e = agent.endpoint
        lines += [f"[{e}](hotline-agent)", f"aors = {e}", "",
                  f"[{e}](hotline-agent-aor)", f"contact = sip:{e}@127.0.0.1:{port}", ""]
    return "\n".join(lines)


def site_settings(s: Settings, site: str) -> Settings:
    """The engine settings as one site's Asterisk sees them: that site's AMI."""
    from ivr.app.sites import site_ami
    found = next((x for x in s.sites if x.name == site), None)
    if found is None:
        raise SandboxError(f"sandbox.yaml names site {site!r}, which engine.yaml's sites: lacks "
                           f"(sites: {', '.join(x.name for x in s.sites) or 'none'})")
    return s.model_copy(update={"ami": site_ami(found)})


def site_agents(s: Settings, site: str) -> dict:
    """The agents whose phones register on this sandbox: all of them, or one site's."""
    agents = s.agents()
    if not site:
        return agents
    homed = next(x.agents for x in s.sites if x.name == site)
    return {name: a for name, a in agents.items() if name in homed}


def render_site_trunks(s: Settings, box: SandboxSettings) -> list[str]:
    """One trunk endpoint per other site (asterisk/pjsip_hotline.conf [hotline-site-trunk]):
    named by that site's trunk, our own trunk name as From user so it knows us."""
    if not box.site:
        return []
    own = next(x for x in s.sites if x.name == box.site)
    lines = ["; Trunks to the other sites (generated from engine.yaml sites:)."]
    for other in s.sites:
        if other.name == box.site or not other.trunk:
            continue
        port = box.site_sip_ports.get(other.name)
        if port is None:
            raise SandboxError(f"sandbox.yaml site_sip_ports has no SIP port for site {other.name!r}")
        lines += [f"[{other.trunk}](hotline-site-trunk)", f"aors = {other.trunk}",
                  f"from_user = {own.trunk or own.name}", "",
                  f"[{other.trunk}](hotline-site-trunk-aor)",
                  f"contact = sip:127.0.0.1:{port}", ""]
    return lines


def agent_phone_port(box: SandboxSettings, index: int) -> int:
    return box.agent_phone_base_port + index


def wait_fully_booted(s: Settings, proc: subprocess.Popen, timeout: float) -> None:
    """Log in to AMI and wait for FullyBooted: Asterisk is up and every module loaded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SandboxError(f"Asterisk exited with status {proc.returncode}")
        try:
            if _ami_fully_booted(s, deadline):
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SandboxError(f"Asterisk did not answer on AMI port {s.ami.port} within {timeout:.0f} s")


def _ami_fully_booted(s: Settings, deadline: float) -> bool:
    with socket.create_connection((s.ami.host, s.ami.port), timeout=2) as sock:
        sock.settimeout(max(0.5, deadline - time.monotonic()))
        login = (f"Action: Login\r\nUsername: {s.ami.username}\r\n"
                 f"Secret: {s.ami.secret()}\r\nEvents: system\r\n\r\n")
        sock.sendall(login.encode())
        data = b""
        while b"FullyBooted" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                return False
            data += chunk
            if b"Authentication failed" in data:
                raise SandboxError("AMI refused the engine's login: check IVR_AMI_SECRET")
        sock.sendall(b"Action: Logoff\r\n\r\n")
        return True


def _prepare_chroot(root: Path) -> None:
    """Chroot settings that matter under load (DESIGN.md §4): resolve our own host name
    locally and keep no resolv.conf, so Asterisk never blocks on DNS."""
    hosts = root / "etc/hosts"
    hostname = socket.gethostname()
    hosts.write_text(f"127.0.0.1 localhost {hostname}\n::1 localhost\n")
    (root / "etc/resolv.conf").unlink(missing_ok=True)
    for d in ASTERISK_DIRS:
        path = root / d
        path.mkdir(parents=True, exist_ok=True)
        for dirpath, dirnames, filenames in os.walk(path):
            os.chown(dirpath, 0, 0)
            for f in filenames:
                try:
                    os.chown(os.path.join(dirpath, f), 0, 0, follow_symlinks=False)
                except FileNotFoundError:
                    pass


def _require_root(why: str) -> None:
    if os.geteuid() != 0:
        raise SandboxError(f"root is needed to {why}: run as root (e.g. sudo)")


def _check_port_free(proto: str, port: int, what: str) -> None:
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise SandboxError(f"{proto.upper()} port {port} for {what} is already in use on "
                               f"127.0.0.1: stop what holds it or choose another port") from None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True
