"""Components with no installable binary here (MongoDB, APISIX, Grafana): never faked.

The lab reports them "not available on this host" when their binary is missing. When the binary
is on PATH the lab says so, but does not run it yet: running it is future work (see the README).
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
