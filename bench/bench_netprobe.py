"""Swarm lab: time of `iklim swarm-lab probe-network` (issue 10: the whole matrix in <= 20 s).

Runs the probe ``--runs`` times on the running lab (`iklim swarm-lab up` first) and prints, per
run, the number of connections, the per-connection timeout, the setup (public side, firewall,
FAKE sshd, probe containers), the probe itself (every agent in parallel) and the total, in
seconds. Exits 1 when a run fails to produce a matrix or takes more than 20 s in all.
Usage (as root, inside the lab lock):
    flock /tmp/iklim-lab.lock python bench/bench_netprobe.py [--runs 3] [--timeout 1.0]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_S = 20.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=1.0, help="seconds per connection")
    args = parser.parse_args()
    env = os.environ | {"PYTHONPATH": str(REPO / "src")}
    worst = 0.0
    for run in range(1, args.runs + 1):
        began = time.monotonic()
        argv = [sys.executable, "-m", "iklim", "swarm-lab", "probe-network", "--format", "json"]
        proc = subprocess.run([*argv, "--timeout", str(args.timeout)], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=300)  # fmt: skip
        wall = time.monotonic() - began
        if proc.returncode not in (0, 1):
            sys.exit(f"run {run}: probe-network failed: {proc.stderr[-2000:]}")
        report = json.loads(proc.stdout)
        times = report["times"]
        worst = max(worst, wall)
        print(
            f"run {run}: {len(report['cells'])} connections, {len(report['differences'])} differences, "
            f"timeout {report['timeout_s']} s/connection; setup {times['setup']} s, probe {times['probe']} s, "
            f"total {times['total']} s, wall (with Python start) {wall:.1f} s",
            flush=True,
        )
    print(f"worst wall time {worst:.1f} s (target <= {TARGET_S} s)")
    if worst > TARGET_S:
        sys.exit(1)


if __name__ == "__main__":
    main()
