"""Drill: `iklim lab down; iklim lab up` with data kept, and fresh `lab up`s (issue 16, kind 6).

Prints one line per run (pass/fail, seconds) and a summary; exits 1 if any run failed. A run
passes when `lab up` exits 0, its output has no secret race (`File exists`, an empty secret)
and no "unexpected" error, and `iklim status --target lab` reaches exit 0 within 60 s (Prometheus
needs one scrape of the restarted members). Needs free lab ports (no other lab running). Usage:
    python bench/bench_lab_restarts.py [--restarts 10] [--fresh 20] [--root DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RACE_WORDS = ("File exists", "Errno 17", "unexpected", "Traceback", "StopIteration")


def iklim(*args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PYTHONPATH": str(REPO / "src")}
    argv = [sys.executable, "-c", "from iklim.cli import main; main()", *args]
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def healthy_within(root: str, seconds: float) -> tuple[bool, str]:
    deadline = time.monotonic() + seconds
    while True:
        status = iklim("status", "--target", "lab", "--root", root, timeout=30)
        if status.returncode == 0 or time.monotonic() > deadline:
            bad = [line for line in status.stdout.splitlines() if " healthy " not in line and "skipped" not in line]
            return status.returncode == 0, "; ".join(bad)[:300]
        time.sleep(2)


def one_run(label: str, root: str, wipe: bool) -> bool:
    begin = time.monotonic()
    down = iklim("lab", "down", "--root", root, *(["--wipe"] if wipe else []))
    up = iklim("lab", "up", "--root", root)
    took_up = time.monotonic() - begin
    words = [w for w in RACE_WORDS if w in up.stderr]
    ok, why = healthy_within(root, 60) if up.returncode == 0 else (False, " ".join(up.stderr.strip().splitlines()[-1:]))
    passed = down.returncode == 0 and up.returncode == 0 and not words and ok
    detail = "" if passed else f"  up exit {up.returncode}; words {words}; {why}"
    verdict = "PASS" if passed else "FAIL"
    print(f"{label}: {verdict} down+up {took_up:5.1f} s, healthy at {time.monotonic() - begin:5.1f} s{detail}")
    sys.stdout.flush()
    if not passed:
        errors = [line for line in up.stderr.splitlines() if line.startswith("error:")]
        print(f"--- {label} ---", *errors, up.stderr[-3000:], sep="\n", file=sys.stderr)
    return passed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--restarts", type=int, default=10)
    parser.add_argument("--fresh", type=int, default=20)
    parser.add_argument("--root", default=None)
    args = parser.parse_args()
    root = args.root or tempfile.mkdtemp(prefix="iklim-lab-drill-")
    os.chmod(root, 0o755)  # PostgreSQL runs as the lab user
    results: dict[str, list[bool]] = {"restart": [], "fresh": []}
    try:
        if args.restarts:
            first = iklim("lab", "up", "--root", root)
            print(f"initial up: exit {first.returncode}")
            for i in range(args.restarts):
                results["restart"].append(one_run(f"restart {i + 1:2d} (data kept)", root, wipe=False))
        for i in range(args.fresh):
            results["fresh"].append(one_run(f"fresh   {i + 1:2d} (wiped)   ", root, wipe=True))
    finally:
        iklim("lab", "down", "--root", root, "--wipe")
        shutil.rmtree(root, ignore_errors=True)
    for kind, runs in results.items():
        if runs:
            print(f"{kind}: {sum(runs)}/{len(runs)} passed")
    return 0 if all(all(runs) for runs in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
