"""`ivr check` for the whole installation: dialplan, config/*.yaml, asterisk/*.conf, security,
and the knowledge base's articles.

`check_config(settings)` returns every problem found (errors and warnings), each pointing at
`file:line:col`, so an operator fixes them all in one pass. Nothing here raises for a bad file.

Asterisk .conf files are read with the small parser below, not pyst2's `asterisk.config`: pyst2
rejects template sections (`[hotline-agent](!)`) and `#include` lines, which our own files use,
and keeps no column numbers.
"""
from __future__ import annotations

import dataclasses
import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from pydantic import BaseModel, ValidationError

from acd.config import AcdConfig, AgentSpec, QueueSpec
from acd.skills import compile_requirement
from ivr.config import AgentEntry, ConfigError, Settings, load_settings
from ivr.call.destinations import Destination
from ivr.dialplan.checks import Catalog
from ivr.dialplan.loader import check_paths, load_plan
from ivr.dialplan.problems import PlanInvalid, Problem
from ivr.app.plans import catalog_for
from ivr.app.prompts import missing_prompts
from ivr.app.sites import site_problems
from ivr.cli.campaign import check_campaigns
from ivr.dialplan.source import Source, load_yaml
from ivr.knowledge.checks import check_articles, plan_intents, problems_of
from ivr.knowledge.files import read_folder

AMI_READ_OK = frozenset({"system", "call", "agent", "user", "reporting", "dialplan"})
AMI_WRITE_OK = frozenset({"system", "call", "originate", "agent", "user"})
DEFAULT_SECRETS = frozenset({"secret", "password", "admin", "changeme", "change-me", "asterisk",
                             "manager", "ivr", "ivr-engine", "default", "test", "amp111",
                             "qwerty", "letmein"})
MIN_SECRET_LEN = 12
LOOPBACK = ("127.", "::1", "localhost")
OPEN_HOSTS = frozenset({"0.0.0.0", "0.0.0.0/0", "::", "::/0", "*", "any", "all"})


# ------------------------------------------------------------------ entry point
def check_config(settings: Settings, *, config_file: str | Path | None = None,
                 asterisk_dir: str | Path | None = None,
                 env: Mapping[str, str] | None = None) -> list[Problem]:
    """Every problem of the installation described by `settings`, sorted by file and line.

    config_file: the engine.yaml the settings came from (default: the file they were read
    from); asterisk_dir: default settings.asterisk_path(); env: default os.environ."""
    env = os.environ if env is None else env
    engine = Path(config_file or settings.file or settings.base_dir / "engine.yaml")
    engine_src = _yaml_source(engine)
    rule = f"relative paths in {engine} start from {engine.parent}"
    problems: list[Problem] = []
    acd, acd_problems = check_acd_files(settings.path(settings.agents_file),
                                        settings.path(settings.queues_file))
    problems += acd_problems
    catalog = None if acd is None else _catalog(acd, settings)
    dialplan = settings.path(settings.dialplan)
    if dialplan.exists():
        problems += check_paths([dialplan], catalog)
        problems += _missing_sounds(dialplan, settings.path(settings.sounds.dir))
        problems += check_divert_prompts(dialplan, settings.path(settings.queues_file))
    else:
        problems.append(_at(engine_src, ("dialplan",),
                            f"dialplan {dialplan} does not exist; fix `dialplan:` ({rule})"))
    asterisk = Path(asterisk_dir) if asterisk_dir else settings.asterisk_path()
    if asterisk.is_dir():
        problems += check_asterisk(asterisk, settings)
    else:
        problems.append(_at(engine_src, ("asterisk_dir",),
                            f"asterisk_dir {asterisk} is not a folder; fix `asterisk_dir:` ({rule}; "
                            "empty: the engine's own asterisk/)"))
    problems += check_security(settings, engine_src, env)
    problems += check_knowledge(settings, engine_src, dialplan)
    problems += check_campaigns(settings, catalog, None if acd is None else {q.name for q in acd.queues})
    problems += _check_email_channel(settings, engine_src, acd, env)
    problems += site_problems(settings, engine_src)       # sites: (issue 16)
    return sorted(set(problems))


