"""The speech breaker: keys at once after repeated recognizer failures, retried after a cool-off."""
from ivr.speech.breaker import SpeechBreaker


def test_opens_after_failures_in_a_row_only() -> None:
    b = SpeechBreaker(threshold=3, cool_off_s=60)
    assert not b.failed(0) and not b.failed(1)
    b.succeeded()                                  # a success in between: the count restarts
    assert not b.failed(2) and not b.failed(3) and b.allows(3)
    assert b.failed(4) and not b.allows(4) and not b.allows(63.9)


def test_retries_after_the_cool_off_and_one_more_failure_reopens_it() -> None:
    b = SpeechBreaker(threshold=2, cool_off_s=60)
    b.failed(0)
    assert b.failed(1)
    assert not b.failed(30)                        # a call already listening when it opened
    assert b.allows(61)                            # cool-off over: calls try again
    assert b.failed(62) and not b.allows(100) and b.allows(122)
    b.succeeded()
    assert b.allows(123) and b.failures == 0
