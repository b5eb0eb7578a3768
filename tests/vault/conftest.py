"""Fresh OpenBao x3 clusters for the bootstrap tests, on 127.0.4.1-3 so the session lab's Vault
(127.0.3.N) is never touched. The members run from the lab's runner and the production HCL builder."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from iklim.components.target import LabTarget
from iklim.lab.components.openbao import OpenBaoLab
from iklim.lab.context import LabContext
from iklim.lab.supervisor import Supervisor
from iklim.model.schema import Environment
from iklim.vault.bootstrap import status_lines
from iklim.vault.plan import VaultPlan, lab_plan

PREFIX = "127.0.4"
DRIVER = Path(__file__).with_name("drive.py")


@dataclass
class VaultCluster:
    ctx: LabContext
    plan: VaultPlan
    outputs: list[str]

    def drive(self, action: str, extra: str | None = None) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, str(DRIVER), str(self.ctx.root), PREFIX, action, *([extra] if extra else [])]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=180)
        self.outputs.extend([result.stdout, result.stderr])
        return result

    def spec(self, member: str):  # type: ignore[no-untyped-def]
        return next(s for s in OpenBaoLab().processes(self.ctx) if s.name == member)

    def kill(self, member: str) -> None:
        pid = self.ctx.supervisor.pid(member)
        assert pid, f"{member} is not running"
        os.kill(pid, signal.SIGKILL)
        while self.ctx.supervisor.pid(member) is not None:
            time.sleep(0.05)

    def start(self, member: str) -> None:
        self.ctx.supervisor.start(self.spec(member))

    def healthy(self, timeout: float = 60) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            lines, ok = status_lines(self.plan)
            if ok or time.monotonic() > deadline:
                assert ok, "\n".join(lines)
                return lines
            time.sleep(0.5)

    def secrets(self) -> list[str]:
        data = json.loads(self.plan.custody.path.read_text())
        return [*data["keys"], *data["keys_base64"], data["root_token"]]

    def everything_written(self) -> str:
        logs = "".join(p.read_text(errors="replace") for p in (self.ctx.root / "logs").glob("*.log"))
        return "\n".join(self.outputs) + logs


@pytest.fixture
def vault_cluster(prod_env: Environment) -> Iterator[VaultCluster]:
    root = Path(tempfile.mkdtemp(prefix="iklim-vault-"))
    target = LabTarget(prod_env, root, vault_prefix=PREFIX)
    ctx = LabContext(prod_env, root, target, Supervisor(root))
    for spec in OpenBaoLab().processes(ctx):
        ctx.supervisor.start(spec)
    try:
        yield VaultCluster(ctx, lab_plan(prod_env, root, target=target), [])
    finally:
        for name in ctx.supervisor.names():
            ctx.supervisor.stop(name, grace=10)
        shutil.rmtree(root, ignore_errors=True)