def _check_email_channel(settings: Settings, src: Source, acd: Any, env: Mapping[str, str]) -> list[Problem]:
    """channels.email: its queues exist (else its tasks are refused by the ACD) and its
    password is in the environment."""
    email = settings.channels.email
    if email is None:
        return []
    problems = []
    names = {q.name for q in acd.queues} if acd is not None else None
    for key in ("queue", "pv_queue"):
        queue = getattr(email, key)
        if names is not None and queue not in names:
            problems.append(_at(src, ("channels", "email", key),
                                f"channels.email.{key}: queue {queue!r} is not in {settings.queues_file}; "
                                f"use one of {', '.join(sorted(names))}"))
    if email.password_env not in env:
        problems.append(_at(src, ("channels", "email", "password_env"),
                            f"channels.email: the IMAP password is read from ${email.password_env}, "
                            "which is not set here", "warning"))
    return problems


def checked_files(settings: Settings) -> list[tuple[str, Path]]:
    """What `ivr check` reads for an installation, by role, resolved by the settings' rule."""
    return [("settings", settings.file or settings.base_dir / "engine.yaml"),
            ("agents", settings.path(settings.agents_file)),
            ("queues", settings.path(settings.queues_file)),
            ("dialplan", settings.path(settings.dialplan)),
            ("sounds", settings.path(settings.sounds.dir)),
            ("asterisk", settings.asterisk_path()),
            ("knowledge", settings.path(settings.knowledge.dir)),
            ("campaigns", settings.path(settings.campaigns_dir))]


def catalog_from_files(settings: Settings) -> Catalog | None:
    """Queues/skills/agents from config for dialplan checks; None if the config is unsound."""
    acd = check_acd_files(settings.path(settings.agents_file), settings.path(settings.queues_file))[0]
    return None if acd is None else _catalog(acd, settings)


def _catalog(acd: AcdConfig, settings: Settings) -> Catalog:
    catalog = catalog_for(acd)
    if settings.speech.model:
        hook = _lazy_unknown_words(settings.speech.model)
        langs = settings.speech.languages
        catalog.unknown_words = {lang: hook for lang in langs} if langs else hook
    return catalog


def _lazy_unknown_words(model_name: str):
    """vosk drops grammar words its model lacks: ask the configured model, loaded only if a
    plan has speech phrases to check (it takes seconds and half a gigabyte)."""
    model = None

    def unknown_words(phrases: list[str]) -> list[str]:
        nonlocal model
        if model is None:
            from ivr.speech.recognizer import SpeechModel
            model = SpeechModel.load(model_name)
        return model.unknown_words(phrases)
    return unknown_words


@click.command("check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--strict", is_flag=True, help="Warnings fail too.")
@click.pass_context
def check_cmd(ctx: click.Context, paths: tuple[Path, ...], strict: bool) -> None:
    """Check the installation: dialplan, config/*.yaml, asterisk/*.conf, security settings and
    the knowledge base's articles (with PATHS: only those dialplan files). Prints
    file:line:col: message; exit 1 on errors."""
    config = (ctx.find_object(dict) or {}).get("config")
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(1)
    # Say which files were read: a copied engine.yaml names its files from its own folder.
    files = checked_files(settings)
    if paths:
        files = [(role, path) for role, path in files if role in ("settings", "agents", "queues")]
        files += [("dialplan", path) for path in paths]
        problems = check_paths(paths, catalog_from_files(settings))
    else:
        problems = check_config(settings)
    for role, path in files:
        click.echo(f"checking {role:<8} {path}", err=True)
    for p in problems:
        click.echo(p.display(), err=not p.is_error)
    failing = [p for p in problems if p.is_error or strict]
    if failing:
        click.echo(f"{len(failing)} problem(s)", err=True)
        ctx.exit(1)
    click.echo(f"ok: {'%d path(s)' % len(paths) if paths else 'installation'} checked"
               + (f", {len(problems)} warning(s)" if problems else ""), err=True)


