"""Runs one Vault operation against a test cluster in its own process, so a test can SIGKILL it
mid-way (through the bootstrap's kill points) exactly as an interrupted operator session would be.

    python tests/vault/drive.py ROOT VAULT_PREFIX bootstrap|unseal [STOP_AFTER|MEMBER]
"""

from __future__ import annotations

import sys
from pathlib import Path

from iklim.components.target import LabTarget
from iklim.model.loader import load_environment
from iklim.vault.bootstrap import BootstrapError, bootstrap, unseal
from iklim.vault.custody import CustodyError
from iklim.vault.plan import lab_plan

REPO = Path(__file__).resolve().parents[2]


def main() -> int:
    root, prefix, action = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    extra = sys.argv[4] if len(sys.argv) > 4 else None
    env = load_environment(REPO / "environments" / "prod.yaml")
    plan = lab_plan(env, root, target=LabTarget(env, root, vault_prefix=prefix))

    def progress(line: str) -> None:
        print(f"vault: {line}", file=sys.stderr, flush=True)

    try:
        if action == "bootstrap":
            bootstrap(plan, progress, timeout=120, stop_after=extra)
        else:
            unseal(plan, [extra] if extra else [], progress)
    except (BootstrapError, CustodyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
