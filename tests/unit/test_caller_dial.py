"""AgiCaller.dial: DIALSTATUS is read from Asterisk unless AMI already saw the answer."""
from ivr.telephony.agi.protocol import Reply
from ivr.call.caller import AgiCaller


class FakeAgi:
    hung_up = False

    def __init__(self, dialstatus: str | None = "NOANSWER"):
        self.sent: list[str] = []
        self.dialstatus = dialstatus

    async def exec(self, app: str, args: str = "") -> Reply:
        self.sent.append(f"EXEC {app} {args}")
        return Reply(200, 0)

    async def get_variable(self, name: str) -> str | None:
        self.sent.append(f"GET VARIABLE {name}")
        return self.dialstatus


async def test_dial_reads_dialstatus_without_an_answer_seen():
    agi = FakeAgi("NOANSWER")
    assert await AgiCaller(agi, "hotline").dial("PJSIP/a001", 8, answered=lambda: False) == "NOANSWER"
    assert agi.sent == ["EXEC Dial PJSIP/a001,8", "GET VARIABLE DIALSTATUS"]


async def test_dial_answered_seen_on_ami_skips_the_round_trip():
    agi = FakeAgi("should not be read")
    assert await AgiCaller(agi, "hotline").dial("PJSIP/a001", 8, answered=lambda: True) == "ANSWER"
    assert agi.sent == ["EXEC Dial PJSIP/a001,8"]


async def test_dial_without_ami_hint_and_no_status_is_failed():
    agi = FakeAgi(None)
    assert await AgiCaller(agi, "hotline").dial("PJSIP/a001", 8) == "FAILED"
    assert agi.sent[-1] == "GET VARIABLE DIALSTATUS"


async def test_dial_keeps_the_caller_after_the_agent_hangs_up_when_asked():
    agi = FakeAgi("should not be read")
    assert await AgiCaller(agi, "hotline").dial("PJSIP/a001", 8, answered=lambda: True,
                                                caller_stays=True) == "ANSWER"
    assert agi.sent == ["EXEC Dial PJSIP/a001,8,g"]      # g: the post-call survey follows