def check_divert_prompts(dialplan: Path, queues_file: Path) -> list[Problem]:
    """A caller the ACD diverts (a callback, a transfer, a message) is told what happens
    next, in the caller's language: every destination needs a prompt in each language of the
    dialplan, and the callback key its confirmation."""
    try:
        plan = load_plan(dialplan)
    except PlanInvalid:
        return []                                       # already reported by check_paths
    data, src, _ = _read(queues_file)
    dests = (data or {}).get("destinations") if isinstance(data, dict) else None
    problems: list[Problem] = []
    for name, spec in (dests or {}).items() if isinstance(dests, dict) else ():
        said = (spec or {}).get("prompt") or {} if isinstance(spec, dict) else {}
        missing = [lang for lang in plan.languages if not str(said.get(lang) or "").strip()]
        if said and missing:       # none at all: the destination's own check says so
            problems.append(_at(src, ("destinations", name, "prompt"),
                                f"destination {name!r} has no prompt in {', '.join(missing)} "
                                f"(languages of {dialplan.name}: {', '.join(plan.languages)}): "
                                "a caller diverted there would not be told what happens next"))
    confirm = plan.policy.callback_confirm_prompt or {}
    missing = [lang for lang in plan.languages if lang not in confirm]
    if missing and plan.source is not None:
        problems.append(plan.source.problem(
            ("policy",), f"policy.callback_confirm_prompt has no text in {', '.join(missing)}: a "
            "caller who presses the callback key hears only Asterisk's 'thank you, goodbye', "
            "not when we call back", key=True, severity="warning"))
    return problems


def _missing_sounds(dialplan: Path, sounds_dir: Path) -> list[Problem]:
    """Prompts without a sound file: the engine refuses to start (a warning here: sounds are
    generated by `ivr sounds build`, not tracked)."""
    try:
        plan = load_plan(dialplan)
    except PlanInvalid:
        return []                                       # already reported by check_paths
    return [dataclasses.replace(p, severity="warning",
                                message=p.message + "; the engine will refuse to start")
            for p in missing_prompts(plan, sounds_dir)]


def _yaml_source(path: Path) -> Source:
    try:
        return load_yaml(path.read_text(encoding="utf-8"), str(path))[1]
    except OSError:
        return Source(str(path))


def _at(src: Source, path: tuple[str | int, ...], message: str, severity: str = "error",
        key: bool = False) -> Problem:
    return src.problem(path, message, key=key, severity=severity)


