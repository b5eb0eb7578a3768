"""``iklim status``: the CLI. Only click is imported at load; everything else when it runs."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from iklim.model.paths import DEFAULT_ENV

DEFAULT_ROOT = ".lab"


@click.command("status")
@click.option(
    "--target",
    type=click.Choice(["lab", "prod"]),
    default="lab",
    show_default=True,
    help="Probe the lab (addresses from its state) or production (addresses from the model).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "prometheus"]),
    default="text",
    show_default=True,
    help="Output format; the JSON schema is iklim.status/v1.",
)
@click.option(
    "--watch",
    type=click.FloatRange(min=0.2),
    default=None,
    metavar="SECONDS",
    help="Repeat every SECONDS until interrupted.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.05),
    default=1.0,
    show_default=True,
    help="Deadline of each component's probe, in seconds.",
)
@click.option(
    "-c", "--component", "only", multiple=True, metavar="NAME", help="Probe only this component (repeatable)."
)
@click.option("--env", "env_path", default=DEFAULT_ENV, show_default=True, help="The environment model.")
@click.option(
    "--root",
    "--lab-root",
    "root",
    default=DEFAULT_ROOT,
    show_default=True,
    help="The lab's state directory (--target lab; --lab-root is the same option).",
)
@click.option(
    "--on-overlay",
    is_flag=True,
    help="(--target prod, on a Swarm manager) Run the probe as a one-shot Swarm job on the overlay.",
)
def status_command(
    target: str,
    fmt: str,
    watch: float | None,
    timeout: float,
    only: tuple[str, ...],
    env_path: str,
    root: str,
    on_overlay: bool,
) -> None:
    """Quorum-aware health of every cluster: who leads, who lags, what redundancy is left.

    Every component is probed in parallel, each with its own deadline, and judged healthy,
    degraded (serving, redundancy lost) or down, with the reason in words. Exit 0 when all are
    healthy, 1 when any is degraded, 2 when any is down.

    \b
    Examples:
      iklim status                          # the lab under .lab/
      iklim status --format json | jq '.components[] | select(.status != "healthy")'
      iklim status --target prod --format prometheus > /var/lib/node_exporter/iklim.prom
      iklim status --watch 2 -c etcd -c patroni
      iklim status --target prod --on-overlay -c redis   # on a Swarm manager

    \b
    Production: etcd, Patroni, MongoDB and Vault are reached on their nodes' private IPs (host
    ports); Redis, Sentinel, RabbitMQ, Prometheus, Grafana and APISIX by overlay names, so run it
    from a container attached to the overlay: --on-overlay does that from a manager (DOCKER_HOST),
    as a Swarm job of the model's tooling image with the Docker secrets mounted. Credentials come
    from the environment:
    IKLIM_REDIS_PASSWORD, IKLIM_RABBITMQ_ADMIN_PASSWORD, VAULT_TOKEN (or BAO_TOKEN),
    IKLIM_MONGODB_EXPORTER_PASSWORD (the least-privileged login; else IKLIM_MONGODB_ROOT_PASSWORD),
    IKLIM_APISIX_ADMIN_KEY (each also as NAME_FILE). They are never printed.
    """
    from iklim.status.plancache import load_plan

    if on_overlay and (target != "prod" or watch is not None):
        raise click.UsageError("--on-overlay needs --target prod and runs once (no --watch)")
    try:
        plan = load_plan(env_path, target, root)
    except OSError as exc:
        click.echo(f"error: cannot read the model: {exc}", err=True)
        sys.exit(2)
    except Exception as exc:  # the model loader's ModelError, without importing it on the hot path
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    unknown = sorted(set(only) - {c.name for c in plan.components})
    if unknown:  # before anything is started (on the overlay: before a Swarm job is created)
        raise click.BadParameter(f"unknown component(s): {', '.join(unknown)}", param_hint="--component")
    if on_overlay:
        from iklim.status.overlay import status_on_overlay

        sys.exit(status_on_overlay(env_path, fmt, timeout, only))
    from iklim.status.output import render_json, render_prometheus, render_text
    from iklim.status.report import exit_code
    from iklim.status.runner import lab_failures, lab_selection, mark_lab_failures, run_probes
    from iklim.status.secrets import EnvironmentSecrets, LabSecrets, Secrets
    from iklim.status.transport import NetTransport

    secrets: Secrets
    if target == "lab":
        try:
            components, skipped = lab_selection(plan)
        except FileNotFoundError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        secrets = LabSecrets(Path(plan.root))
        failed = lab_failures(plan)
    else:
        components, skipped, failed = list(plan.components), [], {}
        secrets = EnvironmentSecrets()
    if only:
        components = [c for c in components if c.name in only]
        skipped = [s for s in skipped if s.component in only]
    transport = NetTransport()
    color = fmt == "text" and sys.stdout.isatty()
    code = 0
    try:
        while True:
            begin = time.monotonic()
            reports = mark_lab_failures(run_probes(components, transport, secrets, timeout), failed)
            seconds = time.monotonic() - begin
            code = exit_code(reports)
            if fmt == "json":
                text = render_json(target, reports, skipped, seconds)
            elif fmt == "prometheus":
                text = render_prometheus(target, reports, skipped, seconds).rstrip("\n")
            else:
                text = render_text(target, reports, skipped, seconds, color)
            if watch is not None and color:
                click.echo("\033[H\033[2J" + time.strftime("%H:%M:%S"), nl=True)
            click.echo(text)
            if watch is None:
                break
            sys.stdout.flush()
            time.sleep(max(0.0, watch - (time.monotonic() - begin)))
    except KeyboardInterrupt:
        pass
    sys.exit(code)
