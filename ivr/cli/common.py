"""What every `ivr` command shares: the user-error exit and the settings it runs on."""
from __future__ import annotations

import click

from ivr.config import ConfigError, Settings, load_settings


class UserError(click.ClickException):
    exit_code = 1


def settings_or_exit(ctx: click.Context) -> Settings:
    try:
        return load_settings(ctx.obj.get("config"))
    except ConfigError as exc:
        raise UserError(str(exc)) from None