# ------------------------------------------------------------------ (a) agents.yaml + queues.yaml
def _read(path: Path) -> tuple[Any, Source, list[Problem]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return None, Source(str(path)), [Problem(str(path), 1, 1, f"cannot read: {exc.strerror}")]
    return load_yaml(text, str(path))


def _pydantic(src: Source, base: tuple[str | int, ...], exc: ValidationError) -> list[Problem]:
    out = []
    for err in exc.errors():
        loc = tuple(x for x in err["loc"] if x != "name")
        where = ".".join(str(x) for x in base + loc)
        msg = err["msg"].removeprefix("Value error, ")
        out.append(_at(src, base + loc, f"{where}: {msg}", key=err["type"] == "extra_forbidden"))
    return out


def _validate(model: type[BaseModel], data: Any, src: Source,
              base: tuple[str | int, ...]) -> Any:
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        return None, _pydantic(src, base, exc)


def check_acd_files(agents_file: Path, queues_file: Path) -> tuple[AcdConfig | None, list[Problem]]:
    """Validate agents.yaml and queues.yaml with positions; return the ACD config if it is sound."""
    problems: list[Problem] = []
    adata, asrc, p = _read(agents_file)
    problems += p
    agents: list[AgentSpec] = []
    amap = (adata or {}).get("agents") if isinstance(adata, dict) else None
    if not isinstance(amap, dict):
        problems.append(_at(asrc, ("agents",), f"{agents_file}: needs an `agents:` mapping of "
                            "name -> {skills: {skill: level}}"))
        amap = {}
    for name, spec in amap.items():
        entry, p = _validate(AgentEntry, spec or {}, asrc, ("agents", name))
        problems += p
        if entry is not None:
            agent, p = _validate(AgentSpec, {"name": name, "endpoint": entry.endpoint or name,
                                             "skills": entry.skills,
                                             **({"channels": entry.channels} if entry.channels else {})},
                                 asrc, ("agents", name))
            problems += p
            agents += [agent] if agent else []

    qdata, qsrc, p = _read(queues_file)
    problems += p
    qdata = qdata if isinstance(qdata, dict) else {}
    if "agents" in qdata:
        problems.append(_at(qsrc, ("agents",), f"`agents:` here is ignored: agents come from "
                            f"{agents_file.name}; remove it to avoid confusion",
                            "warning", key=True))
    top = {k: v for k, v in qdata.items() if k not in ("agents", "queues", "destinations")}
    problems += _validate(AcdConfig, top, qsrc, ())[1]
    dests = qdata.get("destinations") or {}
    if not isinstance(dests, dict):
        problems.append(_at(qsrc, ("destinations",), "destinations: must map name -> destination"))
        dests = {}
    for name, spec in dests.items():
        problems += _validate(Destination, spec or {}, qsrc, ("destinations", name))[1]
    qmap = qdata.get("queues") or {}
    if not isinstance(qmap, dict):
        problems.append(_at(qsrc, ("queues",), "queues: must map name -> queue settings"))
        qmap = {}
    queues: list[QueueSpec] = []
    for name, spec in qmap.items():
        if not isinstance(spec, dict):
            problems.append(_at(qsrc, ("queues", name), f"queue {name}: must be a mapping"))
            continue
        queue, p = _validate(QueueSpec, {"name": name, **spec}, qsrc, ("queues", name))
        problems += p
        queues += [queue] if queue else []
        problems += _queue_refs(name, spec, set(qmap), set(dests), qsrc)
    for q in queues:
        problems += _unmeetable(q, agents, qsrc)
    if len(agents) != len(amap) or len(queues) != len(qmap):
        return None, problems          # a model failed: no catalog to check dialplans against
    try:
        return AcdConfig(priority_step_seconds=top.get("priority_step_seconds", 60.0),
                         agents=agents, queues=queues), problems
    except ValidationError as exc:
        return None, problems + _pydantic(qsrc, (), exc)


_REF_FIELDS = ("congestion_destination", "no_agents_destination", "max_ewt_destination")


def _queue_refs(name: str, spec: dict, queues: set[str], dests: set[str],
                src: Source) -> list[Problem]:
    refs: list[tuple[tuple[str | int, ...], Any, bool]] = [
        (("queues", name, f), spec.get(f), False) for f in _REF_FIELDS if spec.get(f)]
    steps = spec.get("escalation")
    for i, step in enumerate(steps if isinstance(steps, list) else []):
        if isinstance(step, dict):
            for f in ("overflow", "divert"):
                if step.get(f):
                    refs.append((("queues", name, "escalation", i, f), step[f], f == "overflow"))
    out = []
    for path, target, queue_only in refs:
        field = ".".join(str(x) for x in path)
        if queue_only and target not in queues:
            out.append(_at(src, path, f"{field}: no queue named {target!r}; "
                           f"known queues: {', '.join(sorted(queues)) or 'none'}"))
        elif not queue_only and target not in dests and target not in queues:
            out.append(_at(src, path, f"{field}: {target!r} is neither a queue nor defined under "
                           "`destinations:`; add it there (transfer, callback or message)"))
    return out


def _unmeetable(q: QueueSpec, agents: list[AgentSpec], src: Source) -> list[Problem]:
    reqs = [q.requirement] + [s.widen for s in q.escalation if s.widen is not None]
    if not agents or any(compile_requirement(r).match(a.skills) for r in reqs for a in agents):
        return []
    return [_at(src, ("queues", q.name, "requirement"),
                f"queue {q.name}: no agent can ever meet requirement {q.requirement!r} (nor any "
                "widen step): give an agent the skills or relax the requirement", "warning")]


# ------------------------------------------------------------------ (b) asterisk/*.conf
@dataclass(frozen=True)
class ConfLine:
    """One `key = value` / `key => value` line (or a `#directive`) of an Asterisk .conf file."""
    file: str
    line: int
    col: int
    section: str | None
    key: str
    value: str


@dataclass
class ConfFile:
    file: str
    sections: dict[str, int]          # name -> line of its [header]
    lines: list[ConfLine]
    problems: list[Problem]

    def in_section(self, name: str) -> list[ConfLine]:
        return [item for item in self.lines if item.section == name]


_SECTION = re.compile(r"^\[([^\]]+)\](\([^)]*\))?\s*$")
_ITEM = re.compile(r"^([^=]+?)\s*(=>|=)\s*(.*)$")


def parse_conf(text: str, file: str) -> ConfFile:
    """Asterisk's .conf syntax: [section](template), key = value, key => value, #include,
    `;` comments (`\\;` is a literal), `;-- block comments --;`."""
    conf = ConfFile(file, {}, [], [])
    section: str | None = None
    in_block = False
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw
        if in_block:
            end = line.find("--;")
            if end < 0:
                continue
            line, in_block = line[end + 3:], False
        start = line.find(";--")
        if start >= 0 and line.find("--;", start + 3) < 0:
            line, in_block = line[:start], True
        line = re.sub(r";--.*?--;", "", line)
        line = re.split(r"(?<!\\);", line, maxsplit=1)[0].replace("\\;", ";")
        col = len(line) - len(line.lstrip()) + 1
        body = line.strip()
        if not body:
            continue
        if body.startswith("#"):
            word, _, rest = body[1:].partition(" ")
            conf.lines.append(ConfLine(file, number, col, section, "#" + word, rest.strip()))
            continue
        if m := _SECTION.match(body):
            section = m.group(1).strip()
            conf.sections.setdefault(section, number)
            continue
        if m := _ITEM.match(body):
            conf.lines.append(ConfLine(file, number, col, section, m.group(1).strip().lower(),
                                       m.group(3).strip()))
            continue
        conf.problems.append(Problem(file, number, col, f"not a [section] or `key = value` "
                                     f"line: {body[:60]!r}"))
    return conf


def _load_conf(path: Path) -> ConfFile | None:
    try:
        return parse_conf(path.read_text(encoding="utf-8", errors="replace"), str(path))
    except OSError:
        return None


def check_asterisk(directory: Path, settings: Settings) -> list[Problem]:
    """extensions/manager files cross-checked with the settings; no secret in any .conf."""
    out: list[Problem] = []
    files = sorted(p for p in directory.rglob("*.conf*") if p.is_file())
    for path in files:
        conf = _load_conf(path)
        if conf is None:
            continue
        out += conf.problems
        for item in conf.lines:
            if item.key == "secret":
                out.append(Problem(item.file, item.line, item.col,
                                   "AMI/SIP secret in a tracked file: remove it; secrets come from "
                                   "the environment (IVR_AMI_SECRET, written by `ivr asterisk secret`)"))
    out += _check_extensions(directory / "extensions_hotline.conf")
    out += _check_manager(directory / "manager_hotline.conf", settings)
    return out


# IVR_TRY: the engine being tried when two share the calls (IVR_ENGINE, IVR_ENGINE_B)
_AGI_HOTLINE = re.compile(r"\bAGI\(\s*\$\{IVR_(ENGINE|TRY)\}/hotline\b", re.I)


def _check_extensions(path: Path) -> list[Problem]:
    conf = _load_conf(path)
    if conf is None:
        return [Problem(str(path), 1, 1, "missing: the hotline dialplan for Asterisk must exist")]
    if "hotline" not in conf.sections:
        return [Problem(conf.file, 1, 1, "no [hotline] context: callers cannot reach the engine")]
    items = [i for i in conf.in_section("hotline") if i.key in ("exten", "same")]
    agi = [n for n, i in enumerate(items) if _AGI_HOTLINE.search(i.value)]
    if not agi:
        return [Problem(conf.file, conf.sections["hotline"], 1,
                        "[hotline] never calls AGI(${IVR_ENGINE}/hotline,...): calls never reach "
                        "the engine")]
    after = items[agi[0] + 1:]
    if not any(re.search(r"\b(Dial|Goto|Queue)\(", i.value, re.I) for i in after):
        first = items[agi[0]]
        return [Problem(conf.file, first.line, first.col,
                        "no fallback after AGI(${IVR_ENGINE}/hotline): add a Dial() to the operator "
                        "so callers are answered when the engine is down")]
    return []


def _rights(value: str) -> set[str]:
    return {r.strip().lower() for r in value.split(",") if r.strip()}


def _check_manager(path: Path, settings: Settings) -> list[Problem]:
    conf = _load_conf(path)
    if conf is None:
        return [Problem(str(path), 1, 1, "missing: the engine's AMI user must be defined")]
    users = {name: line for name, line in conf.sections.items() if name != "general"}
    want = settings.ami.username
    out: list[Problem] = []
    if want not in users:
        line = min(users.values(), default=1)
        out.append(Problem(conf.file, line, 1, f"AMI user {sorted(users) or 'none'} does not match "
                           f"ami.username {want!r} of the engine settings: rename the section "
                           f"to [{want}] or change ami.username"))
        return out
    # SMS replies leave through AMI MessageSend, which needs the "message" write class
    write_ok = AMI_WRITE_OK | ({"message"} if settings.channels.sms is not None else set())
    for item in conf.in_section(want):
        allowed = {"read": AMI_READ_OK, "write": write_ok}.get(item.key)
        if allowed is None:
            continue
        extra = _rights(item.value) - allowed
        if extra:
            out.append(Problem(conf.file, item.line, item.col,
                               f"AMI user {want}: {item.key} rights beyond least privilege: "
                               f"{', '.join(sorted(extra))} (allowed: {', '.join(sorted(allowed))})",
                               "warning"))
    return out


# ------------------------------------------------------------------ (c) knowledge base
def check_knowledge(settings: Settings, engine_src: Source, dialplan: Path) -> list[Problem]:
    """Every article of the knowledge folder (ivr/knowledge/checks.py): front matter, fields,
    languages, unique ids, a body, and intents the dialplan has (when it loads)."""
    folder = settings.path(settings.knowledge.dir)
    if not folder.is_dir():
        return [_at(engine_src, ("knowledge", "dir"),
                    f"no knowledge folder {folder}: agents get no article suggestions; create it "
                    "or fix `knowledge.dir` (relative to this file's folder)", "warning")]
    try:
        intents = plan_intents(load_plan(dialplan)) if dialplan.exists() else None
    except PlanInvalid:
        intents = None                              # the dialplan's own problems are reported
    files, unreadable = read_folder(folder)
    return unreadable + problems_of(check_articles(files, intents))


# ------------------------------------------------------------------ (d) security
def weak_secret(secret: str) -> str | None:
    """Why this secret is weak, or None."""
    low = secret.lower()
    if low in DEFAULT_SECRETS or (low.isdigit() and "1234".startswith(low[:4])):
        return "is a well-known default"
    if len(secret) < MIN_SECRET_LEN:
        return f"is shorter than {MIN_SECRET_LEN} characters"
    if len(set(secret)) <= 2:
        return "repeats one or two characters"
    return None


def _is_loopback(host: str) -> bool:
    return host.startswith(LOOPBACK)


def check_security(settings: Settings, src: Source, env: Mapping[str, str]) -> list[Problem]:
    out: list[Problem] = []
    secret = env.get("IVR_AMI_SECRET")
    if secret:
        why = weak_secret(secret)
        if why:
            out.append(_at(src, ("ami",), f"the AMI secret from IVR_AMI_SECRET {why}: use a random "
                           "secret (e.g. `openssl rand -hex 24`)", "warning", key=True))
    elif settings.ami.secret_file:
        out += _check_secret_file(settings, src)
    agi = settings.agi
    if not _is_loopback(agi.host) and _open_to_all(agi.allowed_hosts):
        out.append(_at(src, ("agi", "host"), f"FastAGI listens on {agi.host} and accepts any "
                       "host: list the Asterisk servers in agi.allowed_hosts", "warning"))
    if not _is_loopback(settings.audiosocket.host):
        out.append(_at(src, ("audiosocket", "host"), f"AudioSocket listens on "
                       f"{settings.audiosocket.host} with no host restriction (caller audio): "
                       "bind it to 127.0.0.1 or firewall the port", "warning"))
    return out


def _open_to_all(hosts: Iterable[str]) -> bool:
    hosts = [h.strip().lower() for h in hosts]
    return not hosts or any(h in OPEN_HOSTS for h in hosts)


def _check_secret_file(settings: Settings, src: Source) -> list[Problem]:
    path = Path(settings.ami.secret_file or "").expanduser()
    where = ("ami", "secret_file")
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        return [_at(src, where, f"ami.secret_file {path}: {exc.strerror}")]
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return [_at(src, where, f"ami.secret_file {path} is readable by others "
                    f"(mode {stat.S_IMODE(mode):o}): chmod 600 {path}")]
    try:
        why = weak_secret(path.read_text(encoding="utf-8").strip())
    except OSError:
        return []
    return [_at(src, where, f"the AMI secret in {path} {why}: use a random secret",
                "warning")] if why else []
