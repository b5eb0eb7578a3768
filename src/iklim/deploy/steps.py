"""The steps of one ``iklim deploy`` run, after the CLI has chosen the target (and entered the seat).

:func:`run_deploy_command` returns the exit code (see :mod:`.commands`). On the Swarm lab it
runs in the drill seat's network namespace (its pid given): the node engines are reached by their
sockets, the clusters' ``iklim status`` probes by production's addressing on the overlay
(:class:`~iklim.drill.swarmseat.SeatContext`). On production (run ON a manager) the manager's
engine at ``DOCKER_HOST`` is the only one read; ``clusters-healthy`` is then left to
``iklim status --target prod`` (a warning, not a verdict).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import docker

from iklim.deploy.api import DeployError
from iklim.model.schema import Environment
from iklim.plan.preflight import Check, check_clusters

SCHEMA = "iklim.deploy/v1"
EXIT_OK, EXIT_ERROR, EXIT_PREFLIGHT, EXIT_ROLLED_BACK = 0, 1, 3, 4
#: Seconds the status probes of ``clusters-healthy`` may take (the pre-flight budget is 2 s).
CLUSTERS_TIMEOUT_S = 1.5


def emit(fmt: str, document: dict[str, Any], lines: list[str]) -> None:
    """The final output: the JSON document, or the text lines."""
    click.echo(json.dumps(document, indent=2) if fmt == "json" else "\n".join(lines))


def _aborted(fmt: str, document: dict[str, Any], error: str) -> int:
    """Nothing changed: the error on stderr (one line) and, with ``--format json``, the document
    (outcome ``aborted``) on stdout, so a script always gets one; returns the exit code 1."""
    click.echo(f"error: {error}", err=True)
    document["outcome"], document["error"] = "aborted", error
    if fmt == "json":
        click.echo(json.dumps(document, indent=2))
    return EXIT_ERROR


def progress_for(fmt: str) -> Callable[[str], None]:
    """One progress line, timestamped: stdout for text, stderr for JSON."""
    began = time.monotonic()

    def say(line: str) -> None:
        click.echo(f"[{time.monotonic() - began:6.1f}s] {line}", err=fmt == "json")

    return say


def stateful_running(env: Environment, desired: Any) -> set[str]:
    """The clusters to judge: stateful components (catalogue ``stateful``) with more than one
    member service that runs (replicas > 0) in ``desired``."""
    from iklim.model.catalogue import BY_KEY
    from iklim.plan.grace import service_components

    components = service_components(env)
    members: dict[str, int] = {}
    for name, spec in desired.services.items():
        key = components.get(name)
        entry = BY_KEY.get(key) if key else None
        if key and entry is not None and entry.stateful and (spec["mode"] != "replicated" or spec["replicas"]):
            members[key] = members.get(key, 0) + 1
    return {key for key, count in members.items() if count > 1}


def cluster_reports(env: Environment, seat_pid: int, clusters: set[str]) -> tuple[list[tuple[str, str, str]], float]:
    """``iklim status --target prod`` of ``clusters`` from the seat: (component, status, reason), the seconds."""
    from iklim.drill.swarmseat import SeatContext
    from iklim.status.planbuild import plan_of
    from iklim.status.runner import run_probes
    from iklim.status.transport import NetTransport

    began = time.monotonic()
    chosen = [c for c in plan_of(env, "prod").components if c.name in clusters]
    reports = run_probes(chosen, NetTransport(), SeatContext(env, seat_pid), CLUSTERS_TIMEOUT_S)
    return [(r.component, str(r.status), r.reason) for r in reports], time.monotonic() - began


def _plan(env: Environment, root: Path, target: str, secrets_dir: str | None) -> Any:
    """One :func:`iklim.plan.run.plan_run`: the plan, its checks, and the desired specs the applier
    applies (the same ones the plan compared, secret versions resolved against the live state)."""
    from iklim.plan.run import plan_run

    return plan_run(env, root, target, secrets_dir=Path(secrets_dir) if secrets_dir is not None else None)


def _clients(env: Environment, target: str) -> tuple[Any, dict[str, Any]]:
    """The manager's client and hostname -> node engine clients."""
    if target == "swarm-lab":
        from iklim.swarmlab.nodes import lab_nodes
        from iklim.swarmlab.swarm import first_manager

        nodes = lab_nodes(env)
        manager = docker.DockerClient(base_url=first_manager(nodes).docker_host, timeout=60)
        return manager, {n.hostname: docker.DockerClient(base_url=n.docker_host, timeout=60) for n in nodes}
    from iklim.status.overlay import manager_client

    manager = manager_client(dict(os.environ))
    return manager, {str(manager.info().get("Name", "")): manager}


