"""Soak: N consecutive drills on one fresh loopback lab, mixing every fault across the clusters,
then the lab must be healthy with no iptables rule tagged ``iklim-drill`` and no stopped process.

Prints one line per drill and a summary (not a test). Starts its own lab in a temporary folder
and brings it down at the end; needs free lab ports (run it under the lab lock). Usage:
    python bench/bench_drill_soak.py [--soak 30] [--unsafe] [--out DIR]
Exit 0 when every drill passed and the lab ended healthy and clean, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from iklim.drill import isolate  # noqa: E402
from iklim.drill.driver import DrillError  # noqa: E402
from iklim.drill.journal import Journal  # noqa: E402
from iklim.drill.labdriver import LabDriver, _state  # noqa: E402
from iklim.drill.runner import run_once  # noqa: E402
from iklim.lab.commands import lab_context  # noqa: E402
from iklim.lab.orchestrator import down, probe_reports, up  # noqa: E402
from iklim.model.paths import DEFAULT_ENV  # noqa: E402

#: One round of the mix (cluster, fault); the soak cycles through it. Patroni's kill (ttl) is the
#: slow one and is left to bench_drill.py's matrix; its graceful stop and hand-over are here.
MIX = [
    ("etcd", "kill"),
    ("redis", "isolate"),
    ("rabbitmq", "switchover"),
    ("patroni", "switchover"),
    ("etcd", "isolate"),
    ("redis", "pause"),
    ("rabbitmq", "kill"),
    ("etcd", "switchover"),
    ("redis", "switchover"),
    ("patroni", "isolate"),
    ("vault", "kill"),
    ("etcd", "stop"),
    ("redis", "kill"),
    ("patroni", "stop"),
    ("etcd", "pause"),
    ("vault", "switchover"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--soak", type=int, default=30, help="how many drills")
    parser.add_argument("--out", type=Path, help="write soak.json here")
    parser.add_argument(
        "--unsafe", action="store_true", help="then one --unsafe-config isolate of redis and of patroni (loss expected)"
    )
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="iklim-lab-soak-"))
    os.chmod(root, 0o755)
    ctx = lab_context(DEFAULT_ENV, str(root))
    driver, journal = LabDriver(ctx), Journal(ctx.root / "drill")
    rows: list[dict[str, object]] = []
    verdict = 0
    begin = time.monotonic()
    try:
        states = up(ctx, lambda line: None, timeout=240)
        bad = [s.name for s in states if s.state == "unhealthy"]
        if bad:
            print(f"lab up failed: {bad}")
            return 1
        for n in range(args.soak):
            cluster, fault = MIX[n % len(MIX)]
            started = time.monotonic()
            try:
                result = run_once(driver, journal, cluster, fault, n + 1)
                row = {
                    "n": n + 1,
                    "cluster": cluster,
                    "fault": fault,
                    "member": result.member,
                    "new_leader": result.new_leader,
                    "recovery_s": result.recovery.recovery,
                    "election_s": result.recovery.election,
                    "lost": len(result.accounting.lost),
                    "acknowledged": result.accounting.acknowledged,
                    "passed": result.passed,
                }
            except DrillError as exc:
                row = {"n": n + 1, "cluster": cluster, "fault": fault, "error": str(exc), "passed": False}
            row["seconds"] = round(time.monotonic() - started, 1)
            row["rules_left"] = len(isolate.tagged_rules(isolate.PREFIX))
            rows.append(row)
            print(json.dumps(row), flush=True)
            if not row["passed"] or row["rules_left"]:
                verdict = 1
        if args.unsafe:
            driver.unsafe_config = True
            for cluster in ("redis", "patroni"):
                try:
                    result = run_once(driver, journal, cluster, "isolate", 1)
                    print(
                        f"unsafe {cluster} isolate: {len(result.accounting.lost)} of {result.accounting.acknowledged} "
                        f"acknowledged lost, recovery {result.recovery.recovery} s: "
                        f"{'loss caught' if result.passed else 'NO LOSS SHOWN'}",
                        flush=True,
                    )
                except DrillError as exc:
                    print(f"unsafe {cluster} isolate: error: {exc}", flush=True)
            driver.unsafe_config = False
        reports = probe_reports(ctx, {c for c in driver.clusters()})
        unhealthy = sorted(name for name, r in reports.items() if r.status != "healthy")
        stopped = [m for m in ctx.supervisor.names() if (pid := ctx.supervisor.pid(m)) and _state(pid) == "T"]
        rules = isolate.tagged_rules(isolate.PREFIX)
        pending = journal.pending()
    finally:
        down(ctx, lambda line: None, wipe=True)
    passed = sum(1 for r in rows if r["passed"])
    recoveries = sorted(float(r["recovery_s"]) for r in rows if isinstance(r.get("recovery_s"), float))
    lost = sum(r["lost"] for r in rows if isinstance(r.get("lost"), int))
    acked = sum(r["acknowledged"] for r in rows if isinstance(r.get("acknowledged"), int))
    print(
        f"soak: {passed}/{len(rows)} drills passed in {time.monotonic() - begin:.0f} s; "
        f"lost {lost} acknowledged of {acked}; "
        f"recovery max {recoveries[-1] if recoveries else '-'} s; after: unhealthy {unhealthy or 'none'}, "
        f"tagged rules {len(rules)}, stopped processes {stopped or 'none'}, journal entries {len(pending)}"
    )
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "soak.json").write_text(json.dumps(rows, indent=2) + "\n")
    return 1 if verdict or unhealthy or rules or stopped or pending else 0


if __name__ == "__main__":
    sys.exit(main())
