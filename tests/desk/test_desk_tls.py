"""The desk over HTTPS (desk.tls_cert / tls_key): cookies become Secure and `__Host-`
prefixed, and browsers are told to keep to HTTPS. A self-signed certificate for 127.0.0.1
is made here with the `cryptography` package."""
from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from playwright.sync_api import Page, expect

from .conftest import PASSWORDS, sign_in
from .desk_server import DeskServer, desk_port, start_desk


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "desk.crt", directory / "desk.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_desk(tmp_path_factory) -> Iterator[DeskServer]:
    directory = tmp_path_factory.mktemp("desk-tls")
    server = start_desk(directory, desk_port(), tls=self_signed(directory))
    try:
        server.add_user("alice", "agent", PASSWORDS["alice"])
        yield server
    finally:
        server.stop()


def test_under_tls_cookies_are_secure_and_host_prefixed(page: Page, tls_desk: DeskServer):
    assert tls_desk.url.startswith("https://")
    answer = page.goto(tls_desk.url + "/login")
    assert answer.headers["strict-transport-security"].startswith("max-age=")
    (login_cookie,) = page.context.cookies()
    assert login_cookie["name"] == "__Host-desk_login_csrf" and login_cookie["secure"]
    sign_in(page, tls_desk, "alice")
    expect(page).to_have_url(tls_desk.url + "/agent/alice")
    (cookie,) = [c for c in page.context.cookies() if "desk_session" in c["name"]]
    assert cookie["name"] == "__Host-desk_session"
    assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    page.click("#logout")
    expect(page).to_have_url(tls_desk.url + "/login?out=1")
    assert not [c for c in page.context.cookies() if "desk_session" in c["name"]]