def _roll_back_all(
    env: Environment,
    plan: Any,
    applier: Any,
    services: list[str],
    seams: Any,
    member_exec: Any,
    say: Callable[[str], None],
) -> tuple[list[str], list[str]]:
    """:func:`iklim.deploy.runner.roll_back` of ``services`` with each cluster's hand-over object
    (so a rolled-back Vault member is unsealed); a cluster without one is rolled back by name."""
    from iklim.deploy.handover import Handover, handover_for
    from iklim.deploy.order import deploy_order
    from iklim.deploy.runner import member_index, roll_back

    order = deploy_order(env, plan)
    handovers: dict[str, Handover] = {}
    for cluster in order.clusters:
        try:
            handovers[cluster.cluster] = handover_for(cluster.cluster, seams.get(cluster.cluster), member_exec)
        except DeployError:
            continue
    return roll_back(applier, services, member_index(order), handovers, say)


def _seat_parts(env: Environment, seat_pid: int | None) -> tuple[dict[str, Any], Any, Any]:
    """(cluster seams, member exec, context) from the drill seat; none outside it (``--target prod``
    from a manager: a stateful cluster's change is then refused by the runner, never restarted blind)."""
    if seat_pid is None:
        return {}, None, None
    from iklim.deploy.seatseams import engine_exec, seat_seams
    from iklim.drill.swarmseat import SeatContext
    from iklim.swarmlab import paths
    from iklim.swarmlab.nodes import lab_nodes
    from iklim.swarmlab.swarm import first_manager

    ctx = SeatContext(env, seat_pid)
    manager = first_manager(lab_nodes(env)).hostname
    return dict(seat_seams(ctx, paths.VAULT_KEYS_FILE)), engine_exec(env, manager, ctx), ctx


def allow_degraded(check: Check, clusters: tuple[str, ...]) -> Check:
    """``check`` (``clusters-healthy``) as a warning when every unhealthy component is one of
    ``clusters`` (the operator's ``--allow-degraded``: the deploy that heals a cluster a failed
    change left degraded must not be refused by that degradation); else ``check`` unchanged."""
    if check.verdict != "fail" or not clusters:
        return check
    offenders = {detail.split(":", 1)[0] for detail in check.details}
    if not offenders or not offenders <= set(clusters):
        return check
    allowed = ", ".join(sorted(offenders))
    return Check(check.name, "warn", f"{check.message}; allowed degraded: {allowed}", check.details)


def run_deploy_command(
    env: Environment, root: Path, target: str, secrets_dir: str | None, fmt: str, yes: bool, seat_pid: int | None,
    measure: bool = False, settle: bool = True, degraded: tuple[str, ...] = (),
) -> int:  # fmt: skip
    """Plan, pre-flight, confirm, create objects, apply, clean up; the exit code."""
    from iklim.plan.output import as_document, as_text
    from iklim.plan.run import PlanError, unset_warnings

    say = progress_for(fmt)
    began = time.monotonic()
    document: dict[str, Any] = {
        "schema": SCHEMA, "target": target, "outcome": "aborted", "plan": None,
        "created": {"configs": [], "networks": []}, "applied": [], "rolled_back": [], "error": None,
        "cleanup": {"removed": [], "kept": []}, "seconds": {},
    }  # fmt: skip
    lines: list[str] = []
    try:
        run = _plan(env, root, target, secrets_dir)
        plan, checks, desired, seconds = run.plan, run.checks, run.desired, run.seconds
    except (PlanError, DeployError) as exc:
        return _aborted(fmt, document, str(exc))
    for line in unset_warnings(env, desired):
        click.echo(f"warning: {line}", err=True)
    if run.rotations and not settle:
        return _aborted(
            fmt, document, "--no-settle with a secret rotation: the old value is retired only after Swarm's monitor "
            "windows (a service Swarm rolls back in its window would get a retired value); drop one of them",
        )  # fmt: skip
    if seat_pid is not None:
        reports, took = cluster_reports(env, seat_pid, stateful_running(env, desired))
        checks.append(allow_degraded(check_clusters(reports, took), degraded))
        seconds["preflight"] = seconds.get("preflight", 0.0) + took
    else:
        checks.append(check_clusters(None))
    document["plan"] = as_document(target, plan, checks, seconds)
    document["seconds"]["plan"] = round(time.monotonic() - began, 3)
    lines.append(as_text(target, plan, checks, seconds))
    if fmt == "text":
        click.echo(lines.pop())
    if any(c.verdict == "fail" for c in checks):
        document["outcome"] = "preflight-failed"
        document["error"] = "; ".join(f"{c.name}: {c.message}" for c in checks if c.verdict == "fail")
        lines.append(f"pre-flight failed: {document['error']}; nothing changed")
        emit(fmt, document, lines)
        return EXIT_PREFLIGHT
    if not plan.empty and not yes:
        if not sys.stdin.isatty():
            return _aborted(fmt, document, "not confirmed: pass --yes to deploy without a terminal")
        if not click.confirm(f"deploy {len(plan.changed)} service change(s) to {target}?", default=False):
            return _aborted(fmt, document, "not confirmed; nothing changed")
    code = _apply(env, root, target, run, document, lines, say, seat_pid, measure, settle)
    document["seconds"]["total"] = round(time.monotonic() - began, 3)
    lines.append(f"seconds: plan {document['seconds']['plan']:.1f}, total {document['seconds']['total']:.1f}")
    emit(fmt, document, lines)
    return code


