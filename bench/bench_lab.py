"""Benchmark: `iklim lab up` from nothing to all healthy, and the lab's total memory.

Prints figures (not a test). Needs free lab ports (no other lab running). Usage:
    python bench/bench_lab.py [--runs N]
Targets (issue 4): all healthy in <= 40 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def tree_rss_kib(roots: set[int]) -> tuple[int, int]:
    """Total resident memory (KiB) and count of the given processes and all their descendants
    (PostgreSQL runs in a session of its own under Patroni)."""
    parent: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            parent[int(entry.name)] = int(fields[1])
            status = (entry / "status").read_text().splitlines()
            rss[int(entry.name)] = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        except (OSError, ValueError, IndexError, StopIteration):
            continue
    members = set(roots)
    grew = True
    while grew:
        grew = False
        for pid, ppid in parent.items():
            if ppid in members and pid not in members:
                members.add(pid)
                grew = True
    present = [pid for pid in members if pid in rss]
    return sum(rss[pid] for pid in present), len(present)


def one_run() -> tuple[float, int, int]:
    root = Path(tempfile.mkdtemp(prefix="iklim-lab-bench-"))
    os.chmod(root, 0o755)
    lab = ["iklim", "lab"]
    try:
        begin = time.monotonic()
        up = subprocess.run([*lab, "up", "--root", str(root)], cwd=REPO, capture_output=True, text=True)
        elapsed = time.monotonic() - begin
        if up.returncode != 0:
            sys.exit(f"lab up failed:\n{up.stderr[-3000:]}")
        pids = {int(p.read_text()) for p in (root / "run").glob("*.pid")}
        rss, count = tree_rss_kib(pids)
        return elapsed, rss, count
    finally:
        subprocess.run([*lab, "down", "--root", str(root), "--wipe"], cwd=REPO, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    runs = [one_run() for _ in range(parser.parse_args().runs)]
    times = [r[0] for r in runs]
    print(
        f"iklim lab up (fresh, all healthy): median {statistics.median(times):.1f} s over {len(runs)} run(s)"
        f" [target <= 40 s]; runs: {', '.join(f'{t:.1f}' for t in times)}"
    )
    rss, count = runs[-1][1], runs[-1][2]
    print(f"lab memory when healthy: {rss / 1024:.0f} MiB resident in {count} processes")


if __name__ == "__main__":
    main()
