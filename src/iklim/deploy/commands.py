"""``iklim deploy``: plan, pre-flight, confirm, create the missing objects, apply, clean up. The CLI.

Steps (each one progress line): the plan (:func:`iklim.plan.run.plan_run`) and its pre-flight
checks plus ``clusters-healthy`` (``iklim status`` from the drill seat); exit 3 when a check fails,
nothing changed. The plan is printed; unless ``--yes`` the operator confirms. Then the configs
networks and secret versions to create (:mod:`.objects`, :mod:`.secretversions`), the changed
services in cluster-aware order with hand-overs (:func:`iklim.deploy.runner.run_deploy`; secret
rotations through :class:`iklim.deploy.rotation.SecretRotationHooks`), and the removal of unused
versions (:mod:`.cleanup`).

Exit codes (the contract in DEPLOY-COMMON): 0 deployed or nothing to do; 3 a pre-flight check
failed (nothing changed); 4 the deploy failed and the changed services were rolled back; 1 any
other error (including a refused ``--target prod``, and ``deployed-with-error``: every service
converged but a step after it, such as retiring a rotated Redis password, failed; nothing is
rolled back then).

JSON document (``--format json``, stdout; progress then goes to stderr)::

    {"schema": "iklim.deploy/v1", "target": "swarm-lab" | "prod", "outcome":
     "deployed" | "nothing-to-do" | "preflight-failed" | "rolled-back" | "deployed-with-error" | "aborted",
     "plan": <iklim.plan/v1 document>, "created": {"configs": [...], "networks": [...], "secrets": [...]},
     "applied": ["iklimco_etcd-2", ...], "rolled_back": ["iklimco_etcd-2"],
     "result": <the runner's report: clusters with leader before/after, leader changes, hand-over
     seconds and, with --measure, write outage, acknowledged and lost>,
     "error": "one line" | null, "cleanup": {"removed": [...], "kept": [...]},
     "seconds": {"plan": s, "apply": s, "total": s}}
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from iklim.model.paths import DEFAULT_ENV

EXIT_ERROR = 1


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_ERROR)


def prod_refusal(environ: dict[str, str]) -> str | None:
    """Why ``--target prod`` is refused before anything is contacted (None: go on to the manager check).

    A ``DOCKER_HOST`` into the Swarm lab's run folder is the lab, never production (the lab's
    manager has production's hostnames); the manager check itself (an active Swarm manager at
    ``DOCKER_HOST``) is :func:`iklim.plan.targets.prod_target`'s, as for ``iklim plan --target prod``.
    """
    from iklim.swarmlab import paths

    host = environ.get("DOCKER_HOST", "")
    if host.startswith("unix://") and Path(host.removeprefix("unix://")).resolve().is_relative_to(paths.RUN):
        return f"--target prod: DOCKER_HOST={host} is the Swarm lab; use --target swarm-lab"
    if environ.get("IKLIM_DRILL_SEAT_PID"):
        return "--target prod is refused inside the Swarm lab's drill seat"
    return None


def _seat_pid(env: Any) -> int:
    """Inside the drill seat: its pid. Outside: re-run this command line in the seat and exit with its code."""
    from iklim.drill.swarmseat import SeatError, check_seated, run_in_seat, seated_pid
    from iklim.swarmlab.nodes import api_ready, lab_nodes
    from iklim.swarmlab.swarm import engine, first_manager

    manager = first_manager(lab_nodes(env))
    pid = seated_pid()
    if pid is None:
        if not api_ready(manager):
            _fail("the Swarm lab is not up: iklim swarm-lab up")
        try:
            with engine(manager) as client:
                code = run_in_seat(client, env, [sys.executable, "-m", "iklim", *sys.argv[1:]])
                if code == 0 and "--no-settle" not in sys.argv[1:]:
                    _clean_up_after_the_seat(client, env)
        except SeatError as exc:
            _fail(str(exc))
        sys.exit(code)
    try:
        check_seated(pid, manager.hostname)
    except SeatError as exc:
        _fail(str(exc))
    return pid


def _clean_up_after_the_seat(client: Any, env: Any) -> None:
    """The clean-up again, once the drill seat is closed: the seat mounts the secret versions in
    effect when it opened, so after a rotation the version the services just left stays in use by
    the seat until then (found on the Swarm lab: a rotated-back Redis password's version was kept).
    One progress line per object removed, on stderr; a failure is one line and changes no exit code."""
    from iklim.deploy.cleanup import remove_unused

    try:
        cleaned = remove_unused(client, {env.stacks.infra, env.stacks.vault})
    except Exception as exc:  # noqa: BLE001 - the deploy itself succeeded: report, do not fail it
        click.echo(f"warning: clean-up after the seat closed: {str(exc).splitlines()[0]}", err=True)
        return
    for name in cleaned.removed:
        click.echo(f"removed unused {name} (the drill seat held it until it closed)", err=True)


@click.command("deploy")
@click.option(
    "--target", type=click.Choice(["swarm-lab", "prod"]), default="swarm-lab", show_default=True,
    help="swarm-lab: from the drill seat on the lab's overlay. prod: DOCKER_HOST, run ON a production manager.",
)  # fmt: skip
@click.option("--tree", default=None, help="The rendered tree to deploy [default: the repository root].")
@click.option("--secrets-dir", type=click.Path(file_okay=False), default=None, help="New secret values to rotate in.")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
    help="Output format; the JSON schema is iklim.deploy/v1 (progress goes to stderr).",
)  # fmt: skip
@click.option("--measure", is_flag=True, help="Run the drill workloads and print each cluster's write outage.")
@click.option(
    "--no-settle",
    is_flag=True,
    help="Return once every changed service runs healthy; do not wait out Swarm's monitor windows "
    "(Swarm's failure_action still applies).",
)
@click.option(
    "--allow-degraded", "degraded", multiple=True, metavar="CLUSTER",
    help="Let the deploy run although CLUSTER is unhealthy (to heal what a failed change left); repeatable.",
)  # fmt: skip
@click.option("--yes", is_flag=True, help="Do not ask for confirmation after the plan.")
@click.option("--env", "env_path", default=DEFAULT_ENV, show_default=True, help="The environment model.")
def deploy_command(
    target: str, tree: str | None, secrets_dir: str | None, fmt: str, measure: bool, no_settle: bool,
    degraded: tuple[str, ...], yes: bool, env_path: str,
) -> None:  # fmt: skip
    """Apply the rendered stacks to a running Swarm in cluster-aware order, waiting for convergence.

    Computes the plan (`iklim plan`), runs the pre-flight checks plus clusters-healthy and refuses
    (exit 3, nothing changed) when one fails, prints the plan and asks for confirmation. Then
    creates the missing configs and secret versions and applies the changed services through the
    Engine API: stateful clusters first (etcd, Patroni, MongoDB, Redis and its Sentinels,
    RabbitMQ, Vault), followers one at a time, then a verified hand-over (etcd move-leader,
    Patroni switchover, Sentinel failover, RabbitMQ drain, Vault's SIGTERM), then the former
    leader; then the stateless services. Each member must run healthy (Engine events) and its
    cluster be healthy before the next. On the first failure the applied services are rolled back
    in the same order. Then Swarm's monitor windows are waited out (unless --no-settle), and the
    config and secret versions no service uses any more are removed.

    \b
    Exit: 0 deployed (or nothing to do), 3 a pre-flight check failed, 4 failed and rolled back,
    1 an error (also: deployed, but a step after the roll failed; nothing rolled back then).
    Examples:
      iklim deploy                                # the Swarm lab: plan, confirm, apply
      iklim deploy --yes --format json | jq .applied
      iklim deploy --tree /tmp/changed-tree --yes --measure   # outage per cluster, writes lost
      iklim deploy --secrets-dir /root/rotate --yes   # rotate the secrets with a file there
      iklim deploy --yes --allow-degraded etcd    # heal what a failed change left degraded
      DOCKER_HOST=unix:///var/run/docker.sock iklim deploy --target prod   # on a production manager
    """
    from iklim.model.commands import load_or_exit

    try:
        env = load_or_exit(env_path)
    except SystemExit as exc:
        sys.exit(EXIT_ERROR if exc.code == 2 else exc.code)
    from iklim.model.catalogue import BY_KEY
    from iklim.plan.commands import tree_root
    from iklim.plan.run import PlanError, desired_from_tree

    clusters = [key for key, entry in BY_KEY.items() if entry.stateful]  # the components clusters-healthy judges
    unknown = sorted(set(degraded) - set(clusters))
    if unknown:
        _fail(f"--allow-degraded {', '.join(unknown)}: not a cluster (one of {', '.join(clusters)})")
    from iklim.plan.preflight import stale_config_names

    try:  # a bad tree is said before any engine or seat is touched
        stale = stale_config_names(desired_from_tree(env, tree_root(env_path, tree), target == "swarm-lab"))
    except PlanError as exc:
        _fail(str(exc))
    if stale:
        _fail(f"the rendered tree: {stale[0]}{f' (and {len(stale) - 1} more)' if len(stale) > 1 else ''}: iklim render")
    if target == "prod":
        why = prod_refusal(dict(os.environ))
        if why is not None:
            _fail(why)
        pid = None
    else:
        pid = _seat_pid(env)
    from iklim.deploy.steps import run_deploy_command

    code = run_deploy_command(
        env, tree_root(env_path, tree), target, secrets_dir, fmt, yes, pid, measure, not no_settle, tuple(degraded)
    )
    sys.exit(code)
