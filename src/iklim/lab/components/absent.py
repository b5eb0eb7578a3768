"""A component the lab only reports, with the catalogue's reason: never faked.

APISIX has no installable binary here, and three ``apisix start`` on one host would share one
OpenResty prefix; the cert services move a certificate between Swarm services and the lab has no
Swarm. Each such catalogue entry declares ``absent["lab"]`` and the lab reports it "not
available" with that reason (:mod:`iklim.lab.registry`).
"""

from __future__ import annotations

from iklim.lab.components.base import LabComponent
from iklim.lab.context import LabContext
from iklim.lab.supervisor import ProcessSpec


class AbsentLab(LabComponent):
    """Catalogue entry ``name`` the lab does not run, and ``reason`` (in words) why."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason

    def missing(self) -> str | None:
        return f"not run by the lab: {self.reason}"

    def processes(self, ctx: LabContext) -> list[ProcessSpec]:
        return []

    def wait_ready(self, ctx: LabContext, deadline: float) -> str:
        raise NotImplementedError

    def health(self, ctx: LabContext) -> tuple[bool, str]:
        return False, self.missing() or ""
