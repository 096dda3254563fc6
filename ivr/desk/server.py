"""`ivr desk serve`: open the CRM store, build the app, run uvicorn (HTTPS when configured)."""
from __future__ import annotations

import asyncio
import logging
import ssl

import uvicorn

from ivr.config import ConfigError, Settings
from ivr.crm.store import open_store

from .app import create_app, make_templates
from .deps import DeskDeps
from .engine_link import EngineLink
from .users import DeskError

log = logging.getLogger("ivr.desk")
HOUSEKEEPING_EVERY_S = 600.0


def agent_names(settings: Settings) -> frozenset[str]:
    try:
        return frozenset(settings.agents())
    except ConfigError as exc:
        log.warning("desk: agents unknown (%s); agents' desks open for their own user only", exc)
        return frozenset()


def tls_files(settings: Settings) -> dict[str, str]:
    """uvicorn's TLS options, after checking that the certificate and key load together
    (a clear error now rather than a traceback from inside the server)."""
    desk = settings.desk
    if not (desk.tls_cert and desk.tls_key):
        return {}
    cert, key = str(settings.path(desk.tls_cert)), str(settings.path(desk.tls_key))
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        where = settings.file or "settings"
        raise DeskError(f"{where}: desk.tls_cert {cert} and desk.tls_key {key} cannot be used "
                        f"({exc.strerror or exc}); give a readable PEM certificate and its key, "
                        "or remove both to serve plain HTTP on loopback") from None
    return {"ssl_certfile": cert, "ssl_keyfile": key}


async def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    desk = settings.desk
    tls = tls_files(settings)
    store = await open_store(settings.crm_url(), documentation=settings.documentation)
    engine = EngineLink(settings.path(settings.control.socket))
    engine.start()                     # follows the engine's feed, through its restarts
    deps = DeskDeps(settings=settings, store=store, templates=make_templates(),
                    agents=agent_names(settings), engine=engine)
    config = uvicorn.Config(create_app(deps), host=host or desk.host, port=port or desk.port,
                            log_level="warning", access_log=False, proxy_headers=False,
                            server_header=False, **tls,
                            # live pages hold event streams open: a stop must not wait on them
                            timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    tasks = [asyncio.create_task(_housekeeping(deps)),
             asyncio.create_task(_say_where(server, "https" if tls else "http"))]
    try:
        await server.serve()
    finally:
        for task in tasks:
            task.cancel()
        await engine.stop()
        await store.close()


async def _say_where(server: uvicorn.Server, scheme: str) -> None:
    while not server.started:
        await asyncio.sleep(0.05)
    log.warning("desk: serving on %s://%s:%d/", scheme, server.config.host, server.config.port)


async def _housekeeping(deps: DeskDeps) -> None:
    """Drop session rows that can no longer be used (expiry itself is checked per request)."""
    while True:
        try:
            await deps.accounts.delete_expired_sessions(deps.now(), deps.idle)
        except Exception as exc:          # the database may be down for a while: try later
            log.warning("desk: could not drop expired sessions: %s", exc)
        await asyncio.sleep(HOUSEKEEPING_EVERY_S)
