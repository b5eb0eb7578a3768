"""Benchmark: the kill drill matrix on a fresh loopback lab, with p50/p95/max and loss counts.

Prints figures (not a test). Starts its own lab in a temporary folder, runs
``iklim drill run --cluster C --fault kill --runs N`` for each cluster, prints the table, and
brings the lab down. Needs free lab ports (no other lab running). Usage:
    python bench/bench_drill.py [--runs N | --quick] [--cluster etcd,redis,patroni] [--out DIR]
Targets (issue 11, p95 over >= 10 runs, 0 acknowledged lost): etcd <= 2 s, Redis <= 5 s,
Patroni <= 20 s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="3 runs per cluster")
    parser.add_argument("--cluster", default="etcd,redis,patroni")
    parser.add_argument("--out", type=Path, help="keep each cluster's report.json and histories here")
    args = parser.parse_args()
    runs = 3 if args.quick else args.runs
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    root = Path(tempfile.mkdtemp(prefix="iklim-lab-drill-"))
    os.chmod(root, 0o755)
    iklim = [sys.executable, "-m", "iklim"]
    worst = 0
    try:
        subprocess.run([*iklim, "lab", "up", "--root", str(root)], env=env, cwd=REPO, check=True)
        for cluster in args.cluster.split(","):
            command = [*iklim, "drill", "run", "--root", str(root), "--cluster", cluster, "--runs", str(runs)]
            if args.out:
                command += ["--out", str(args.out / cluster)]
            worst = max(worst, subprocess.run(command, env=env, cwd=REPO).returncode)
    finally:
        subprocess.run([*iklim, "lab", "down", "--root", str(root), "--wipe"], env=env, cwd=REPO)
    return worst


if __name__ == "__main__":
    sys.exit(main())
