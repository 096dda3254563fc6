"""Problems found in a dialplan, always pointing at the offending YAML."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    col: int
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"

    def display(self) -> str:
        """Compiler-style line for terminals: warnings are labelled."""
        if self.is_error:
            return str(self)
        return f"{self.file}:{self.line}:{self.col}: warning: {self.message}"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


class PlanInvalid(Exception):
    """Raised with *every* problem found, so authors fix them in one pass."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.is_error]
