"""Benchmark: a fresh 3-member OpenBao Raft cluster to healthy through `iklim vault bootstrap`.

Prints figures (not a test). Uses 127.0.4.1-3, so a running lab is not disturbed. Usage:
    python bench/bench_vault.py [--runs N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from iklim.components.target import LabTarget
from iklim.lab.components.openbao import OpenBaoLab
from iklim.lab.context import LabContext
from iklim.lab.supervisor import Supervisor
from iklim.model.loader import load_environment

REPO = Path(__file__).resolve().parent.parent
PREFIX = "127.0.4"


def one_run() -> tuple[float, str]:
    env = load_environment(REPO / "environments" / "prod.yaml")
    root = Path(tempfile.mkdtemp(prefix="iklim-vault-bench-"))
    ctx = LabContext(env, root, LabTarget(env, root, vault_prefix=PREFIX), Supervisor(root))
    try:
        for spec in OpenBaoLab().processes(ctx):
            ctx.supervisor.start(spec)
        begin = time.monotonic()
        result = subprocess.run(
            [sys.executable, str(REPO / "tests" / "vault" / "drive.py"), str(root), PREFIX, "bootstrap"],
            capture_output=True,
            text=True,
        )
        elapsed = time.monotonic() - begin
        if result.returncode != 0:
            sys.exit(f"bootstrap failed:\n{result.stderr[-2000:]}")
        return elapsed, result.stderr
    finally:
        for name in ctx.supervisor.names():
            ctx.supervisor.stop(name, grace=10)
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = [one_run() for _ in range(parser.parse_args().runs)]
    times = [t for t, _ in runs]
    print(
        f"vault bootstrap, fresh cluster -> healthy + day-one: median {statistics.median(times):.1f} s "
        f"over {len(times)} runs ({', '.join(f'{t:.1f}' for t in times)}); issue's reference ~24 s"
    )


if __name__ == "__main__":
    main()
