"""The seam every lab component implements (in the spirit of Patroni's AbstractDCS)."""

from __future__ import annotations

import shutil
from abc import ABC, abstractmethod

from iklim.lab.context import LabContext
from iklim.lab.supervisor import ProcessSpec


class LabComponent(ABC):
    """One cluster of the lab.

    - ``binaries``: executables it needs; a missing one makes the component "not available".
    - ``needs``: components that must be ready before this one starts (Patroni needs etcd).
    - ``restarts_members``: ``wait_ready`` itself restarts a member that exits while the cluster
      forms (as Swarm's restart policy does), so ``up`` does not fail it on the first exit.
    - ``processes(ctx)``: write the member configs (rendered by the production builders with the
      lab target) and return the processes to supervise. Must be idempotent.
    - ``wait_ready(ctx, deadline)``: block until the cluster is healthy, or raise ``TimeoutError``
      / ``LabError`` saying what is missing. May act (initialise, unseal) when that is part of
      becoming ready; every action first checks the current state, so a rerun is a no-op.
    - ``health(ctx)``: a quick (ok, words) reading for ``lab status``.
    """

    name: str = ""
    binaries: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    restarts_members: bool = False

    def missing(self) -> str | None:
        """None when every binary is installed, else the reason the component cannot run here."""
        absent = [b for b in self.binaries if shutil.which(b) is None]
        return f"not available on this host ({', '.join(absent)} not found)" if absent else None

    @abstractmethod
    def processes(self, ctx: LabContext) -> list[ProcessSpec]: ...

    @abstractmethod
    def wait_ready(self, ctx: LabContext, deadline: float) -> str: ...

    @abstractmethod
    def health(self, ctx: LabContext) -> tuple[bool, str]: ...
