"""Median whole-process wall time of ``iklim check`` on the rendered tree and a 1,000-service stack.

Run: ``python bench/bench_check.py [--runs N]``. Targets: <= 0.25 s on the production tree and
<= 1.5 s on 1,000 services. Prints figures; it is not a test.
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

REPO = Path(__file__).resolve().parents[1]
KINDS = ("redis", "rabbitmq", "apisix", "grafana", "worker")


def generate(path: Path, count: int = 1000) -> None:
    """A stack of ``count`` services in the production tree's style (long ports, anchors, secrets)."""
    lines = [
        'version: "3.9"',
        "x-deploy: &deploy",
        "  replicas: 1",
        "  placement:",
        '    constraints: ["node.labels.type == service", "node.hostname == iklim-app-01"]',
        "  update_config: {parallelism: 1, order: stop-first}",
        "services:",
    ]
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        lines += [
            f"  {kind}-svc-{i}:",
            f"    image: example/{kind}:1.{i}",
            "    environment:",
            f"      APP_PASSWORD_FILE: /run/secrets/app-{i}",
            "      APP_MODE: ${APP_MODE:-prod}",
            "    networks:",
            f"      iklim-overlay: {{aliases: [{kind}-{i}]}}",
            f'    volumes: ["data-{i}:/data"]',
            "    healthcheck: {test: [CMD, 'true'], interval: 10s}",
            "    deploy:",
            "      <<: *deploy",
        ]
    lines += ["networks:", "  iklim-overlay: {external: true}", "volumes:"]
    lines += [f"  data-{i}: {{}}" for i in range(count)]
    path.write_text("\n".join(lines) + "\n")


def median_wall(args: list[str], runs: int, cwd: Path) -> tuple[float, int]:
    exe = str(Path(sys.executable).with_name("iklim"))
    times, code = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        code = subprocess.run([exe, *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        times.append(time.perf_counter() - start)
    return statistics.median(times), code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=11)
    runs = parser.parse_args().runs
    median, code = median_wall(["check", "."], runs, REPO)
    print(f"iklim check . (production tree): median {median:.3f} s over {runs} runs, exit {code}  [target <= 0.25 s]")
    with tempfile.TemporaryDirectory() as tmp:
        stack = Path(tmp) / "stack.yml"
        generate(stack)
        median, code = median_wall(["check", str(stack)], runs, Path(tmp))
        print(
            f"iklim check stack.yml (1,000 services): median {median:.3f} s over {runs} runs, exit {code}"
            "  [target <= 1.5 s]"
        )
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    print(f"reference: bare interpreter start {time.perf_counter() - start:.3f} s")
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print(
            "note: PYTHONDONTWRITEBYTECODE is set, so every run compiles iklim's sources (no .pyc);"
            " measure with `env -u PYTHONDONTWRITEBYTECODE` for the figure an installed tool gives"
        )


if __name__ == "__main__":
    main()
