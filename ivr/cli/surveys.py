"""`ivr surveys`: CSAT and NPS per agent, queue or campaign (issue 15), from the CRM."""
from __future__ import annotations

from datetime import datetime

import click

from ivr.crm.cli_base import ISO, crm_option, _run
from ivr.crm.surveys import GROUPS, survey_scores


@click.command("surveys")
@crm_option
@click.option("--by", type=click.Choice(GROUPS), default="agent", show_default=True)
@click.option("--since", type=ISO, help="first answer (UTC ISO)")
@click.option("--until", type=ISO, help="answer limit, exclusive (UTC ISO)")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
@click.pass_context
def surveys_cmd(ctx: click.Context, crm_url: str | None, by: str, since: datetime | None,
                until: datetime | None, fmt: str) -> None:
    """Survey scores: CSAT (1-5: answers, mean, share satisfied 4-5) and NPS (0-10:
    promoters minus detractors, in %) per agent, queue or campaign."""
    from ivr.cli.tables import emit_rows
    rows = _run(ctx, crm_url, lambda store: survey_scores(store, by, since, until))
    emit_rows(rows, fmt, f"survey scores by {by}")
