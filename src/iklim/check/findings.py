"""Findings, severities and the one error type for unusable input."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from iklim.model.bounded import Unusable


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Finding:
    """One policy violation at a position (1-based line and column).

    ``scope_line`` is the line of the enclosing service key or terraform block: an inline
    suppression there covers the finding. It is not part of the output. ``excused``: see below.
    """

    path: str
    line: int
    column: int
    rule: str
    severity: Severity
    message: str
    service: str | None = None
    scope_line: int = 0
    # The model's explicit reason when the environment model chose this (``tls.clusters.*``
    # ``mode: plaintext``): the engine reports it as suppressed with that reason, never silently.
    excused: str = ""


@dataclass(frozen=True)
class Suppressed:
    """A finding silenced by ``# iklim: ignore[rule] reason``."""

    finding: Finding
    reason: str


class InputError(Unusable):
    """Unusable input: reported as one ``path:line[:column]: message`` line, exit status 2.

    The checker's form of :class:`iklim.model.bounded.Unusable` (same fields and text)."""

    def __init__(self, path: str, line: int, message: str, column: int = 0) -> None:
        super().__init__(path, line, column, message)
