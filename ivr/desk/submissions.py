"""Forms that create something carry a one-time submission id, so a save the browser sends
again (the answer was lost on a flaky link and the page retried) opens one case, not two."""
from __future__ import annotations

import secrets
from collections import OrderedDict

KEPT = 2_000          # the desk process remembers this many recent submissions


def new_submission_id() -> str:
    return secrets.token_urlsafe(12)


class RecentSubmissions:
    def __init__(self, kept: int = KEPT) -> None:
        self._done: OrderedDict[str, str] = OrderedDict()
        self._kept = kept

    def result(self, submission: str) -> str | None:
        """What the submission made the first time (e.g. a case id), or None."""
        return self._done.get(submission) if submission else None

    def remember(self, submission: str, result: str) -> None:
        if not submission:
            return
        self._done[submission] = result
        while len(self._done) > self._kept:
            self._done.popitem(last=False)
