"""The AGI protocol core: every reply shape, HANGUP lines, broken peers."""
import pytest
from hypothesis import given, settings, strategies as st

from ivr.telephony.agi.protocol import (
    NEED_DATA, AgiConnection, Environment, HangupNotice, LocalProtocolError, ProtocolError,
    Reply, State,
)

HEADER = (b"agi_network: yes\nagi_network_script: hotline\nagi_request: agi://127.0.0.1/hotline\n"
          b"agi_channel: PJSIP/test-caller-00000001\nagi_uniqueid: 1700000000.1\n"
          b"agi_callerid: 0601020304\nagi_calleridname: \nagi_arg_1: 100\nagi_arg_2: x\n\n")


def ready() -> AgiConnection:
    conn = AgiConnection()
    conn.receive_data(HEADER)
    env = conn.next_event()
    assert isinstance(env, Environment)
    return conn


def reply_to(conn: AgiConnection, data: bytes):
    conn.send_command("NOOP")
    conn.receive_data(data)
    return conn.next_event()


def test_header_parsed_with_empty_values_and_args():
    conn = AgiConnection()
    conn.receive_data(HEADER[:40])
    assert conn.next_event() is NEED_DATA
    conn.receive_data(HEADER[40:])
    env = conn.next_event()
    assert env.get("uniqueid") == "1700000000.1"
    assert env.get("calleridname") == ""
    assert env.args == ["100", "x"]
    assert conn.state is State.IDLE


@pytest.mark.parametrize("line,expected", [
    (b"200 result=0\n", Reply(200, 0, None, None, "200 result=0")),
    (b"200 result=49\n", Reply(200, 49, None, None, "200 result=49")),
    (b"200 result=-1\n", Reply(200, -1, None, None, "200 result=-1")),
    (b"200 result=1 (SIP/abc)\n", Reply(200, 1, "SIP/abc", None, "200 result=1 (SIP/abc)")),
    (b"200 result=0 endpos=12800\n", Reply(200, 0, None, 12800, "200 result=0 endpos=12800")),
    (b"200 result=0 (timeout) endpos=800\n",
     Reply(200, 0, "timeout", 800, "200 result=0 (timeout) endpos=800")),
    (b"200 result=1 (a (nested) value)\n",
     Reply(200, 1, "a (nested) value", None, "200 result=1 (a (nested) value)")),
])
def test_200_replies(line, expected):
    assert reply_to(ready(), line) == expected


def test_510_and_511():
    conn = ready()
    r = reply_to(conn, b"510 Invalid or unknown command\n")
    assert r.code == 510 and not r.ok
    r = reply_to(conn, b"511 Command Not Permitted on a dead channel or intercept routine\n")
    assert r.code == 511


def test_520_multiline_usage():
    conn = ready()
    conn.send_command("STREAM FILE")
    conn.receive_data(b"520-Invalid command syntax.  Proper usage follows:\n"
                      b"Usage: STREAM FILE <filename> <escape digits>\n")
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"520 End of proper usage.\n")
    r = conn.next_event()
    assert r.code == 520 and "Usage: STREAM FILE" in r.text
    assert conn.state is State.IDLE


def test_unsolicited_hangup_does_not_shift_replies():
    conn = ready()
    conn.send_command("WAIT FOR DIGIT 1000")
    conn.receive_data(b"HANGUP\n200 result=-1\n")
    assert isinstance(conn.next_event(), HangupNotice)
    assert conn.next_event().result == -1
    # and the next command gets its own reply, not an off-by-one
    assert reply_to(conn, b"511 Command Not Permitted on a dead channel or intercept routine\n").code == 511


def test_hangup_while_idle():
    conn = ready()
    conn.receive_data(b"HANGUP\n")
    assert isinstance(conn.next_event(), HangupNotice)
    assert conn.hung_up


@pytest.mark.parametrize("command, data, gone", [
    ("WAIT FOR DIGIT 3000", b"200 result=-1\n", True),    # only a hang-up answers -1
    ("WAIT FOR DIGIT 3000", b"200 result=0\n", False),    # timeout
    ("WAIT FOR DIGIT 3000", b"200 result=49\n", False),   # the key 1
    ('STREAM FILE hotline/fr/x ""', b"200 result=-1 endpos=0\n", False),  # also a missing file
    ("CHANNEL STATUS", b"511 Command Not Permitted on a dead channel or intercept routine\n", True),
    ("GET VARIABLE X", b"200 result=0\n", False),
])
def test_hang_up_is_learned_from_the_reply_parsed(command, data, gone):
    conn = ready()
    conn.send_command(command)
    conn.receive_data(data)
    assert isinstance(conn.next_event(), Reply)
    assert conn.hung_up is gone and conn.state is State.IDLE


def test_peer_closing_after_the_header_means_the_caller_is_gone():
    conn = ready()
    conn.send_command("WAIT FOR DIGIT 3000")
    assert not conn.hung_up
    conn.receive_data(b"")
    assert conn.hung_up


def test_interrupt_owes_the_noop_reply_after_the_command_reply():
    conn = ready()
    with pytest.raises(LocalProtocolError):
        conn.interrupt()                               # nothing outstanding
    conn.send_command("WAIT FOR DIGIT 5000")
    assert conn.interrupt() == b"NOOP\n"
    with pytest.raises(LocalProtocolError):
        conn.interrupt()                               # one wake-up per command
    conn.receive_data(b"200 result=1\n")
    assert conn.next_event().result == 1
    assert conn.state is State.AWAITING_REPLY          # the NOOP's reply is still owed
    with pytest.raises(LocalProtocolError):
        conn.send_command("NOOP")
    conn.receive_data(b"200 result=0\n")
    assert conn.next_event().result == 0
    assert conn.state is State.IDLE and not conn.hung_up


def test_peer_disconnects_before_header_end():
    conn = AgiConnection()
    conn.receive_data(b"agi_network: yes\nagi_chan")
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"")
    err = conn.next_event()
    assert isinstance(err, ProtocolError) and "before the AGI header ended" in err.message
    assert conn.next_event() is NEED_DATA          # no busy loop: nothing more is produced


def test_oversized_line_is_refused_and_buffer_freed():
    conn = AgiConnection()
    conn.receive_data(b"agi_x: " + b"a" * 20000)
    assert isinstance(conn.next_event(), ProtocolError)
    assert len(conn._buffer) == 0


def test_second_command_while_pending_is_our_bug():
    conn = ready()
    conn.send_command("NOOP")
    with pytest.raises(LocalProtocolError):
        conn.send_command("NOOP")


def test_command_with_newline_refused():
    with pytest.raises(LocalProtocolError):
        ready().send_command("NOOP\nHANGUP")


def test_garbage_reply_is_an_error():
    assert isinstance(reply_to(ready(), b"hello there\n"), ProtocolError)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=20))
def test_arbitrary_bytes_never_raise_or_spin(chunks):
    conn = AgiConnection()
    for chunk in chunks:
        conn.receive_data(chunk)
        for _ in range(1000):                 # bounded: each call consumes or stops
            ev = conn.next_event()
            if ev is NEED_DATA or isinstance(ev, ProtocolError):
                break
            if conn.state is State.IDLE:
                conn.send_command("NOOP")
        else:
            pytest.fail("next_event kept producing events without consuming input")
