"""Swarm lab: time for `iklim swarm-lab up` to reach healthy, cold and warm, and its memory.

- cold: `swarm-lab down --wipe`, the image cache emptied (every stand-in and project image is
  built again from the debootstrap base), then `swarm-lab up`;
- warm: `swarm-lab down --wipe` (the image cache kept: nothing is built, every image is copied
  into six fresh engines, a new Swarm, the whole runbook), then `swarm-lab up`;
- restart: `swarm-lab down` (state kept: each node's images, Swarm and volumes), then `swarm-lab
  up` (the engines restart, Swarm restarts the tasks, the runbook finds nothing to do).
Then the memory, as `swarm-lab status` measures it: each node's dockerd + containerd RSS and its container
cgroup (`--cgroup-parent`), in MiB. Targets (issue 9): warm <= 120 s, memory <= 4 GiB on a
2-core machine. Prints figures; exits 1 only when a run fails. Runs as root; leaves the lab up.
Usage:
    python bench/bench_swarm_lab.py [--no-cold] [--runs 1]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from iklim.swarmlab import paths  # noqa: E402


def iklim(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PYTHONPATH": str(REPO / "src")}
    argv = [sys.executable, "-c", "from iklim.cli import main; main()", *args]
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def timed_up(label: str) -> float:
    down = iklim("swarm-lab", "down", *(() if label == "restart" else ("--wipe",)))
    if down.returncode != 0:
        sys.exit(f"{label}: swarm-lab down failed: {down.stderr[-1500:]}")
    if label == "cold":
        shutil.rmtree(paths.IMAGE_CACHE, ignore_errors=True)
    start = time.monotonic()
    up = iklim("swarm-lab", "up")
    seconds = time.monotonic() - start
    if up.returncode != 0:
        sys.exit(f"{label}: swarm-lab up failed after {seconds:.0f} s:\n{up.stderr[-3000:]}")
    steps = [line.split("up: ", 1)[1] for line in up.stderr.splitlines() if "] up: " in line]
    print(f"{label:7} up to healthy: {seconds:6.1f} s  {steps[-1] if steps else ''}", flush=True)
    return seconds


def memory() -> list[dict[str, object]]:
    """Per node, what `swarm-lab status` measures: dockerd + containerd RSS and the node's
    container cgroup (MiB)."""
    status = iklim("swarm-lab", "status", "--format", "json", timeout=120)
    if status.returncode != 0:
        sys.exit(f"swarm-lab status failed: {status.stderr[-1500:]}")
    nodes: list[dict[str, object]] = json.loads(status.stdout)["nodes"]
    return nodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-cold", action="store_true", help="skip the cold run (no image rebuild)")
    parser.add_argument("--runs", type=int, default=1, help="warm runs")
    args = parser.parse_args()
    if not args.no_cold:
        timed_up("cold")
    warm = [timed_up("warm") for _ in range(args.runs)]
    print(f"warm    best {min(warm):.1f} s, worst {max(warm):.1f} s (target <= 120 s)")
    restart = [timed_up("restart") for _ in range(args.runs)]
    print(f"restart best {min(restart):.1f} s, worst {max(restart):.1f} s")
    time.sleep(10)
    total = 0.0
    for node in memory():
        daemon, containers = float(str(node["daemon_mib"])), float(str(node["containers_mib"]))
        total += daemon + containers
        print(f"memory {node['hostname']:13} dockerd+containerd {daemon:6.0f} MiB, containers {containers:6.0f} MiB")
    print(f"memory total (daemons + tasks) {total:8.0f} MiB (target <= 4096 MiB)")


if __name__ == "__main__":
    main()
