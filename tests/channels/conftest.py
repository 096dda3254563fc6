from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "crm"))
from crm_pg import crm_url, pg_server  # noqa: E402,F401  (crm_url: fixture)

from .mail_servers import Dovecot, SmtpReceiver  # noqa: E402


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    server = Dovecot()
    yield server
    server.stop()


@pytest.fixture
async def mailbox(dovecot: Dovecot) -> Dovecot:
    await dovecot.clear()
    return dovecot


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver()
    yield receiver
    receiver.stop()
