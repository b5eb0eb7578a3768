"""Capture the Swarm lab's live state into the plan tests' fixture (run by hand, on the running lab).

    flock /tmp/iklim-lab.lock python3 tests/plan/capture_snapshot.py

Writes ``tests/plan/fixtures/swarm_lab/``: ``snapshot.json`` (:func:`iklim.plan.live.read_snapshot`),
the two stack files as deployed and ``config_sha256.json`` (the tree the snapshot was deployed
from, so the tests do not depend on later model changes). Refuses to write when any value of the
lab's secrets (``SECRETS_DIR`` files, the Vault custody file's keys and token) occurs in the text.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "plan" / "fixtures" / "swarm_lab"


def secret_values() -> list[str]:
    from iklim.swarmlab import paths

    values = [p.read_text().strip() for p in paths.SECRETS_DIR.glob("*") if p.is_file()]
    if paths.VAULT_KEYS_FILE.exists():
        values += list(_strings(json.loads(paths.VAULT_KEYS_FILE.read_text())))
    return [v for v in values if len(v) >= 8]


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def main() -> int:
    from iklim.model.loader import load_environment
    from iklim.plan.compose import config_hashes
    from iklim.plan.targets import stack_documents, swarm_lab_target
    from iklim.render.stacks import STACK_FILES

    env = load_environment(REPO / "environments" / "prod.yaml")
    target = swarm_lab_target(env)
    began = time.monotonic()
    snapshot = target.snapshot()
    took = time.monotonic() - began
    target.close()
    text = json.dumps(snapshot, indent=1, sort_keys=True)
    leaked = [v[:4] + "..." for v in secret_values() if v in text]
    if leaked:
        print(f"refused: {len(leaked)} secret value(s) occur in the snapshot", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "snapshot.json").write_text(text + "\n")
    for file in STACK_FILES.values():
        shutil.copyfile(REPO / file, OUT / file)
    hashes = config_hashes(REPO, stack_documents(REPO, env))
    (OUT / "config_sha256.json").write_text(json.dumps(hashes, indent=1, sort_keys=True) + "\n")
    print(f"snapshot: {len(snapshot['services'])} services, {len(snapshot['configs'])} configs, read in {took:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
