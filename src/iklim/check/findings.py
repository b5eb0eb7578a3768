"""Findings, severities and the one error type for unusable input."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Finding:
    """One policy violation at a position (1-based line and column).

    ``scope_line`` is the line of the enclosing service key or terraform block: an inline
    suppression there covers the finding. It is not part of the output.
    """

    path: str
    line: int
    column: int
    rule: str
    severity: Severity
    message: str
    service: str | None = None
    scope_line: int = 0


@dataclass(frozen=True)
class Suppressed:
    """A finding silenced by ``# iklim: ignore[rule] reason``."""

    finding: Finding
    reason: str


class InputError(Exception):
    """Unusable input: reported as one ``path:line[:column]: message`` line, exit status 2."""

    def __init__(self, path: str, line: int, message: str, column: int = 0) -> None:
        where = f"{path}:{line}:{column}" if line > 0 and column > 0 else f"{path}:{line}" if line > 0 else path
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line
        self.column = column
        self.message = message
