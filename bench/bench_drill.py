"""Benchmark: the drill matrix (every cluster x kill, isolate and switchover) on a fresh loopback lab.

Prints figures (not a test). Starts its own lab in a temporary folder, asks the lab's drill driver
which clusters it drills (``driver.clusters()``) and which faults it offers, runs
``iklim drill run --cluster C --fault F --runs N --format json`` for every combination asked for,
prints one line per skipped combination (a fault the driver does not offer for that cluster) and
the table: recovery p50/p95/max (seconds, p95 nearest-rank as ``iklim drill`` computes it), the
accounting (acknowledged, lost, recovered, unexpected, duplicated) and issue 11's target. Brings
the lab down. Needs free lab ports (no other lab: run it under ``flock /tmp/iklim-lab.lock``; on a
shared machine one cluster per locked command, a Patroni kill x10 takes ~8 min).

Usage:
    python bench/bench_drill.py [--runs N | --quick] [--clusters etcd,redis] [--faults kill] [--out DIR]

Examples:
    python bench/bench_drill.py --quick                       # the whole matrix, 3 runs each
    flock /tmp/iklim-lab.lock python bench/bench_drill.py --clusters patroni --faults kill --out /tmp/d

Exit 0 when every run recovered and lost nothing acknowledged, 1 otherwise, 2 when a drill could
not run (skipped combinations do not count).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

#: The matrix's faults (issue 11's acceptance: kill, isolate and switchover).
MATRIX_FAULTS = ("kill", "isolate", "switchover")

#: Issue 11's targets: p95 recovery in seconds over >= 10 runs, 0 acknowledged writes lost.
TARGETS: dict[tuple[str, str], float] = {
    ("patroni", "kill"): 20.0,
    ("patroni", "switchover"): 5.0,
    ("etcd", "kill"): 2.0,
    ("redis", "kill"): 5.0,
    ("vault", "kill"): 3.0,
    ("rabbitmq", "kill"): 1.0,
}


def offered_faults(driver: Any, cluster: str) -> tuple[str, ...]:
    """The faults ``driver`` offers for ``cluster``: its ``faults(cluster)`` (or ``faults()``, or a
    ``faults`` tuple) when it has one, else the drill's registry :data:`iklim.drill.driver.FAULTS`."""
    faults = getattr(driver, "faults", None)
    if callable(faults):
        try:
            return tuple(faults(cluster))
        except TypeError:
            return tuple(faults())
    if isinstance(faults, Iterable) and not isinstance(faults, str):
        return tuple(faults)
    from iklim.drill.driver import FAULTS

    return tuple(FAULTS)


def plan(
    clusters: Sequence[str],
    offered: Callable[[str], Sequence[str]],
    want_clusters: Sequence[str] | None,
    want_faults: Sequence[str],
) -> tuple[list[tuple[str, str]], list[str]]:
    """The (cluster, fault) combinations to run, in the driver's cluster order, and one line per
    combination skipped. Raises ValueError naming a cluster the driver does not drill."""
    unknown = [c for c in want_clusters or () if c not in clusters]
    if unknown:
        raise ValueError(f"unknown cluster {unknown[0]!r} (the driver drills: {', '.join(clusters)})")
    chosen = [c for c in clusters if want_clusters is None or c in want_clusters]
    todo, skipped = [], []
    for cluster in chosen:
        have = offered(cluster)
        for fault in want_faults:
            if fault in have:
                todo.append((cluster, fault))
            else:
                skipped.append(f"skip: {cluster} x {fault}: not offered by the driver (offers {', '.join(have)})")
    return todo, skipped


def _s(value: object) -> str:
    return "-" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)


