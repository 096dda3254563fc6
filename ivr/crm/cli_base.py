"""What every CRM command shares: the store URL option, ISO times, exit 1 for user errors,
running a job on a store opened for the command, writing output to a file or stdout."""
from __future__ import annotations

import asyncio
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable

import click

from .errors import CrmError
from .store import CrmStore, open_store

crm_option = click.option("--crm", "crm_url", envvar="IVR_CRM_URL", metavar="URL",
                          help="CRM store, e.g. sqlite:///var/crm.db or postgresql://ivr@db:5432/ivr")


class IsoTime(click.ParamType):
    name = "ISO-TIME"

    def convert(self, value: Any, param: Any, ctx: Any) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            t = datetime.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not an ISO date/time; use e.g. 2026-11-24 or 2026-11-24T08:00 (UTC)", param, ctx)
        return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


ISO = IsoTime()


class _UsageIsUserError:
    """Bad options are user errors too: show click's message and exit 1 (not click's 2)."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            exc.show()
            raise click.exceptions.Exit(1) from exc


class CrmCommand(_UsageIsUserError, click.Command):
    pass


class CrmGroup(_UsageIsUserError, click.Group):
    pass


def _url(ctx: click.Context, crm_url: str | None) -> str:
    url = crm_url or (ctx.obj.get("crm_url") if isinstance(ctx.obj, dict) else None)
    if not url:
        click.echo("error: no CRM store given: pass --crm URL (e.g. sqlite:///var/crm.db) or set IVR_CRM_URL",
                   err=True)
        sys.exit(1)
    return url


def _run(ctx: click.Context, crm_url: str | None, work: Callable[[CrmStore], Awaitable[Any]]) -> Any:
    url = _url(ctx, crm_url)

    async def main() -> Any:
        store = await open_store(url)
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except CrmError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


def _out(text: str, out: Path | None) -> None:
    if out is None:
        click.echo(text, nl=False)
    else:
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            click.echo(f"error: cannot write {out}: {exc}", err=True)
            sys.exit(1)
