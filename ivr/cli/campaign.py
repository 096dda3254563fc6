"""`ivr campaign …` and the campaign part of `ivr check` (issue 15): the adapters that read
campaign files, their dialplans and lists; the rules themselves are in ivr/outbound/.

Paths inside a campaign file (dialplan, list.csv, list.rejects) start from its own folder."""
from __future__ import annotations

from pathlib import Path

import click

from ivr.config import Settings
from ivr.dialplan.checks import Catalog
from ivr.dialplan.loader import check_paths, load_plan
from ivr.dialplan.model import MenuNode
from ivr.dialplan.problems import PlanInvalid, Problem
from ivr.dialplan.source import Source, load_yaml
from ivr.outbound.campaign import Campaign, opt_out_problems, parse_campaign
from ivr.crm.records import CONTACT_TYPES
from ivr.outbound.followup import SEGMENT
from ivr.outbound.listing import ListContact, Reject, parse_list, rejects_csv


def campaign_files(settings: Settings) -> list[Path]:
    folder = settings.path(settings.campaigns_dir)
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]) if folder.is_dir() else []


def read_campaign(path: Path) -> tuple[Campaign | None, list[Problem]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(str(path), 1, 1, f"cannot read: {exc}")]
    return parse_campaign(text, str(path))


def beside(path: Path, relative: str) -> Path:
    p = Path(relative).expanduser()
    return p if p.is_absolute() else path.parent / p


def rejects_path(path: Path, campaign: Campaign) -> Path:
    csv = beside(path, campaign.list.csv or "list.csv")
    return beside(path, campaign.list.rejects) if campaign.list.rejects else csv.with_suffix(".rejects.csv")


def read_list(path: Path, campaign: Campaign) -> tuple[list[ListContact], list[Reject], str]:
    """The campaign's CSV list: (contacts, rejected rows, a problem with the whole file or '')."""
    csv = beside(path, campaign.list.csv or "")
    try:
        text = csv.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        return [], [], f"cannot read the list {csv}: {exc}"
    contacts, rejects, problem = parse_list(text, campaign.list.country_code)
    return contacts, rejects, f"{csv}:{problem}" if problem else ""


def check_campaign(path: Path, catalog: Catalog | None = None,
                   queues: set[str] | None = None) -> list[Problem]:
    """One campaign file: the file itself, its dialplan, its list, its queue."""
    campaign, problems = read_campaign(path)
    if campaign is None:
        return problems
    _, src, _ = load_yaml(path.read_text(encoding="utf-8"), str(path))
    dialplan = beside(path, campaign.dialplan)
    if not dialplan.is_file():
        problems.append(src.problem(("dialplan",), f"dialplan {dialplan} does not exist; fix "
                                    f"`dialplan:` (relative paths start from {path.parent})"))
    else:
        # the identification node is played by the engine, not reached from the menus
        played = f"node {campaign.abandon_message!r} is unreachable"
        problems += [p for p in check_paths([dialplan], catalog)
                     if not (campaign.abandon_message and played in str(p))]
        problems += _opt_out(campaign, dialplan, src)
        problems += _abandon_message(campaign, dialplan, src)
    if campaign.list.csv is not None:
        contacts, rejects, problem = read_list(path, campaign)
        if problem:
            problems.append(src.problem(("list", "csv"), problem))
        elif rejects:
            problems.append(src.problem(
                ("list", "csv"), f"{len(rejects)} row(s) of the list are rejected and will not be "
                f"called, the first at line {rejects[0].line}: {rejects[0].reason} (all of them: "
                f"`ivr campaign list {path}` writes {rejects_path(path, campaign)})", severity="warning"))
        elif not contacts:
            problems.append(src.problem(("list", "csv"), "the list has no contact", severity="warning"))
    if isinstance(campaign.list.segment, str) and campaign.list.segment != SEGMENT:
        problems.append(src.problem(("list", "segment"), f"unknown segment {campaign.list.segment!r}: "
                                    f"the CRM segments are: {SEGMENT} (reporters of adverse-event "
                                    "cases missing minimum criteria), or filters on contact cards "
                                    "(`segment: {types: [pharmacist], consent: may_contact_phone}`); or "
                                    "give `list: {csv: FILE}`"))
    segment = campaign.list.segment
    if not isinstance(segment, str) and segment is not None:
        unknown = [t for t in segment.types if t not in CONTACT_TYPES]
        if unknown:
            problems.append(src.problem(("list", "segment", "types"), f"unknown contact type(s) "
                                        f"{', '.join(map(repr, unknown))}: the types are {', '.join(CONTACT_TYPES)}"))
    if campaign.list.segment == SEGMENT and campaign.mode != "preview":
        problems.append(src.problem(("mode",), f"the {SEGMENT} segment is called in preview mode "
                                    "(the agent reads the case before dialling): set `mode: preview`"))
    given = campaign.preview.model_fields_set
    if given and campaign.mode != "preview":
        problems.append(src.problem(("preview",), f"`preview:` settings do nothing in mode "
                                    f"{campaign.mode}: remove them or set `mode: preview`",
                                    severity="warning"))
    elif "followup_due_days" in given and campaign.list.segment != SEGMENT:
        problems.append(src.problem(("preview", "followup_due_days"), "followup_due_days is for "
                                    f"the {SEGMENT} segment only (adverse-event follow-ups): "
                                    "remove it", severity="warning"))
    if queues is not None and campaign.queue and campaign.queue not in queues:
        problems.append(src.problem(("queue",), f"unknown queue {campaign.queue!r}; known queues: "
                                    f"{', '.join(sorted(queues)) or 'none'}"))
    return problems