def table(rows: Iterable[dict[str, Any]]) -> str:
    """The matrix table from ``iklim.drill/v1`` summary rows (Markdown, as the README quotes it)."""
    lines = [
        "| Cluster | Fault | Runs | Recovery p50 / p95 / max (s) | Acknowledged | Lost | Recovered | "
        "Unexpected | Duplicated | Target p95 | Verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        rec = row["recovery_s"]
        target = TARGETS.get((row["cluster"], row["fault"]))
        missing = f" ({rec['missing']} not recovered)" if rec.get("missing") else ""
        meets = target is None or (rec["p95"] is not None and rec["p95"] <= target)
        verdict = "ok" if row["passed"] and meets else "target missed" if row["passed"] else "FAIL"
        lines.append(
            f"| {row['cluster']} | {row['fault']} | {row['runs']} | "
            f"{_s(rec['p50'])} / {_s(rec['p95'])} / {_s(rec['max'])}{missing} | {row['acknowledged']:,} | "
            f"{row['lost']} | {row['recovered']} | {row['unexpected']} | {row['duplicated']} | "
            f"{'-' if target is None else f'<= {target:g} s'} | {verdict} |"
        )
    return "\n".join(lines) + "\n"


def _split(text: str | None) -> list[str] | None:
    return None if text is None else [part.strip() for part in text.split(",") if part.strip()]


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # a `timeout` of the bench still brings the lab down


def main() -> int:
    signal.signal(signal.SIGTERM, _interrupted)
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10, help="runs per combination (default 10)")
    parser.add_argument("--quick", action="store_true", help="3 runs per combination")
    parser.add_argument("--clusters", "--cluster", help="comma list (default: every cluster the driver drills)")
    parser.add_argument("--faults", default=",".join(MATRIX_FAULTS), help="comma list (default: %(default)s)")
    parser.add_argument("--rate", type=float, default=50.0, help="writes per second (default 50)")
    parser.add_argument("--env", default="environments/prod.yaml", help="the environment model")
    parser.add_argument("--out", type=Path, help="keep reports and histories in DIR/<cluster>-<fault>")
    args = parser.parse_args()
    runs = 3 if args.quick else args.runs
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    root = Path(tempfile.mkdtemp(prefix="iklim-lab-drill-"))
    os.chmod(root, 0o755)
    iklim = [sys.executable, "-m", "iklim"]
    worst, rows, skipped = 0, [], []
    try:
        subprocess.run([*iklim, "lab", "up", "--env", args.env, "--root", str(root)], env=env, cwd=REPO, check=True)
        from iklim.drill.labdriver import LabDriver
        from iklim.lab.commands import lab_context

        driver = LabDriver(lab_context(str(REPO / args.env), str(root)))
        try:
            todo, skipped = plan(
                driver.clusters(), lambda c: offered_faults(driver, c), _split(args.clusters), _split(args.faults) or []
            )
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        for line in skipped:
            print(line, file=sys.stderr)
        for cluster, fault in todo:
            command = [*iklim, "drill", "run", "--env", args.env, "--root", str(root), "--cluster", cluster]
            command += ["--fault", fault, "--runs", str(runs), "--rate", str(args.rate), "--format", "json"]
            if args.out:
                command += ["--out", str(args.out / f"{cluster}-{fault}")]
            done = subprocess.run(command, env=env, cwd=REPO, stdout=subprocess.PIPE, text=True)
            try:
                doc = json.loads(done.stdout)
            except ValueError:
                skipped.append(f"error: {cluster} x {fault}: the drill could not run (exit {done.returncode})")
                print(skipped[-1], file=sys.stderr)
                worst = 2
                continue
            rows.extend(doc["summary"])
            worst = max(worst, done.returncode)
    finally:
        subprocess.run([*iklim, "lab", "down", "--root", str(root), "--wipe"], env=env, cwd=REPO)
    print(f"\n{runs} run(s) per combination, {args.rate:g} writes/s, model {args.env}\n")
    print(table(rows), end="")
    for line in skipped:
        print(line)
    return worst


if __name__ == "__main__":
    sys.exit(main())
