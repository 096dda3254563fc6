"""Asterisk channel names, read as the domain needs them (pure string work)."""
from __future__ import annotations


def endpoint_of(channel: str) -> str:
    """The endpoint behind a channel name: 'PJSIP/alice-0000002a' → 'alice'. Asterisk adds a
    '-<sequence>' to every channel of an endpoint; a name without one is returned as is."""
    name = channel.split("/", 1)[-1]
    return name.rsplit("-", 1)[0] if "-" in name else name
