"""The lab comes up healthy from a model whose etcd client port is changed (issue 13).

One source for every port: with ``etcd.ports.client`` moved from 2379 to 2479 in a copy of the
model, etcd listens and advertises on 2479, Patroni (which needs etcd) forms its cluster through
it, Prometheus scrapes 2479, and ``iklim status --target lab`` asks 2479 and finds etcd healthy.
Nothing on the lab's addresses listens on 2379.

This test runs its own lab (named to sort before the session lab's tests) and refuses to start
while another lab holds the loopback addresses.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from iklim.lab.context import LabContext
from iklim.lab.orchestrator import down, status, up
from iklim.lab.probes import http_json, tcp_open
from iklim.model.loader import load_environment

REPO = Path(__file__).resolve().parents[2]
OLD, NEW = 2379, 2479


def lab_listeners() -> list[str]:
    """Listening TCP sockets on the lab's addresses (127.0.1-3.x, and epmd's 127.0.0.1:4369)."""
    out = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True, check=True).stdout
    locals_ = [line.split()[3] for line in out.splitlines()]
    return [a for a in locals_ if a.startswith(("127.0.1.", "127.0.2.", "127.0.3.")) or a.endswith(":4369")]


@pytest.mark.own_lab
def test_lab_is_healthy_with_the_etcd_client_port_changed() -> None:
    assert not lab_listeners(), f"another lab is up on the loopback addresses: {lab_listeners()}"
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    assert bins, "PostgreSQL is not installed: run scripts/install-lab.sh"
    root = Path(tempfile.mkdtemp(prefix="iklim-lab-port-"))
    os.chmod(root, 0o755)
    text = (REPO / "environments" / "prod.yaml").read_text()
    needle = f"{{name: client, port: {OLD}}}"
    assert text.count(needle) == 1
    model = root / "prod.yaml"
    model.write_text(text.replace(needle, f"{{name: client, port: {NEW}}}"))
    env = load_environment(model)
    ctx = LabContext.create(env, root / "lab", str(Path(bins[-1]).parent))
    lines: list[str] = []
    try:
        states = {s.name: s for s in up(ctx, lines.append, timeout=240)}
        bad = {n: s for n, s in states.items() if s.state not in ("healthy", "not available")}
        assert not bad, f"lab up failed: {bad}\n" + "\n".join(lines)
        assert states["etcd"].state == states["patroni"].state == "healthy"
        for n in (1, 2, 3):
            assert tcp_open(f"127.0.1.{n}", NEW) and not tcp_open(f"127.0.1.{n}", OLD)
        # Prometheus scrapes etcd on the new port only (its scrape job is the rendered one).
        active = http_json("http://127.0.2.2:9090/api/v1/targets?state=active", timeout=2)["data"]["activeTargets"]
        etcd = sorted(str(t["scrapeUrl"]) for t in active if t["labels"]["job"] == "etcd")
        assert etcd == [f"https://127.0.1.{n}:{NEW}/metrics" for n in (1, 2, 3)], etcd
        # `iklim status` asks the new port and finds etcd (and Patroni through it) healthy.
        argv = [sys.executable, "-m", "iklim", "status", "--env", str(model), "--root", str(ctx.root)]
        argv += ["--target", "lab", "--format", "json", "--component", "etcd", "--component", "patroni"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=REPO)
        report = {c["component"]: c for c in json.loads(done.stdout)["components"]}
        assert done.returncode == 0, done.stdout + done.stderr
        assert report["etcd"]["status"] == report["patroni"]["status"] == "healthy", report
        assert all(m["address"].endswith(f":{NEW}") for m in report["etcd"]["members"]), report["etcd"]
        # `iklim lab status` judges each cluster with the same probes, in the same words.
        deadline = time.monotonic() + 60  # as `iklim status`: a member may still be settling
        while True:
            live = {s.name: s for s in status(ctx)}
            bad = {n: (s.state, s.detail) for n, s in live.items() if s.state not in ("healthy", "not available")}
            if not bad or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert not bad, bad
        assert live["etcd"].detail == report["etcd"]["reason"]
    finally:
        down(ctx, lines.append, wipe=True)
    assert not lab_listeners(), f"lab down left listening ports: {lab_listeners()}"
