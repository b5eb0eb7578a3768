"""`iklim lab down; iklim lab up` with data kept ends healthy (issue 16, kind 6). Every Vault member
restarts sealed and must be unsealed and led again: this failed with "vault: unexpected
StopIteration" when the bootstrap assumed an active member right after unsealing.

CI runs 2 cycles to bound time; `python bench/bench_lab_restarts.py` runs the full drill (10
restarts with data kept, 20 fresh `lab up`s) and prints each run's figures.
"""

from __future__ import annotations

import json
import time

from click.testing import CliRunner

from iklim.cli import cli
from iklim.lab.context import LabContext
from iklim.lab.orchestrator import down, up

CYCLES = 2


def _status(lab: LabContext, within: float) -> tuple[int, str]:
    deadline = time.monotonic() + within
    while True:
        result = CliRunner().invoke(cli, ["status", "--target", "lab", "--root", str(lab.root), "--format", "json"])
        if result.exit_code == 0 or time.monotonic() > deadline:
            return result.exit_code, result.output
        time.sleep(1)


def test_lab_down_then_up_with_data_kept_ends_healthy(lab: LabContext) -> None:
    vault_keys = (lab.root / "secrets" / "vault-init.json").read_text()
    for cycle in range(CYCLES):
        lines: list[str] = []
        down(lab, lines.append)
        assert not [n for n in lab.supervisor.names() if lab.supervisor.pid(n)], "down stops every process"
        states = up(lab, lines.append, timeout=240)
        bad = [s for s in states if s.state not in ("healthy", "not available")]
        assert not bad, f"cycle {cycle + 1}: {bad}\n" + "\n".join(lines)
        assert json.loads((lab.root / "failed.json").read_text()) == {}
        code, out = _status(lab, within=60)  # Prometheus needs one scrape of the restarted members
        assert code == 0, f"cycle {cycle + 1}: status exit {code}\n{out}"
    assert (lab.root / "secrets" / "vault-init.json").read_text() == vault_keys, "data kept: never re-initialised"
