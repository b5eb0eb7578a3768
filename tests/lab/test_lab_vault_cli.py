"""`iklim vault` commands against the session lab's OpenBao (bootstrapped by `lab up`)."""

from __future__ import annotations

import json
import os
import signal
import time

from click.testing import CliRunner

from iklim.cli import cli
from iklim.lab.context import LabContext
from iklim.lab.orchestrator import components


def _vault(lab: LabContext, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["vault", *args, "--lab-root", str(lab.root)])
    return result.exit_code, result.output


def test_vault_status_and_rerun_bootstrap_on_the_lab(lab: LabContext) -> None:
    code, out = _vault(lab, "status")
    assert code == 0, out
    assert "voters: 3; failure tolerance: 1; healthy: True" in out
    code, out = _vault(lab, "bootstrap")
    assert code == 0 and "day-one: already configured" in out and "initialised vault-1" not in out, out


def test_sigkilled_lab_member_restarts_sealed_and_iklim_vault_unseal_brings_it_back(lab: LabContext) -> None:
    openbao = next(c for c in components() if c.name == "vault")
    pid = lab.supervisor.pid("vault-3")
    assert pid
    os.kill(pid, signal.SIGKILL)
    while lab.supervisor.pid("vault-3") is not None:
        time.sleep(0.05)
    spec = next(s for s in openbao.processes(lab) if s.name == "vault-3")
    lab.supervisor.start(spec)
    deadline = time.monotonic() + 20
    code, out = _vault(lab, "status")
    while "vault-3    sealed" not in out and time.monotonic() < deadline:
        time.sleep(0.25)
        code, out = _vault(lab, "status")
    assert code == 1 and "vault-3    sealed" in out, out
    code, out = _vault(lab, "unseal", "vault-3")
    assert code == 0 and "vault-3: unsealed" in out, out
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        code, out = _vault(lab, "status")
        if code == 0:
            break
        time.sleep(0.5)
    assert code == 0, out
    secrets = json.loads((lab.root / "secrets" / "vault-init.json").read_text())
    assert secrets["root_token"] not in out and not any(k in out for k in secrets["keys_base64"])
