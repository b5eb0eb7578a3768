"""Where a plan's live state comes from: the Swarm lab's manager, or production's manager through ``DOCKER_HOST``.

- ``swarm-lab``: the first manager's engine socket (``/run/iklim-swarmlab/<host>.sock``); every
  node's own engine answers for its images. The desired state includes the lab override
  (:mod:`iklim.swarmlab.override`), which the lab's ``docker`` shim adds after each stack file.
- ``prod``: run ON a production manager. The engine is ``DOCKER_HOST`` (else the default socket),
  and it must be an active Swarm manager (:func:`iklim.status.overlay.manager_client`); only the
  manager's own images are known, the others are judged "resolvable" by the registry
  (``GET /distribution/{name}/json`` through the manager). Nothing here connects to a node's
  address: this module never opens a TCP connection of its own.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker

from iklim.model.schema import Environment
from iklim.plan.live import Snapshot, engine_images, read_snapshot
from iklim.render.stacks import STACK_FILES


class TargetError(RuntimeError):
    """The target cannot be read (no engine, not a manager, lab not up); one line."""


@dataclass
class Target:
    """A connected target: its name, the manager's client, per-node image listers, the lab override flag."""

    name: str
    client: Any
    node_images: dict[str, Callable[[], list[dict[str, list[str]]]]] = field(default_factory=dict)
    lab_override: bool = False
    _closers: list[Any] = field(default_factory=list)

    def snapshot(self) -> Snapshot:
        try:
            return read_snapshot(self.client, self.node_images)
        except docker.errors.DockerException as exc:
            raise TargetError(f"{self.name}: the Engine API refused the read: {_first_line(exc)}") from None

    def resolvable(self, ref: str) -> bool | None:
        """Whether the manager's registry access resolves ``ref`` (None: cannot tell)."""
        try:
            self.client.api.inspect_distribution(ref)
        except docker.errors.NotFound:
            return False
        except docker.errors.DockerException:
            return None
        return True

    def close(self) -> None:
        for client in [self.client, *self._closers]:
            client.close()


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "explanation", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _lister(client: Any) -> Callable[[], list[dict[str, list[str]]]]:
    return lambda: engine_images(client)


def swarm_lab_target(env: Environment) -> Target:
    """The Swarm lab's first manager, and every node's engine for its images. Raises TargetError."""
    from iklim.swarmlab.nodes import api_ready, lab_nodes
    from iklim.swarmlab.swarm import first_manager

    nodes = lab_nodes(env)
    manager = first_manager(nodes)
    if not api_ready(manager):
        raise TargetError("swarm-lab: the Swarm lab is not up (iklim swarm-lab up)")
    client = docker.DockerClient(base_url=manager.docker_host, timeout=20)
    target = Target("swarm-lab", client, lab_override=True)
    for node in nodes:
        node_client = docker.DockerClient(base_url=node.docker_host, timeout=20)
        target._closers.append(node_client)
        target.node_images[node.hostname] = _lister(node_client)
    return target


def prod_target(environ: Mapping[str, str] | None = None) -> Target:
    """Production's manager at ``DOCKER_HOST`` (run this on a manager). Raises TargetError."""
    from iklim.status.overlay import OverlayJobError, manager_client

    try:
        client = manager_client(os.environ if environ is None else environ)
    except OverlayJobError as exc:
        raise TargetError(f"prod: {exc}") from None
    hostname = str(client.info().get("Name", ""))
    target = Target("prod", client)
    target.node_images[hostname] = lambda: engine_images(client)
    return target


def _strict_loader() -> type[Any]:
    """A SafeLoader that refuses a duplicate mapping key: PyYAML would silently keep the last
    value, and which one another YAML parser keeps is not something to rely on."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # <<: merged keys may be overridden
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    hash(key)
                except TypeError:
                    raise yaml.constructor.ConstructorError(
                        None, None, "a mapping key that is not a scalar", key_node.start_mark
                    ) from None
                if key in seen:
                    why = f"duplicate key {key!r} (which value counts is ambiguous)"
                    raise yaml.constructor.ConstructorError(None, None, why, key_node.start_mark)
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return StrictLoader


#: Values a stack file may hold with its YAML aliases expanded (the rendered stacks: about 10,000):
#: a few nested aliases can otherwise stand for billions, which every later walk would visit.
MAX_NODES = 1_000_000


def _nodes(value: Any, limit: int = MAX_NODES) -> int:
    """How many values ``value`` holds, aliases counted each time they are used (an alias that
    contains itself counts without end); stops counting past ``limit``."""
    count, stack = 0, [value]
    while stack and count <= limit:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def stack_documents(repo: Path, env: Environment) -> dict[str, dict[str, Any]]:
    """Stack name (``iklimco``, ``vault``) -> the parsed root stack file of ``repo``. Raises OSError,
    or ValueError with ``file:line:column`` for a file that is not YAML, not a mapping or has a
    duplicate key in a mapping."""
    import yaml

    names = {"infra": env.stacks.infra, "vault": env.stacks.vault}
    documents: dict[str, dict[str, Any]] = {}
    for kind, file in STACK_FILES.items():
        try:
            text = (repo / file).read_bytes().decode()
            document = yaml.load(text, Loader=_strict_loader())  # noqa: S506 (a SafeLoader)
        except UnicodeDecodeError as exc:
            raise ValueError(f"{file}: not UTF-8 text (byte {exc.start})") from None
        except yaml.MarkedYAMLError as exc:  # one line: file:line:column: what
            mark = exc.problem_mark
            where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark is not None else file
            raise ValueError(f"{where}: {exc.problem or exc.context}") from None
        if _nodes(document) > MAX_NODES:
            raise ValueError(f"{file}: more than {MAX_NODES:,} values once its aliases are expanded")
        if not isinstance(document, dict):
            raise ValueError(f"{file}: not a compose file (its top level is not a mapping)")
        documents[names[kind]] = document
    return documents


def lab_overrides(documents: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Stack name -> the Swarm lab override of its stack file (:func:`iklim.swarmlab.override.override_for`)."""
    from iklim.swarmlab.override import override_for

    return {stack: override_for(document) for stack, document in documents.items()}
