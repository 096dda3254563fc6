"""`ivr desk …`: serve the desk, and manage its users (add, passwd, disable, list)."""
from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any, TypeVar

import click

from ivr.cli.common import UserError, settings_or_exit
from ivr.config import ConfigError, Settings
from ivr.crm.render import csv_text

from ivr.desk.passwords import Passwords
from ivr.desk.policy import LANGUAGES, ROLES, name_problem, password_problem
from ivr.desk.users import DeskAccounts, DeskError, UserRow

T = TypeVar("T")


@click.group("desk")
def desk_group() -> None:
    """The agents' desk (web): serve it, manage its users."""


@desk_group.command("serve")
@click.option("--host", default=None, help="address to listen on (default desk.host, 127.0.0.1)")
@click.option("--port", type=int, default=None, help="port (default desk.port, 8480)")
@click.pass_context
def serve_cmd(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve the desk (HTTPS when desk.tls_cert and desk.tls_key are set)."""
    from ivr.desk.server import serve
    settings = settings_or_exit(ctx)
    try:
        asyncio.run(serve(settings, host, port))
    except KeyboardInterrupt:
        pass
    except DeskError as exc:
        raise UserError(str(exc)) from None
    except SystemExit as exc:          # uvicorn exits when it cannot listen (said just above)
        if exc.code not in (0, None):
            where = f"{host or settings.desk.host}:{port or settings.desk.port}"
            raise UserError(f"the desk cannot listen on {where} (see above); stop what uses it "
                            "or choose another port (--port or desk.port)") from None


@desk_group.group("user")
def user_group() -> None:
    """Desk users: agents (name as in agents.yaml), supervisors, admins."""


@user_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--language", type=click.Choice(LANGUAGES), default=None,
              help="the user's UI language (default desk.language)")
@click.option("--full-name", default="", help="the name shown on pages")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input (scripts)")
@click.pass_context
def add_cmd(ctx: click.Context, name: str, role: str, language: str | None, full_name: str,
            password_stdin: bool) -> None:
    """Add a desk user; the password is asked twice (or read with --password-stdin)."""
    settings = settings_or_exit(ctx)
    if problem := name_problem(name):
        raise UserError(f"user name {name!r}: {problem}")
    if role == "agent":
        _warn_unless_agent(settings, name)
    password = _new_password(password_stdin)
    hashed = asyncio.run(Passwords().hash(password))
    _run(settings, lambda a: a.add_user(name, role, language or settings.desk.language, hashed,
                                        _now(), full_name))
    click.echo(f"desk user {name} added ({role})")


@user_group.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input (scripts)")
@click.pass_context
def passwd_cmd(ctx: click.Context, name: str, password_stdin: bool) -> None:
    """Set a user's password; their sessions end (they sign in again)."""
    settings = settings_or_exit(ctx)
    password = _new_password(password_stdin)
    hashed = asyncio.run(Passwords().hash(password))
    _run(settings, lambda a: a.set_password(name, hashed, _now()))
    click.echo(f"password of {name} changed; their sessions are closed")


@user_group.command("disable")
@click.argument("name")
@click.pass_context
def disable_cmd(ctx: click.Context, name: str) -> None:
    """Disable a user: they cannot sign in, and their open sessions end at once."""
    _set_disabled(ctx, name, True, f"desk user {name} disabled; their sessions are closed")


@user_group.command("enable")
@click.argument("name")
@click.pass_context
def enable_cmd(ctx: click.Context, name: str) -> None:
    """Let a disabled user sign in again."""
    _set_disabled(ctx, name, False, f"desk user {name} enabled")


def _set_disabled(ctx: click.Context, name: str, disabled: bool, done: str) -> None:
    _run(settings_or_exit(ctx), lambda a: a.set_disabled(name, disabled, _now()))
    click.echo(done)


@user_group.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
@click.pass_context
def list_cmd(ctx: click.Context, fmt: str) -> None:
    """The desk's users (never their password hashes)."""
    rows = [_listed(r) for r in _run(settings_or_exit(ctx), lambda a: a.list_users())]
    columns = ["name", "full_name", "role", "language", "disabled", "created_at", "updated_at"]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
    elif fmt == "csv":
        click.echo(csv_text(rows, columns), nl=False)
    else:
        from rich.console import Console
        from rich.table import Table
        table = Table(title="Desk users")
        for col in columns:
            table.add_column(col.replace("_", " "))
        for row in rows:       # minutes are enough to read; json/csv keep the full time
            table.add_row(*(row[c][:16].replace("T", " ") if c.endswith("_at") else str(row[c])
                            for c in columns))
        Console().print(table)


def _listed(row: UserRow) -> dict[str, Any]:
    u = row.user
    return {"name": u.name, "full_name": u.full_name, "role": u.role, "language": u.language,
            "disabled": u.disabled, "created_at": row.created_at.isoformat(),
            "updated_at": row.updated_at.isoformat()}


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _new_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt="Repeat the password")
    if problem := password_problem(password):
        raise UserError(f"password refused: {problem}")
    return password


def _warn_unless_agent(settings: Settings, name: str) -> None:
    try:
        agents = settings.agents()
    except ConfigError as exc:
        click.echo(f"warning: cannot check agents.yaml: {exc}", err=True)
        return
    if name not in agents:
        click.echo(f"warning: {name} is not an agent in {settings.path(settings.agents_file)}; "
                   "no call will be offered to them until it is added there", err=True)


def _run(settings: Settings, work: Callable[[DeskAccounts], Awaitable[T]]) -> T:
    from ivr.crm.errors import CrmError
    from ivr.crm.store import open_store

    async def main() -> T:
        store = await open_store(settings.crm_url())
        try:
            return await work(DeskAccounts(store))
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except CrmError as exc:        # DeskError included: unknown user, name taken…
        raise UserError(str(exc)) from None
