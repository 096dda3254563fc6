"""Click commands for the lead to register in ivr/cli.py:

    from ivr.dialplan.cli import check, schema, sounds
    main.add_command(check); main.add_command(schema); main.add_command(sounds)
    # -> ivr check PATHS..., ivr schema, ivr sounds build PATHS...

The catalog (known queues/skills/agents) comes from, in order: `ctx.obj["dialplan_catalog"]`
(a Catalog or a zero-argument callable returning one), the factory given to
`set_catalog_factory`, else nothing is checked against a catalog.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import click

from .checks import Catalog, check_paths
from .problems import PlanInvalid
from .schema import json_schema

_factory: Callable[[], Catalog] | None = None


def set_catalog_factory(factory: Callable[[], Catalog] | None) -> None:
    global _factory
    _factory = factory


def _catalog(ctx: click.Context, sounds_dir: Path | None) -> Catalog:
    obj = ctx.find_object(dict) or {}
    source = obj.get("dialplan_catalog") or _factory
    cat = source() if callable(source) else (source or Catalog())
    if sounds_dir is not None:
        from ivr.sounds import prompt_files
        cat.prompt_files = prompt_files(sounds_dir)
    return cat


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--strict", is_flag=True, help="Warnings fail too.")
@click.option("--sounds-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Also check prompt files in this directory.")
@click.pass_context
def check(ctx: click.Context, paths: tuple[Path, ...], strict: bool,
          sounds_dir: Path | None) -> None:
    """Check dialplan files (or directories of *.yaml); print file:line:col: message."""
    problems = check_paths(paths, _catalog(ctx, sounds_dir))
    for p in problems:
        click.echo(p.display(), err=not p.is_error)
    failing = [p for p in problems if p.is_error or strict]
    if failing:
        click.echo(f"{len(failing)} problem(s)", err=True)
        ctx.exit(1)
    click.echo(f"ok: {len(paths)} path(s) checked", err=True)


@click.command()
@click.option("-o", "--output", type=click.File("w"), default="-")
def schema(output) -> None:  # type: ignore[no-untyped-def]
    """Print the JSON Schema of dialplan YAML files."""
    json.dump(json_schema(), output, indent=2, ensure_ascii=False)
    output.write("\n")


@click.command("build")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--sounds-dir", default="sounds", show_default=True,
              type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Also regenerate existing (even recorded) files.")
@click.option("--no-progress", is_flag=True)
@click.pass_context
def sounds_build(ctx: click.Context, paths: tuple[Path, ...], sounds_dir: Path, force: bool,
                 no_progress: bool) -> None:
    """Synthesize missing prompt sounds (espeak-ng, 8 kHz telephone WAV)."""
    from ivr.sounds import build_sounds

    try:
        report = build_sounds(paths, sounds_dir, force=force, progress=not no_progress)
    except PlanInvalid as exc:
        for p in exc.problems:
            click.echo(str(p), err=True)
        ctx.exit(1)
    for c in report.conflicts:
        click.echo(f"warning: {c}", err=True)
    for f, why in report.failed:
        click.echo(f"{f}: {why}", err=True)
    click.echo(f"{len(report.created)} created, {len(report.kept)} kept, "
               f"{len(report.failed)} failed")
    if report.failed:
        ctx.exit(1)


@click.group()
def sounds() -> None:
    """Prompt sound files."""


sounds.add_command(sounds_build)
