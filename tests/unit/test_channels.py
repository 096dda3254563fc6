"""Channel names → endpoints: what the engine, the session and CDR recovery all read."""
import pytest

from ivr.telephony.channels import endpoint_of


@pytest.mark.parametrize("channel, endpoint", [
    ("PJSIP/alice-0000002a", "alice"),
    ("PJSIP/agent-a001-00000003", "agent-a001"),   # only Asterisk's own -<sequence> goes
    ("PJSIP/bob", "bob"),                          # a device name (no sequence) as is
    ("alice", "alice"),
])
def test_endpoint_of(channel: str, endpoint: str) -> None:
    assert endpoint_of(channel) == endpoint
