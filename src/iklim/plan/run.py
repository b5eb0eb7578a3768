"""One plan run: read the tree and the target, compare, run the pre-flight checks, time each part."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from iklim.model.schema import Environment
from iklim.plan.compose import Desired, config_hashes, desired_state
from iklim.plan.diff import Plan, plan
from iklim.plan.grace import minimum, service_components
from iklim.plan.interpolate import ComposeError
from iklim.plan.live import Snapshot
from iklim.plan.preflight import Check, live_checks, model_nodes, static_checks
from iklim.plan.secretnames import SecretRotation, SecretVersionError, resolve_secret_versions, secret_states
from iklim.plan.targets import TargetError, lab_overrides, prod_target, stack_documents, swarm_lab_target


class PlanError(RuntimeError):
    """The tree or the target cannot be read; one line."""


def desired_from_tree(
    env: Environment,
    root: Path,
    lab: bool,
    *,
    secrets_dir: Path | None = None,
    snapshot: Snapshot | None = None,
) -> Desired:
    """The rendered stacks under ``root`` as :class:`Desired` (with the Swarm lab override when ``lab``).

    ``secrets_dir``: new secret values, one file per base secret (:mod:`iklim.plan.secretnames`):
    those references become content-hashed names. ``snapshot``: the live state; every other
    reference keeps the version the live service mounts. With neither, the references are the
    stacks' base names. Raises PlanError (a value file's error names the file, never the value).
    """
    return desired_and_rotations(env, root, lab, secrets_dir=secrets_dir, snapshot=snapshot)[0]


def desired_and_rotations(
    env: Environment,
    root: Path,
    lab: bool,
    *,
    secrets_dir: Path | None = None,
    snapshot: Snapshot | None = None,
) -> tuple[Desired, list[SecretRotation]]:
    """:func:`desired_from_tree` and the secret rotations the value files in ``secrets_dir`` imply."""
    return resolve_versions(_parse_tree(env, root, lab), secrets_dir=secrets_dir, snapshot=snapshot)


def _parse_tree(env: Environment, root: Path, lab: bool) -> Desired:
    """The rendered stacks under ``root`` with their base secret names. Raises PlanError, one line
    (a field of an unexpected shape deep in a stack file is reported by its Python error's type
    and text rather than as a traceback)."""
    try:
        documents = stack_documents(root, env)
        hashes = config_hashes(root, documents)
        overrides = lab_overrides(documents) if lab else None
        return desired_state(documents, hashes, os.environ, overrides)
    except (OSError, ValueError, yaml.YAMLError, ComposeError) as exc:
        raise PlanError(f"the rendered tree {root}: {_one_line(str(exc))}") from None
    except (KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
        raise PlanError(f"the rendered tree {root}: a field of an unexpected shape ({type(exc).__name__}: "
                        f"{_one_line(str(exc))})") from None  # fmt: skip


def _one_line(text: str) -> str:
    return " ".join(text.split("\n"))


def resolve_versions(
    desired: Desired, *, secrets_dir: Path | None = None, snapshot: Snapshot | None = None
) -> tuple[Desired, list[SecretRotation]]:
    """A copy of a parsed ``desired`` with its secret references resolved against ``secrets_dir``
    and ``snapshot`` (:func:`iklim.plan.secretnames.resolve_secret_versions`), and the rotations;
    ``desired`` itself when there are neither. Raises PlanError."""
    if secrets_dir is None and snapshot is None:
        return desired, []
    try:
        return resolve_secret_versions(desired, snapshot, secrets_dir)
    except SecretVersionError as exc:
        raise PlanError(str(exc)) from None


def unset_warnings(env: Environment, desired: Desired) -> list[str]:
    """One line per variable a stack file references that is not set in this environment
    (``<stack file>: variable X is not set: ...``, from ``desired.unset``); [] when none."""
    from iklim.plan.interpolate import UNSET_WARNING
    from iklim.render.stacks import STACK_FILES

    files = {env.stacks.infra: STACK_FILES["infra"], env.stacks.vault: STACK_FILES["vault"]}
    return [
        f"{files.get(stack, stack)}: {UNSET_WARNING.format(name=name)}"
        for stack, names in sorted(desired.unset.items())
        for name in names
    ]


def static_run(env: Environment, root: Path) -> tuple[Desired, list[Check]]:
    """(the tree's :class:`Desired`, its static pre-flight checks against the model's nodes). Raises PlanError."""
    desired = desired_from_tree(env, root, lab=False)
    try:
        checks = static_checks(desired, model_nodes(env), service_components(env), lambda c, s: minimum(env, c, s))
    except ValueError as exc:  # a value the checks cannot read (e.g. a duration that is not Go syntax)
        raise PlanError(f"the rendered tree {root}: {exc}") from None
    return desired, checks


@dataclass
class PlanRun:
    """Everything one plan run read and decided: ``desired`` (the specs a deploy applies, secret
    versions resolved against the live state), the secret ``rotations``, the ``plan``, the
    pre-flight ``checks`` and the ``seconds`` of each part (see :func:`plan_run`)."""

    desired: Desired
    rotations: list[SecretRotation]
    plan: Plan
    checks: list[Check]
    seconds: dict[str, float]


def plan_run(env: Environment, root: Path, target_name: str, *, secrets_dir: Path | None = None) -> PlanRun:
    """Plan ``root`` against ``target_name`` (``swarm-lab`` or ``prod``); the plan, the checks, the seconds.

    ``secrets_dir``: new secret values (one file per base secret, the runbook's ``SECRETS_DIR``
    layout): the services that mount one plan a rolling restart onto its content-hashed version,
    which the plan's ``secrets`` lists as ``create``; every other secret reference stays at the
    version its live service mounts (:func:`iklim.plan.secretnames.resolve_secret_versions`).
    ``seconds``: ``snapshot`` (Engine API reads, every node's image list included), ``plan``
    (the comparison), ``preflight`` (the checks plus the snapshot they need). Raises PlanError.
    """
    lab = target_name == "swarm-lab"
    parsed = _parse_tree(env, root, lab)
    resolve_versions(parsed, secrets_dir=secrets_dir)  # a bad tree or value file: before any engine
    components = service_components(env)
    try:
        target = swarm_lab_target(env) if target_name == "swarm-lab" else prod_target()
    except TargetError as exc:
        raise PlanError(str(exc)) from None
    try:
        began = time.monotonic()
        snapshot = target.snapshot()
        read = time.monotonic() - began
        began = time.monotonic()
        desired, rotations = resolve_versions(parsed, secrets_dir=secrets_dir, snapshot=snapshot)
        result = plan(desired, snapshot)
        result.secrets = secret_states(result.secrets, rotations)
        compared = time.monotonic() - began
        began = time.monotonic()
        checks = live_checks(desired, snapshot, result, components, lambda c, s: minimum(env, c, s), target.resolvable)
        checked = time.monotonic() - began
    except TargetError as exc:
        raise PlanError(str(exc)) from None
    finally:
        target.close()
    return PlanRun(
        desired, rotations, result, checks, {"snapshot": read, "plan": compared, "preflight": read + checked}
    )
