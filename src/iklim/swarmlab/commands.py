"""``iklim swarm-lab``: the rendered stacks and the real runbook on a 6-node Docker Swarm on this machine."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import click

from iklim.model.paths import DEFAULT_ENV, find_upward

_env = click.option("--env", "env_path", default=DEFAULT_ENV, show_default=True, help="The environment model.")


def _progress(line: str) -> None:
    click.echo(f"[{time.strftime('%H:%M:%S')}] {line}", err=True)


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _nodes(env_path: str) -> list[Any]:
    from iklim.model.commands import load_or_exit
    from iklim.swarmlab.nodes import lab_nodes

    return lab_nodes(load_or_exit(env_path))


def _repo(env_path: str) -> Path:
    """The repository root: the folder holding ``init-infra-prod.sh`` at or above the model's folder."""
    found = find_upward([os.path.dirname(os.path.abspath(env_path))], "init-infra-prod.sh")
    if found is None:
        _fail(f"no init-infra-prod.sh at or above {env_path}: run from the repository")
    return Path(found).parent


@click.group("swarm-lab")
def swarm_lab_command() -> None:
    """The rendered stacks, deployed by the real runbook, on a real 6-node Docker Swarm on this machine.

    \b
    Each model node is a dockerd in its own network, UTS and mount namespace on a lab bridge, with
    the model's hostname and private address (3 managers iklim-app-01..03, 3 workers
    iklim-db-01..03). State: /var/lib/iklim-swarmlab; nothing in the repository changes.
    Examples:
      iklim swarm-lab up                        # images, nodes, Swarm, runbook, wait for healthy
      iklim swarm-lab status --format json      # nodes, services, images (pinned vs real)
      iklim swarm-lab logs iklimco_etcd-1       # a service's task logs
      iklim swarm-lab shell iklim-db-01 -- docker ps
      iklim swarm-lab probe-network             # packets vs the model: firewall, DOCKER-USER, overlay
      iklim swarm-lab down --wipe               # remove everything; delete state, keep image cache
    """


@swarm_lab_command.command("up")
@_env
@click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait for every service to be healthy.")
@click.option("--no-runbook", is_flag=True, help="Stop after the nodes, the Swarm and the image copies.")
def up_command(env_path: str, timeout: float, no_runbook: bool) -> None:
    """Bring the lab up (idempotent: running nodes and the Swarm are reused) and run the runbook.

    \b
    Steps: install check, stand-in images, nodes + Swarm, image copies to the nodes their
    constraints allow, the real init-infra-prod.sh from iklim-app-01's namespace (shims first on
    PATH), then wait until every available service has its tasks running and healthy. On failure:
    each failing service with its last task error and log tail, exit 1.
    Example:
      iklim swarm-lab up && iklim swarm-lab status
    """
    from iklim.model.commands import load_or_exit
    from iklim.swarmlab.lifecycle import up
    from iklim.swarmlab.nodes import LabError, api_ready
    from iklim.swarmlab.services import log_tail, service_states
    from iklim.swarmlab.swarm import engine, first_manager

    nodes = _nodes(env_path)
    model = load_or_exit(env_path)
    tool_ref = model.tooling.image
    failure = ""
    try:
        bad = up(nodes, _repo(env_path), _progress, timeout, runbook=not no_runbook, tool_ref=tool_ref, env=model)
    except LabError as exc:
        failure = str(exc)
        bad = []
        if api_ready(first_manager(nodes)):  # the runbook stopped: say which services are not healthy
            with engine(first_manager(nodes)) as client:
                bad = [s for s in service_states(client) if not s.ok and not s.ended]
    if bad:
        with engine(first_manager(nodes)) as client:
            for state in bad:
                click.echo(f"error: {state.name}: {state.running}/{state.desired} running; {state.error}", err=True)
                click.echo(f"--- last log lines of {state.name} ---\n{log_tail(client, state.name, 10)}", err=True)
    if failure:
        _fail(failure)
    if bad:
        sys.exit(1)


@swarm_lab_command.command("down")
@_env
@click.option("--wipe", is_flag=True, help="Also delete the state (data roots, secrets, Vault keys, logs), not images.")
def down_command(env_path: str, wipe: bool) -> None:
    """Remove every namespace, link, engine, mount and cgroup the lab made; exit 1 if anything is left.

    \b
    Example:
      iklim swarm-lab down --wipe
    """
    from iklim.swarmlab.nodes import LabError
    from iklim.swarmlab.teardown import down

    try:
        left = down(_nodes(env_path), _progress, wipe=wipe)
    except LabError as exc:
        _fail(str(exc))
    if left:
        _fail(f"left behind: {'; '.join(left)}")
    _progress("swarm-lab down: nothing left")


@swarm_lab_command.command("status")
@_env
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def status_command(env_path: str, fmt: str) -> None:
    """Nodes, services (running/desired, healthy) and images (pinned reference beside the real contents).

    \b
    Example:
      iklim swarm-lab status --format json | jq '.services[] | select(.healthy | not)'
    """
    from iklim.swarmlab import images
    from iklim.swarmlab.override import stack_documents
    from iklim.swarmlab.standins import stack_images
    from iklim.swarmlab.status import image_rows, node_rows, render_text, service_rows

    nodes = _nodes(env_path)
    report_nodes = node_rows(nodes)
    if all(row["state"] == "down" for row in report_nodes):
        _fail("the Swarm lab is not up: iklim swarm-lab up")
    refs: dict[str, None] = {}
    for document in stack_documents(_repo(env_path)).values():
        refs.update(dict.fromkeys(stack_images(document)))
    report = {
        "nodes": report_nodes,
        "services": service_rows(nodes),
        "images": image_rows(nodes, list(refs), images.real_versions),
    }
    click.echo(json.dumps(report, indent=2) if fmt == "json" else render_text(report))


