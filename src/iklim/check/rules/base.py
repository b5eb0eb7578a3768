"""What every rule module provides: a :class:`Rule` with its ID, severity, options and ``check``.

A rule's options are data: ``options`` maps each option's name to its default, and the default's
type is the option's type (a tuple of strings: a list of strings; a string; an integer; a
boolean). ``.iklim-check.yaml`` may set them (:mod:`iklim.check.config`); a check reads the values
in force with :meth:`Rule.settings`. The docstring holds at least one failing and one passing
example in the form :mod:`iklim.check.examples` reads (a test runs them all).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from iklim.check.documents import Documents, ServiceRef
from iklim.check.findings import Finding, Severity
from iklim.check.policy import Policy
from iklim.check.yamlload import Pos

Check = Callable[[Documents, Policy], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    """A policy rule. ``doc`` is its module docstring: the user documentation (``iklim explain``)."""

    id: str
    severity: Severity
    doc: str
    check: Check
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        return self.doc.strip().splitlines()[0].strip() if self.doc.strip() else self.id

    def settings(self, policy: Policy) -> Mapping[str, Any]:
        """The options in force: the declared defaults, then those the check config sets."""
        configured = policy.rule_options.get(self.id)
        return {**self.options, **configured} if configured else self.options

    def at(self, path: str, pos: Pos, message: str, service: str | None = None, scope: int = 0) -> Finding:
        return Finding(path, pos[0], pos[1], self.id, self.severity, message, service, scope)

    def on(self, ref: ServiceRef, pos: Pos, message: str) -> Finding:
        """A finding about a service: an ignore comment on its key covers it."""
        return self.at(ref.stack.path, pos, message, ref.name, ref.key_pos[0])
