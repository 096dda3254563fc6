"""`ivr kb`: the knowledge base from the command line: index the folder, search, show.

The store is the CRM database (--crm, IVR_CRM_URL, or the settings' crm.url); the folder is
the settings' knowledge.dir unless --dir names another. Exit 0 ok, 1 user error (a broken
article included: the others are indexed all the same), 2 internal error."""
from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.markdown import Markdown
from rich.table import Table

from ivr.config import ConfigError, Settings, load_settings
from ivr.crm.cli import CrmCommand, crm_option
from ivr.crm.cli_base import _run as run_crm
from ivr.crm.render import csv_text
from ivr.knowledge.article import LANGUAGES
from ivr.knowledge.store import Hit, KnowledgeBase
from ivr.knowledge.sync import index_folder

T = TypeVar("T")
HIT_COLUMNS = ("id", "title", "product", "language", "tags", "score", "summary")


def _settings(ctx: click.Context) -> Settings | None:
    try:
        return load_settings((ctx.find_object(dict) or {}).get("config"))
    except ConfigError:
        return None


def _run(ctx: click.Context, crm_url: str | None, work: Callable[[KnowledgeBase], Awaitable[T]]) -> T:
    """The CRM commands' runner (store opened and closed, CrmError: exit 1) on the knowledge base."""
    return run_crm(ctx, crm_url, lambda store: work(KnowledgeBase(store)))


@click.group("kb")
def kb_group() -> None:
    """The knowledge base: the articles of the knowledge folder, as agents search them."""


@kb_group.command("index", cls=CrmCommand)
@crm_option
@click.option("--dir", "folder", type=click.Path(path_type=Path),
              help="the knowledge folder (default: knowledge.dir of the engine settings)")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_context
def kb_index(ctx: click.Context, crm_url: str | None, folder: Path | None, fmt: str) -> None:
    """Index the folder's articles (only those changed since the last run are read again).
    A broken article is reported as file:line and keeps its last good version; `ivr check`
    also checks articles' intents against the dialplan."""
    settings = _settings(ctx)
    if folder is None:
        if settings is None:
            raise click.ClickException("no knowledge folder: pass --dir, or fix the engine "
                                       "settings (`ivr check`)")
        folder = settings.path(settings.knowledge.dir)
    if not folder.is_dir():
        raise click.ClickException(f"the knowledge folder {folder} does not exist: create it, pass "
                                   "--dir, or fix knowledge.dir in the engine settings")
    report = _run(ctx, crm_url, lambda kb: index_folder(kb, folder))
    for problem in report.problems:
        click.echo(str(problem), err=True)
    if fmt == "json":
        click.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(report.summary())
    if report.problems:
        click.echo(f"{len(report.problems)} problem(s): fix the lines above", err=True)
        sys.exit(1)


@kb_group.command("search", cls=CrmCommand)
@crm_option
@click.argument("text")
@click.option("--language", type=click.Choice(LANGUAGES), help="only articles in this language")
@click.option("--product", help="only articles about this product")
@click.option("--limit", type=click.IntRange(1, 100), default=10, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
@click.pass_context
def kb_search(ctx: click.Context, crm_url: str | None, text: str, language: str | None,
              product: str | None, limit: int, fmt: str) -> None:
    """Articles matching TEXT, best first (accents and case do not matter)."""
    hits = _run(ctx, crm_url, lambda kb: kb.search(text, language, product, limit))
    rows = [_row(h) for h in hits]
    if fmt == "json":
        click.echo(json.dumps([h.as_dict() for h in hits], indent=2, ensure_ascii=False))
    elif fmt == "csv":
        click.echo(csv_text(rows, HIT_COLUMNS), nl=False)
    else:
        table = Table(title=f"{len(hits)} article(s)")
        for col in HIT_COLUMNS:
            table.add_column(col, overflow="fold")
        for row in rows:
            table.add_row(*(str(row[c]) for c in HIT_COLUMNS))
        Console().print(table)


def _row(hit: Hit) -> dict[str, Any]:
    return {"id": hit.id, "title": hit.title, "product": hit.product, "language": hit.language,
            "tags": ", ".join(hit.tags), "score": f"{hit.score:.3f}", "summary": hit.summary}


@kb_group.command("show", cls=CrmCommand)
@crm_option
@click.argument("article_id", metavar="ID")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_context
def kb_show(ctx: click.Context, crm_url: str | None, article_id: str, fmt: str) -> None:
    """One article: its fields and its text (json: also its sanitised HTML)."""
    article = _run(ctx, crm_url, lambda kb: kb.article(article_id))
    if article is None:
        click.echo(f"error: no article {article_id!r} in the index; find ids with "
                   "`ivr kb search TEXT` (or run `ivr kb index`)", err=True)
        sys.exit(1)
    if fmt == "json":
        click.echo(json.dumps(article, indent=2, ensure_ascii=False, default=str))
        return
    console = Console()
    console.print(article["title"], style="bold", markup=False, highlight=False)
    for key in ("id", "file", "product", "language", "tags", "intents", "indexed_at"):
        value = article[key]
        console.print(f"{key}: {', '.join(value) if isinstance(value, list) else value}",
                      markup=False, highlight=False)
    console.print()
    console.print(Markdown(article["markdown"]))
