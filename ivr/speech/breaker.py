"""When the recognizer fails call after call, stop asking callers to speak into it.

Each failure costs a caller an answer spoken for nothing, then the plan's re-ask by keys. After
`threshold` failures in a row the breaker opens: speech nodes take keys at once for
`cool_off_s`. Then calls try the recognizer again: one success closes the breaker, one more
failure opens it for another cool-off. Pure: the caller passes the clock (monotonic seconds).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SpeechBreaker:
    threshold: int = 3
    cool_off_s: float = 300.0
    failures: int = 0                    # in a row
    open_until: float | None = None

    def allows(self, now: float) -> bool:
        """May this call use the recognizer?"""
        return self.open_until is None or now >= self.open_until

    def succeeded(self) -> None:
        self.failures, self.open_until = 0, None

    def failed(self, now: float) -> bool:
        """Count a failure; True when it opens the breaker (say so once, not per call)."""
        self.failures += 1
        if self.failures < self.threshold or not self.allows(now):
            return False                 # below the threshold, or already open
        self.open_until = now + self.cool_off_s
        return True
