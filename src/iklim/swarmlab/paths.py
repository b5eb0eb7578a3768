"""Where the Swarm lab keeps its state, and the names of what it creates on this machine.

Everything the lab creates carries one of these names, so ``swarm-lab down`` (and its test) can
find and remove every namespace, link, process, mount and cgroup it made, and nothing else.

Layout (all absolute, root only):

- ``STATE`` (``/var/lib/iklim-swarmlab``): one data root per node (``nodes/<hostname>``), the
  image cache (``images/``: the debootstrap root and the build stamps), the lab's runbook inputs
  (``secrets/``, ``vault/``), logs (``logs/``).
- ``RUN`` (``/run/iklim-swarmlab``): per-node exec roots, sockets (``<hostname>.sock``) and pid
  files; the builder engine's socket ``builder.sock``.
- Network: bridge ``BRIDGE`` on the host; per node a namespace ``ikl-<n>`` (n = 1..6 in model
  order) and a veth pair ``iklh<n>`` (host side) / ``eth0`` (namespace side). The public side
  (:mod:`iklim.swarmlab.public`): bridge ``iklpub0``, per node ``iklp<n>`` / ``pub0``, and the
  namespaces ``ikl-internet``, ``ikl-operator``, ``ikl-private-other``.
- cgroups: ``/iklim-swarmlab-<n>`` as each dockerd's ``--cgroup-parent``.
"""

from __future__ import annotations

from pathlib import Path

STATE = Path("/var/lib/iklim-swarmlab")
RUN = Path("/run/iklim-swarmlab")
LOGS = STATE / "logs"
IMAGE_CACHE = STATE / "images"
#: One dockerd data root per node: ``NODES/<hostname>``.
NODES = STATE / "nodes"
#: The runbook's documented inputs in the lab: ``SECRETS_DIR``, ``VAULT_KEYS_FILE``.
SECRETS_DIR = STATE / "secrets"
VAULT_KEYS_FILE = STATE / "vault" / "init.json"
#: The runbook's ``PKI_DIR`` in the lab: the environment CA (``iklim pki init``) and the member
#: certificates, production's names and addresses (the lab's nodes carry them).
PKI_DIR = STATE / "pki"
#: Mounted at ``/mnt/storagebox`` inside every node's mount namespace (the shared StorageBox).
STORAGEBOX = STATE / "storagebox"
#: Per-node folders that a production server has to itself (``HOSTS/<hostname>/...``, see nodefs).
HOSTS = STATE / "hosts"
#: The lab-only ``ssh`` and ``docker`` shims, first on the runbook's PATH.
SHIM_DIR = STATE / "shim"
#: The lab override compose files, one per stack file: ``<stack file stem>.lab.yml``.
OVERRIDES = STATE / "overrides"
#: The host-side bridge that joins the nodes' namespaces (no address from the production plan).
BRIDGE = "iklbr0"
#: The bridge's own address and the nodes' lab-side addresses live in this range, which exists
#: only on this machine: the builder's registry-less image copy never needs it, but a node reaches
#: the host (e.g. nothing) only through it.
LAB_NET = "10.99.0.0/24"
BUILDER_SOCKET = RUN / "builder.sock"
NAMESPACE_PREFIX = "ikl-"
VETH_PREFIX = "iklh"
CGROUP_PREFIX = "iklim-swarmlab-"


def node_socket(hostname: str) -> Path:
    """The Unix socket of ``hostname``'s dockerd, e.g. ``/run/iklim-swarmlab/iklim-app-01.sock``."""
    return RUN / f"{hostname}.sock"


def exec_root(hostname: str) -> Path:
    """The dockerd ``--exec-root`` of ``hostname`` (its containerd and shims live below it)."""
    return RUN / hostname


def pidfile(hostname: str) -> Path:
    """The dockerd ``--pidfile`` of ``hostname``."""
    return RUN / f"{hostname}.pid"


def resolver_pidfile(hostname: str) -> Path:
    """The pid file of ``hostname``'s NXDOMAIN resolver (:mod:`iklim.swarmlab.resolver`)."""
    return RUN / f"{hostname}-resolver.pid"


def data_root(hostname: str) -> Path:
    """The dockerd ``--data-root`` of ``hostname`` (images, volumes, Swarm raft state)."""
    return NODES / hostname


def log_file(hostname: str) -> Path:
    """The dockerd log of ``hostname``."""
    return LOGS / f"{hostname}.log"


def veth(index: int) -> str:
    """The host side of the veth pair of the node at 1-based ``index``, e.g. ``iklh1``."""
    return f"{VETH_PREFIX}{index}"


def cgroup_parent(index: int) -> str:
    """The ``--cgroup-parent`` of the node at 1-based ``index``, e.g. ``/iklim-swarmlab-1``."""
    return f"/{CGROUP_PREFIX}{index}"


def namespace(index: int) -> str:
    """The network namespace of the node at 1-based ``index`` (model order), e.g. ``ikl-1``."""
    return f"{NAMESPACE_PREFIX}{index}"
