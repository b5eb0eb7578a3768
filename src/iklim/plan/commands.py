"""``iklim plan``: the CLI. Only click is imported at load; everything else when it runs."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import NoReturn

import click

from iklim.model.paths import DEFAULT_ENV, find_upward

#: Exit codes: nothing to change; an error (no engine, bad tree); changes planned; a pre-flight check failed.
EXIT_EMPTY, EXIT_ERROR, EXIT_CHANGES, EXIT_PREFLIGHT = 0, 1, 2, 3


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_ERROR)


def tree_root(env_path: str, tree: str | None) -> Path:
    """The rendered tree: ``tree`` when given, else the folder holding ``init-infra-prod.sh`` at or
    above the model ``env_path`` (exits 1 with one line when there is none). Shared by ``plan`` and ``deploy``."""
    if tree:
        return Path(tree)
    found = find_upward([os.path.dirname(os.path.abspath(env_path))], "init-infra-prod.sh")
    if found is None:
        _fail(f"no rendered tree at or above {env_path}: run from the repository or pass --tree")
    return Path(found).parent


@click.command("plan")
@click.option(
    "--target",
    type=click.Choice(["swarm-lab", "prod"]),
    default="swarm-lab",
    show_default=True,
    help="swarm-lab: the lab's manager socket. prod: DOCKER_HOST (run it ON a production manager).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
    help="Output format; the JSON schema is iklim.plan/v1.",
)  # fmt: skip
@click.option("--env", "env_path", default=DEFAULT_ENV, show_default=True, help="The environment model.")
@click.option("--tree", default=None, help="The rendered tree to plan [default: the repository root].")
@click.option("--static", is_flag=True, help="Only the pre-flight checks that need no engine, on the tree alone.")
@click.option(
    "--secrets-dir", "secrets_dir", default=None, type=click.Path(file_okay=False, path_type=Path),
    help="New secret values, one file named after each secret to rotate (as the runbook's SECRETS_DIR); "
    "the services that mount one move to its content-hashed version <name>_<sha256[:10]>.",
)  # fmt: skip
def plan_command(
    target: str, fmt: str, env_path: str, tree: str | None, static: bool, secrets_dir: Path | None
) -> None:
    """What `docker stack deploy` of the rendered stacks would change, service by service, and pre-flight.

    Reads the live services, configs, secrets, networks and nodes through the Engine API of the
    target's manager and compares each service field by field with the spec the stack file
    would create. Each service is unchanged, metadata-only (labels, update policy, replicas),
    rolling-restart (image, env, command, configs, secrets, placement, ports, resources,
    healthcheck...: Swarm replaces its tasks) or recreate (a mode change the Engine refuses in
    place); create and remove for services only in the tree or only live. Then the pre-flight
    checks, each pass/warn/fail with one line. Nothing is changed.

    Secrets are immutable objects named by content hash: with --secrets-dir, each file (named
    after a secret, holding its new value) makes the services that mount that secret a rolling
    restart onto <name>_<sha256(value)[:10]> (listed under secrets as "create"); without it,
    every service keeps the version it mounts. Put only the secrets to rotate in the folder: the
    Engine never returns a secret's value, so any file there is a rotation. No value is printed.

    \b
    Exit: 0 nothing to change, 2 changes planned, 3 a pre-flight check failed, 1 an error.
    Examples:
      iklim plan                                  # the Swarm lab (iklim swarm-lab up first)
      iklim plan --format json | jq '.services[] | select(.action != "unchanged")'
      iklim plan --static                         # pre-flight of the rendered tree, no engine
      iklim plan --tree /tmp/changed-tree         # a copy of the tree with an edit
      iklim plan --secrets-dir /root/rotate       # /root/rotate/redis_password holds the new value
      DOCKER_HOST=unix:///var/run/docker.sock iklim plan --target prod   # on a production manager
    """
    from iklim.model.commands import load_or_exit
    from iklim.plan.run import PlanError, plan_run, static_run, unset_warnings

    try:
        env = load_or_exit(env_path)
    except SystemExit as exc:  # a bad model is an error here (1): plan's 2 means "changes planned"
        sys.exit(EXIT_ERROR if exc.code == 2 else exc.code)
    if static and secrets_dir is not None:
        _fail("--secrets-dir needs the live state (the versions the services mount): not with --static")
    root = tree_root(env_path, tree)
    try:
        began = time.monotonic()
        if static:
            desired, checks = static_run(env, root)
            seconds = {"preflight": time.monotonic() - began}
            plan, shown = None, "static"
        else:
            done = plan_run(env, root, target, secrets_dir=secrets_dir)
            desired, plan, checks, seconds, shown = done.desired, done.plan, done.checks, done.seconds, target
    except PlanError as exc:
        _fail(str(exc))
    for line in unset_warnings(env, desired):
        click.echo(f"warning: {line}", err=True)
    from iklim.plan.output import as_json, as_text

    click.echo((as_json if fmt == "json" else as_text)(shown, plan, checks, seconds))
    if any(c.verdict == "fail" for c in checks):
        sys.exit(EXIT_PREFLIGHT)
    sys.exit(EXIT_CHANGES if plan is not None and not plan.empty else EXIT_EMPTY)
