"""`ivr channels-worker`: the e-mail ingestion process the engine starts and supervises
(ivr/channels/README.md "Worker process"); not meant to be started by hand."""
from __future__ import annotations

import logging

import click

from ivr.cli.common import UserError, settings_or_exit


@click.command("channels-worker")
@click.pass_context
def channels_worker_cmd(ctx: click.Context) -> None:
    """Read the e-mail channel's mailbox, store each mail in the CRM, tell the engine (started by
    `ivr serve` when channels.worker is on)."""
    from ivr.app import runtime
    from ivr.channels.worker import run_worker

    settings = settings_or_exit(ctx)
    if logging.getLogger().level > logging.INFO:
        logging.getLogger().setLevel(logging.INFO)
    try:
        runtime.run(run_worker(settings))
    except ValueError as exc:       # nothing configured, a password variable unset
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"the channels worker cannot start: {exc}") from None