@swarm_lab_command.command("logs")
@_env
@click.argument("service")
@click.option("--tail", default=100, show_default=True, help="Lines per service.")
def logs_command(env_path: str, service: str, tail: int) -> None:
    """Print a service's task logs, through the manager (e.g. iklimco_etcd-1, vault_vault-1, or
    the stack file's name when it is unique: etcd-1).

    \b
    Example:
      iklim swarm-lab logs iklimco_patroni-1 --tail 50
      iklim swarm-lab logs redis-sentinel-2
    """
    from iklim.model.commands import load_or_exit
    from iklim.render.stacks import STACK_FILES
    from iklim.swarmlab.nodes import api_ready
    from iklim.swarmlab.override import stack_documents
    from iklim.swarmlab.services import log_tail
    from iklim.swarmlab.swarm import engine, first_manager

    # The name first, from the rendered stacks (as `shell` checks its node before the lab).
    env = load_or_exit(env_path)
    stacks = {"infra": env.stacks.infra, "vault": env.stacks.vault}
    documents = stack_documents(_repo(env_path))
    known = sorted(
        f"{stacks[kind]}_{name}" for kind, file in STACK_FILES.items() for name in documents[file]["services"]
    )
    short = [name for name in known if name.split("_", 1)[1] == service]
    if service not in known and len(short) == 1:  # the compose name, as in the stack file
        service = short[0]
    if service not in known:
        _fail(f"no service {service!r} in the rendered stacks: one of {', '.join(known)}")
    manager = first_manager(_nodes(env_path))
    if not api_ready(manager):
        _fail("the Swarm lab is not up: iklim swarm-lab up")
    with engine(manager) as client:
        names = {s.name for s in client.services.list()}
        if service not in names:
            _fail(f"no service {service!r}: one of {', '.join(sorted(names))}")
        click.echo(log_tail(client, service, tail))


@swarm_lab_command.command("shell", context_settings={"ignore_unknown_options": True})
@_env
@click.argument("node")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def shell_command(env_path: str, node: str, command: tuple[str, ...]) -> None:
    """Run a shell (or COMMAND) in NODE's network, UTS and mount namespaces with DOCKER_HOST set to its engine.

    PKI_DIR and VAULT_CACERT default to the lab's CA (the runbook's), as on an operator's login.

    \b
    NODE: a hostname (iklim-db-01) or a private address (10.0.2.11).
    Examples:
      iklim swarm-lab shell iklim-app-01                  # interactive shell "on" the node
      iklim swarm-lab shell iklim-db-01 -- docker ps      # one command
      iklim swarm-lab shell iklim-app-01 -- iklim status --target prod --on-overlay
    """
    from iklim.swarmlab.nodes import LabError, dockerd_pid, node_by_name
    from iklim.swarmlab.runbook import operator_environment

    try:
        target = node_by_name(_nodes(env_path), node)
    except LabError as exc:
        _fail(str(exc))
    pid = dockerd_pid(target)
    if pid is None:
        _fail(f"{target.hostname} is not running: iklim swarm-lab up")
    argv = list(command) or [os.environ.get("SHELL", "/bin/bash")]
    env = {**operator_environment(), **os.environ, "DOCKER_HOST": target.docker_host}
    os.execvpe("nsenter", ["nsenter", f"--target={pid}", "--net", "--uts", "--mount", "--", *argv], env)


@swarm_lab_command.command("probe-network")
@_env
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--firewall",
    "firewall_tf",
    type=click.Path(dir_okay=False),
    default=None,
    help="The firewall .tf to apply to the nodes' public interfaces [default: the rendered "
    "terraform/hetzner/prod/firewall.tf].",
)
@click.option("--timeout", default=1.0, show_default=True, help="Seconds per TCP connection attempt.")
def probe_network_command(env_path: str, fmt: str, firewall_tf: str | None, timeout: float) -> None:
    """Try every model port from every source and print reachable vs expected; exit 1 on a difference.

    \b
    Sources: internet, operator (inside the admin CIDR), private-other (private network, outside
    both subnets), each node, a container on the overlay and one on another overlay. Targets:
    each node's public (203.0.113.0/24) and private address, the overlay service names of Redis,
    Sentinel, RabbitMQ and Vault. The rendered Hetzner firewall is applied (again) to each node's
    public interface first; the expectation is derived from the model, not from the firewall.
    Examples:
      iklim swarm-lab probe-network
      iklim swarm-lab probe-network --format json | jq '.differences'
      iklim swarm-lab probe-network --firewall /tmp/mutated/firewall.tf   # a mutated copy
    """
    from iklim.model.commands import load_or_exit
    from iklim.swarmlab.hcloud_fw import FirewallError
    from iklim.swarmlab.netmatrix import lab_gaps
    from iklim.swarmlab.nodes import LabError
    from iklim.swarmlab.probe import probe
    from iklim.swarmlab.probe_report import as_json, as_text, differences
    from iklim.swarmlab.public import FIREWALL_TF

    env = load_or_exit(env_path)
    path = Path(firewall_tf) if firewall_tf else _repo(env_path) / FIREWALL_TF
    if timeout <= 0:
        _fail(f"--timeout {timeout}: must be > 0 seconds")
    try:
        cells, times = probe(env, _nodes(env_path), path, timeout, _progress)
    except (LabError, FirewallError) as exc:
        _fail(str(exc))
    render = as_json if fmt == "json" else as_text
    click.echo(render(cells, timeout, times, lab_gaps(env)))
    if differences(cells):
        sys.exit(1)
