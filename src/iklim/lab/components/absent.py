"""A component the lab only reports (APISIX): never faked.

APISIX has no installable binary here. The lab reports it "not available on this host" when
``apisix`` is missing; when it is on PATH the lab says so but does not run it: ``apisix start``
daemonises OpenResty out of one shared prefix, so three members on one host need a per-member
prefix that is not written yet (see the README). MongoDB and Grafana have real runners.
"""

from __future__ import annotations

from iklim.lab.components.base import LabComponent
from iklim.lab.context import LabContext
from iklim.lab.supervisor import ProcessSpec


class AbsentLab(LabComponent):
    def __init__(self, name: str, binary: str) -> None:
        self.name = name
        self.binaries = (binary,)

    def missing(self) -> str | None:
        reason = super().missing()
        if reason:
            return reason
        return f"{self.binaries[0]} is installed, but the lab does not run {self.name} yet"

    def processes(self, ctx: LabContext) -> list[ProcessSpec]:
        return []

    def wait_ready(self, ctx: LabContext, deadline: float) -> str:
        raise NotImplementedError

    def health(self, ctx: LabContext) -> tuple[bool, str]:
        return False, self.missing() or ""
