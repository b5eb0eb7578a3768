"""Swarm lab: time for `iklim swarm-lab up` to reach healthy, cold and warm, and its memory.

- cold: `swarm-lab down --wipe`, the image cache emptied (every stand-in and project image is
  built again from the debootstrap base), then `swarm-lab up`;
- warm: `swarm-lab down --wipe` (the image cache kept: nothing is built, every image is copied
  into six fresh engines, a new Swarm, the whole runbook), then `swarm-lab up`;
- restart: `swarm-lab down` (state kept: each node's images, Swarm and volumes), then `swarm-lab
  up` (the engines restart, Swarm restarts the tasks, the runbook finds nothing to do).
Then the memory: RSS of each node's dockerd + containerd (+ shims) and each node's container
cgroup (`--cgroup-parent`), in MiB. Targets (issue 9): warm <= 120 s, memory <= 4 GiB on a
2-core machine. Prints figures; exits 1 only when a run fails. Runs as root; leaves the lab up.
Usage:
    python bench/bench_swarm_lab.py [--no-cold] [--runs 1]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from iklim.swarmlab import paths  # noqa: E402

MIB = 1024 * 1024


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


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def daemons_rss() -> dict[str, int]:
    """Bytes of RSS per kind (dockerd, containerd, containerd-shim) whose command line names a
    lab path (the builder engine excluded)."""
    totals: dict[str, int] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(paths.RUN) not in cmd or str(paths.BUILDER_SOCKET) in cmd or "builder" in cmd:
            continue
        kind = Path(cmd.split(" ", 1)[0]).name
        totals[kind] = totals.get(kind, 0) + _rss(int(proc.name))
    return totals


def cgroup_bytes() -> dict[str, int]:
    """Each node's container cgroup memory usage (cgroup v1 memory controller, or v2)."""
    out: dict[str, int] = {}
    for base in (Path("/sys/fs/cgroup/memory"), Path("/sys/fs/cgroup")):
        for group in sorted(base.glob(f"{paths.CGROUP_PREFIX}*")):
            for name in ("memory.usage_in_bytes", "memory.current"):
                if (group / name).exists():
                    out[group.name] = int((group / name).read_text())
                    break
        if out:
            break
    return out


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
    daemons, groups = daemons_rss(), cgroup_bytes()
    for kind, size in sorted(daemons.items()):
        print(f"memory {kind:24} {size / MIB:8.0f} MiB")
    for group, size in groups.items():
        print(f"memory cgroup {group:17} {size / MIB:8.0f} MiB")
    total = sum(daemons.values()) + sum(groups.values())
    print(f"memory total (daemons + tasks) {total / MIB:8.0f} MiB (target <= 4096 MiB)")


if __name__ == "__main__":
    main()
