"""One plan run: read the tree and the target, compare, run the pre-flight checks, time each part."""

from __future__ import annotations

import os
import time
from pathlib import Path

import yaml

from iklim.model.schema import Environment
from iklim.plan.compose import Desired, config_hashes, desired_state
from iklim.plan.diff import Plan, plan
from iklim.plan.grace import minimum, service_components
from iklim.plan.interpolate import ComposeError
from iklim.plan.preflight import Check, live_checks, model_nodes, static_checks
from iklim.plan.targets import TargetError, lab_overrides, prod_target, stack_documents, swarm_lab_target


class PlanError(RuntimeError):
    """The tree or the target cannot be read; one line."""


def desired_from_tree(env: Environment, root: Path, lab: bool) -> Desired:
    """The rendered stacks under ``root`` as :class:`Desired` (with the Swarm lab override when ``lab``)."""
    try:
        documents = stack_documents(root, env)
        hashes = config_hashes(root, documents)
        overrides = lab_overrides(documents) if lab else None
        return desired_state(documents, hashes, os.environ, overrides)
    except (OSError, ValueError, yaml.YAMLError, ComposeError, KeyError, TypeError) as exc:
        raise PlanError(f"the rendered tree {root}: {exc}") from None


def run_static(env: Environment, root: Path) -> list[Check]:
    """The static pre-flight checks of the tree at ``root`` against the model's nodes."""
    desired = desired_from_tree(env, root, lab=False)
    try:
        return static_checks(desired, model_nodes(env), service_components(env), lambda c, s: minimum(env, c, s))
    except ValueError as exc:  # a value the checks cannot read (e.g. a duration that is not Go syntax)
        raise PlanError(f"the rendered tree {root}: {exc}") from None


def run_plan(env: Environment, root: Path, target_name: str) -> tuple[Plan, list[Check], dict[str, float]]:
    """Plan ``root`` against ``target_name`` (``swarm-lab`` or ``prod``); the plan, the checks, the seconds.

    ``seconds``: ``snapshot`` (Engine API reads, every node's image list included), ``plan``
    (the comparison), ``preflight`` (the checks plus the snapshot they need). Raises PlanError.
    """
    desired = desired_from_tree(env, root, lab=target_name == "swarm-lab")
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
        result = plan(desired, snapshot)
        compared = time.monotonic() - began
        began = time.monotonic()
        checks = live_checks(desired, snapshot, result, components, lambda c, s: minimum(env, c, s), target.resolvable)
        checked = time.monotonic() - began
    except TargetError as exc:
        raise PlanError(str(exc)) from None
    finally:
        target.close()
    return result, checks, {"snapshot": read, "plan": compared, "preflight": read + checked}
