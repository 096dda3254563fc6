"""`python -m hotline_lab` (or `hotline-lab`): the sandbox Asterisk and the demo. The engine's
own CLI (`ivr`) knows nothing of them."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ivr.config import ConfigError, load_settings

from hotline_lab.sandbox import PROJECT, Sandbox, SandboxError
from hotline_lab.settings import load_sandbox_settings

DEFAULT_CONFIG = PROJECT / "config/engine.yaml"


@click.group()
@click.option("--config", envvar="IVR_CONFIG", type=click.Path(dir_okay=False, path_type=Path),
              default=DEFAULT_CONFIG, show_default=True,
              help="engine settings; the sandbox's ports come from sandbox.yaml beside it "
                   "(defaults without it)")
@click.pass_context
def main(ctx: click.Context, config: Path) -> None:
    """The hotline's test lab: a local Asterisk 22 + SIPp sandbox (root) and the demo."""
    ctx.obj = config


def _sandbox(ctx: click.Context) -> Sandbox:
    try:
        return Sandbox(load_settings(ctx.obj), load_sandbox_settings(ctx.obj))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@main.group()
def sandbox() -> None:
    """A local Asterisk 22 + SIPp sandbox on loopback (Debian-sid chroot, built once)."""


@sandbox.command("up")
@click.pass_context
def sandbox_up(ctx: click.Context) -> None:
    """Build (once) and start Asterisk with the project's configs."""
    try:
        _sandbox(ctx).up(log=click.echo)
    except (SandboxError, ConfigError) as exc:
        raise click.ClickException(str(exc)) from None


@sandbox.command("build")
@click.pass_context
def sandbox_build(ctx: click.Context) -> None:
    """Build the chroot once (cached in the sandbox folder); later calls do nothing."""
    box = _sandbox(ctx)
    if box.is_built():
        click.echo(f"sandbox already built in {box.root}")
        return
    try:
        box.build(log=click.echo)
    except SandboxError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"sandbox built in {box.root}")


@sandbox.command("down")
@click.pass_context
def sandbox_down(ctx: click.Context) -> None:
    """Stop the Asterisk this sandbox started."""
    if not _sandbox(ctx).down(log=click.echo):
        click.echo("the sandbox was not running")


@sandbox.command("status")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_context
def sandbox_status(ctx: click.Context, fmt: str) -> None:
    """Is the sandbox built and running?"""
    status = _sandbox(ctx).status()
    if fmt == "json":
        click.echo(json.dumps(status))
    else:
        for key, value in status.items():
            click.echo(f"{key:>10}: {value}")


@main.command()
@click.option("--base-port", type=int, default=None,
              help="run on ports offset from this one (own config and CRM under var/demo-PORT/) "
                   "instead of config/engine.yaml's standard ports")
@click.option("--keep", is_flag=True, help="keep everything running after the calls (the desk "
              "stays open for a person to sign in); Ctrl+C stops it")
@click.pass_context
def demo(ctx: click.Context, base_port: int | None, keep: bool) -> None:
    """A demo hotline: sandbox, engine, the agents' desk, agent phones and a handful of calls,
    then the CRM."""
    from hotline_lab.demo import demo_config, run_demo
    config = ctx.obj if base_port is None else demo_config(base_port)
    sys.exit(run_demo(config, keep))