def _opt_out(campaign: Campaign, dialplan: Path, src: Source) -> list[Problem]:
    try:
        plan = load_plan(dialplan)
    except PlanInvalid:
        return []                              # check_paths said why
    menus = {nid: dict(node.options) for nid, node in plan.nodes.items() if isinstance(node, MenuNode)}
    return [src.problem(("opt_out_key",) if not menu else ("dialplan",), message)
            for menu, message in opt_out_problems(campaign, menus, plan.policy.human_key,
                                                  plan.policy.safety_key)]


def check_campaigns(settings: Settings, catalog: Catalog | None = None,
                    queues: set[str] | None = None) -> list[Problem]:
    return [p for f in campaign_files(settings) for p in check_campaign(f, catalog, queues)]


# ------------------------------------------------------------------ the commands
@click.group("campaign")
def campaign_group() -> None:
    """Outbound campaigns: check a list; load, start, pause, resume, stop and follow a
    campaign on the running engine."""


def _engine(ctx: click.Context, payload: dict) -> dict:
    from ivr.app.control import ControlError, request
    from ivr.cli.common import UserError, settings_or_exit
    settings = settings_or_exit(ctx)
    try:
        return request(settings.path(settings.control.socket), {"cmd": "campaign", **payload})
    except ControlError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        raise UserError(str(exc)) from None


@campaign_group.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def load_cmd(ctx: click.Context, file: Path) -> None:
    """Load (or reload) a campaign file and its list into the running engine; it waits for
    `ivr campaign start`. Rows the list rejects are not called."""
    answer = _engine(ctx, {"action": "load", "file": str(file.resolve())})
    click.echo(f"{answer['campaign']}: loaded, {answer['contacts']} contact(s), "
               f"{answer['rejected']} rejected")
    if answer.get("note"):
        click.echo(answer["note"], err=True)


def _state_command(action: str, doc: str) -> None:
    @campaign_group.command(action, help=doc)
    @click.argument("name")
    @click.pass_context
    def command(ctx: click.Context, name: str) -> None:
        _engine(ctx, {"action": action, "name": name})
        click.echo(f"{name}: {action} asked")


_state_command("start", "Start dialling a loaded (or stopped) campaign, within its rules.")
_state_command("pause", "No new calls; calls in progress go on. `resume` goes on dialling.")
_state_command("resume", "Dial again after a pause.")
_state_command("stop", "Stop dialling; `start` begins again where the list is.")


@campaign_group.command("status")
@click.argument("name", required=False)
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
@click.pass_context
def status_cmd(ctx: click.Context, name: str | None, fmt: str) -> None:
    """Live figures of the engine's campaigns: contacts by status, attempts by outcome, the
    rolling abandon rate (recomputed from the attempts), what the pacer sees now."""
    from ivr.cli.tables import emit_rows
    rows = _engine(ctx, {"action": "status", **({"name": name} if name else {})})["campaigns"]
    columns = sorted({k for row in rows for k in row}, key=lambda k: (k not in ("campaign", "mode", "state"), k))
    emit_rows([{k: row.get(k, 0) for k in columns} for row in rows], fmt, "Campaigns")


@campaign_group.command("list")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def list_cmd(file: Path) -> None:
    """Check the campaign's CSV list row by row; write the rejected rows, each with its line
    and reason, next to the list (list.rejects, default <list>.rejects.csv). Exit 1 when the
    campaign file or the list cannot be used."""
    campaign, problems = read_campaign(file)
    for p in problems:
        click.echo(p.display(), err=True)
    if campaign is None:
        raise SystemExit(1)
    if campaign.list.csv is None:
        click.echo(f"{file}: the list is a CRM segment; nothing to check "
                   "in a file", err=True)
        return
    contacts, rejects, problem = read_list(file, campaign)
    if problem:
        click.echo(f"error: {problem}", err=True)
        raise SystemExit(1)
    out = rejects_path(file, campaign)
    if rejects:
        out.write_text(rejects_csv(rejects), encoding="utf-8")
    elif out.exists():
        out.unlink()                  # an old rejects file would mislead the list owner
    click.echo(f"{len(contacts)} contact(s) accepted, {len(rejects)} rejected"
               + (f" (written to {out})" if rejects else ""))


def _abandon_message(campaign: Campaign, dialplan: Path, src: Source) -> list[Problem]:
    """The identification played on an abandoned call is a node of the campaign's dialplan
    (its prompt, built by `ivr sounds build` like the others)."""
    if not campaign.abandon_message:
        return []
    try:
        plan = load_plan(dialplan)
    except PlanInvalid:
        return []
    node = plan.nodes.get(campaign.abandon_message)
    if node is None or not getattr(node, "prompt", None):
        return [src.problem(("abandon_message",), f"abandon_message {campaign.abandon_message!r} is "
                            f"not a node with a prompt in {dialplan}: add a `type: hangup` node "
                            "whose prompt says who calls, why, and a number to call back")]
    return []
