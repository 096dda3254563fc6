"""Asterisk channel names, as the engine reads them."""
from __future__ import annotations


def endpoint_of(channel: str) -> str:
    """'PJSIP/alice-0000002a' → 'alice'."""
    name = channel.split("/", 1)[-1]
    return name.rsplit("-", 1)[0] if "-" in name else name