def _apply(
    env: Environment, root: Path, target: str, run: Any, document: dict[str, Any], lines: list[str], say: Any,
    seat_pid: int | None, measure: bool, settle: bool = True,
) -> int:  # fmt: skip
    from iklim.deploy.api import Hooks
    from iklim.deploy.apply import EngineApplier
    from iklim.deploy.cleanup import remove_unused
    from iklim.deploy.objects import config_sources, create_objects
    from iklim.deploy.report import render_text
    from iklim.deploy.runner import run_deploy
    from iklim.deploy.secretversions import create_versions
    from iklim.plan.targets import lab_overrides, stack_documents

    plan, desired = run.plan, run.desired
    try:
        manager, nodes = _clients(env, target)
    except Exception as exc:  # noqa: BLE001 - one line for any engine that cannot be reached
        click.echo(f"error: {target}: {str(exc).splitlines()[0]}", err=True)
        return EXIT_ERROR
    try:
        began = time.monotonic()
        seams, member_exec, ctx = _seat_parts(env, seat_pid)
        hooks: Hooks = Hooks()
        if run.rotations:
            from iklim.deploy.rotation import SecretRotationHooks

            if ctx is None:
                raise DeployError("secret rotation needs the clusters' APIs: run it where the drill seat runs")
            hooks = SecretRotationHooks(env, ctx, run.rotations, say)
        documents = stack_documents(root, env)
        overrides = lab_overrides(documents) if target == "swarm-lab" else None
        created = create_objects(
            manager, plan, config_sources(root, documents, os.environ, overrides), desired.configs, say
        )
        document["created"] = {
            "configs": created.configs, "networks": created.networks, "secrets": create_versions(manager, run.rotations)
        }  # fmt: skip
        applier = EngineApplier(manager, desired, plan, nodes, say)
        result = run_deploy(env, plan, applier, hooks, seams, say, measure, member_exec=member_exec)
        if result.error is None and settle:
            try:
                say("waiting for Swarm's monitor windows of the applied services to pass")
                applier.settle(result.applied)
            except DeployError as exc:
                result.error = f"after the roll: {exc}"
                say(f"failed: {exc}; rolling back {len(result.applied)} service(s) in the same order")
                result.rollback_errors.extend(hooks.undo())
                rolled, errors = _roll_back_all(env, plan, applier, result.applied, seams, member_exec, say)
                result.rolled_back.extend(rolled)
                result.rollback_errors.extend(errors)
        document["applied"] = list(result.applied)
        document["rolled_back"] = list(result.rolled_back)
        document["result"] = result.as_dict()
        document["seconds"]["apply"] = round(time.monotonic() - began, 3)
        lines.append(render_text(result).rstrip("\n"))
        if result.error is not None:
            document["outcome"], document["error"] = "rolled-back", result.error
            lines.append(f"deploy failed: {result.error}; rolled back: {', '.join(result.rolled_back) or 'none'}")
            return EXIT_ROLLED_BACK
        try:
            hooks.after_deploy()
        except DeployError as exc:  # past the point of no rollback: the new specs stay
            document["outcome"], document["error"] = "deployed-with-error", f"after the deploy: {exc}"
            lines.append(f"deployed, but {document['error']}; nothing rolled back: rerun iklim deploy")
            return EXIT_ERROR
        stacks = set(desired.stacks.values())
        if not settle:  # Swarm may still roll a service back onto a version the clean-up would remove
            say("clean-up skipped (--no-settle): the next deploy removes the unused versions")
            document["outcome"] = "deployed" if result.applied or created.configs else "nothing-to-do"
            lines.append(f"{document['outcome']}: {len(result.applied)} service(s) applied; clean-up skipped")
            return EXIT_OK
        cleaned = remove_unused(manager, stacks)
        document["cleanup"] = {"removed": cleaned.removed, "kept": cleaned.kept}
        for name in cleaned.removed:
            say(f"removed unused {name}")
        document["outcome"] = "deployed" if result.applied or created.configs else "nothing-to-do"
        lines.append(f"{document['outcome']}: {len(result.applied)} service(s) applied")
        lines.append(f"{len(cleaned.removed)} unused version(s) removed")
        return EXIT_OK
    except DeployError as exc:
        document["error"] = str(exc)
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR
    except (OSError, ValueError, docker.errors.DockerException) as exc:
        document["error"] = str(exc).splitlines()[0]
        click.echo(f"error: {document['error']}", err=True)
        return EXIT_ERROR
    finally:
        for client in {id(c): c for c in [manager, *nodes.values()]}.values():
            client.close()
