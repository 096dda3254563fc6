"""`ivr cluster init | status`: an active engine and a standby (ivr/cluster/)."""
from __future__ import annotations

import asyncio
import json

import click

from ivr.cli.common import UserError, settings_or_exit
from ivr.cli.tables import FORMATS, emit_rows


@click.group("cluster")
def cluster_group() -> None:
    """An active engine and a standby sharing one PostgreSQL database."""


def _target(ctx: click.Context, url: str | None, name: str | None) -> tuple[str, str]:
    settings = settings_or_exit(ctx)
    url, name = url or settings.cluster_url(), name or settings.cluster.name
    if not name:
        raise UserError("no cluster name: set cluster.name in the settings or pass --name")
    if not url.startswith(("postgresql://", "postgres://")):
        raise UserError(f"the cluster needs a PostgreSQL database; {url.split(':')[0]} given "
                        "(crm.url, cluster.url or --url)")
    return url, name


@cluster_group.command("init")
@click.option("--name", help="the cluster's name (default: cluster.name of the settings)")
@click.option("--url", metavar="URL", help="its PostgreSQL database (default: cluster.url, else crm.url)")
@click.pass_context
def init_cmd(ctx: click.Context, name: str | None, url: str | None) -> None:
    """Make a database the cluster's, once; engines refuse a database without it."""
    from ivr.cluster.admin import init_cluster
    from ivr.cluster.pg_leader import ClusterRefused
    from ivr.crm.errors import CrmError
    url, name = _target(ctx, url, name)
    try:
        row, created = asyncio.run(init_cluster(url, name))
    except (ClusterRefused, CrmError) as exc:
        raise UserError(str(exc)) from None
    click.echo(f"cluster {row.name!r} {'created' if created else 'already set up'} (term {row.term})")


@cluster_group.command("status")
@click.option("--name", help="the cluster's name (default: cluster.name of the settings)")
@click.option("--url", metavar="URL", help="its PostgreSQL database (default: cluster.url, else crm.url)")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.pass_context
def status_cmd(ctx: click.Context, name: str | None, url: str | None, fmt: str) -> None:
    """Who is active, the term, the engines' and replicas' links to the database."""
    import psycopg
    from ivr.cluster.admin import cluster_status
    url, name = _target(ctx, url, name)
    try:
        status = asyncio.run(cluster_status(url, name))
    except psycopg.OperationalError as exc:
        raise UserError(f"cannot read the cluster's database: {' '.join(str(exc).split())}") from None
    status["links"] += _site_links(ctx)
    if fmt == "json":
        click.echo(json.dumps(status, indent=2))
        return
    links = status.pop("links")
    emit_rows(links, fmt, f"cluster {name}", extra=status,
              notes=[] if status["active"] else ["no engine is active: calls go to the operator fallback"])


def _site_links(ctx: click.Context) -> list[dict]:
    """Several sites (issue 16): each site's AMI link as this engine sees it (its control
    socket), "unknown" when no engine answers here."""
    from ivr.app.control import ControlError, request
    from ivr.app.sites import site_link_rows
    settings = settings_or_exit(ctx)
    if not settings.sites:
        return []
    try:
        live = request(settings.path(settings.control.socket), {"cmd": "status"}).get("sites")
    except (ControlError, OSError):
        live = None
    return site_link_rows(settings, live)
