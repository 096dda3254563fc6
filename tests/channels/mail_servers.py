"""The lab's real mail servers (hotline_lab.mail_servers) for the tests: a machine without
Dovecot skips the e-mail tests with what to install (scripts/setup.sh installs it)."""
from __future__ import annotations

import pytest
from hotline_lab import mail_servers
from hotline_lab.mail_servers import PASSWORD, USER, SmtpReceiver

__all__ = ["PASSWORD", "USER", "Dovecot", "SmtpReceiver"]


class Dovecot(mail_servers.Dovecot):
    def __init__(self, port: int | None = None) -> None:
        try:
            super().__init__(port)
        except mail_servers.MailServerMissing as exc:
            pytest.skip(str(exc))
