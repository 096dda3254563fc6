"""`ivr desk serve`: open the CRM store, build the app, run uvicorn (HTTPS when configured)."""
from __future__ import annotations

import asyncio
import logging

import uvicorn

from ivr.config import ConfigError, Settings
from ivr.crm.store import open_store

from .app import create_app, make_templates
from .deps import DeskDeps

log = logging.getLogger("ivr.desk")
HOUSEKEEPING_EVERY_S = 600.0


def agent_names(settings: Settings) -> frozenset[str]:
    try:
        return frozenset(settings.agents())
    except ConfigError as exc:
        log.warning("desk: agents unknown (%s); agents' desks open for their own user only", exc)
        return frozenset()


async def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    desk = settings.desk
    store = await open_store(settings.crm_url())
    deps = DeskDeps(settings=settings, store=store, templates=make_templates(),
                    agents=agent_names(settings))
    tls = {"ssl_certfile": str(settings.path(desk.tls_cert)),
           "ssl_keyfile": str(settings.path(desk.tls_key))} if desk.tls_cert and desk.tls_key else {}
    config = uvicorn.Config(create_app(deps), host=host or desk.host, port=port or desk.port,
                            log_level="warning", access_log=False, proxy_headers=False,
                            server_header=False, **tls)
    server = uvicorn.Server(config)
    cleaner = asyncio.create_task(_housekeeping(deps))
    scheme = "https" if tls else "http"
    log.warning("desk: serving on %s://%s:%d/", scheme, config.host, config.port)
    try:
        await server.serve()
    finally:
        cleaner.cancel()
        await store.close()


async def _housekeeping(deps: DeskDeps) -> None:
    """Drop session rows that can no longer be used (expiry itself is checked per request)."""
    while True:
        try:
            await deps.accounts.delete_expired_sessions(deps.now(), deps.idle)
        except Exception as exc:          # the database may be down for a while: try later
            log.warning("desk: could not drop expired sessions: %s", exc)
        await asyncio.sleep(HOUSEKEEPING_EVERY_S)
