"""The drill's client seat on the Swarm lab: a container on the overlay whose network the drill uses.

Redis, Sentinel and RabbitMQ answer only on the overlay, by their overlay names; etcd, Patroni and
Vault publish host-mode ports on their nodes' private addresses, which the host namespace must
never be sent traffic to. So the drill runs where an application runs: :func:`open_seat` starts a
one-task Swarm service (:data:`SEAT_SERVICE`, the model's tool image running ``sleep``) attached
to the model's overlay on a service node, with the Docker secrets the workloads need (an
application's credentials, :data:`SEAT_SECRETS`). :func:`seat_argv` re-runs the same ``iklim``
command line in that container's **network** namespace (``nsenter --net``) and in a private copy
of the host's **mount** namespace (``unshare --mount``) in which ``/etc/resolv.conf`` is the
container's own (Docker's embedded DNS at 127.0.0.11, which resolves the overlay names). The
process keeps the host's Python, the repository, the journal under the lab's state and the node
engines' sockets; its packets leave through the container's overlay and gateway interfaces, exactly
as an application's do. Secrets are read from the container's ``/run/secrets`` through
``/proc/<pid>/root`` (:class:`SeatContext`), never printed.

Everything the seat creates carries the label :data:`SEAT_LABEL`; :func:`close_seat` removes it
(also what a killed drill left). Errors: :class:`SeatError`, one line.
Sources: nsenter(1), unshare(1); Docker embedded DNS (docs.docker.com/engine/network/#dns-services).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import docker
from docker.errors import DockerException
from docker.types import RestartPolicy, SecretReference

from iklim.components.target import ProductionTarget
from iklim.model.schema import Environment
from iklim.status.swarmjob import CONSTRAINTS
from iklim.swarmlab import paths
from iklim.swarmlab.runbook import operator_environment

#: The seat's Swarm service name and the label on it (value ``1``).
SEAT_SERVICE = "iklim-drill-seat"
SEAT_LABEL = "org.iklim.drill-seat"
#: The environment variable that tells a re-run ``iklim`` it already sits in the seat (its pid).
SEAT_PID_VARIABLE = "IKLIM_DRILL_SEAT_PID"
#: Docker secrets (the runbook's names) the workloads, the status probes and the deploy's hand-overs
#: (Patroni's REST API password for ``POST /switchover``) read, when they exist.
SEAT_SECRETS = ("postgres_superuser_password", "redis_password", "rabbitmq_admin_password", "patroni_restapi_password")
#: Where :func:`seat_resolv` copies the seat's resolver configuration (removed with the seat).
RESOLV_COPY = paths.RUN / "drill-seat-resolv.conf"
#: The seat never outlives a forgotten drill by more than this (seconds of ``sleep``).
SEAT_LIFETIME_S = 6 * 3600


class SeatError(Exception):
    """The seat could not be opened or entered; one line for the operator."""


@dataclass(frozen=True)
class Seat:
    """An open seat: the node its task runs on and the pid (host pid namespace) of its process."""

    node: str
    pid: int


def _task_state(client: docker.DockerClient) -> tuple[str, str, str, str]:
    """(state, node id, container id, error) of the seat's newest task ("" when none yet)."""
    tasks = client.api.tasks(filters={"service": SEAT_SERVICE})
    if not tasks:
        return "", "", "", ""
    task = max(tasks, key=lambda t: str(t.get("CreatedAt", "")))
    status = task.get("Status", {})
    container = (status.get("ContainerStatus") or {}).get("ContainerID", "")
    return str(status.get("State", "")), str(task.get("NodeID", "")), str(container), str(status.get("Err", ""))


def open_seat(manager: docker.DockerClient, env: Environment, timeout: float = 60.0) -> Seat:
    """Start the seat service (a stale one is removed first) and wait for its task to run.

    ``manager``: a client of a Swarm manager's engine. Raises :class:`SeatError` when the overlay
    is missing or the task does not run within ``timeout`` seconds (with the task's error).
    """
    close_seat(manager)
    if not [n for n in manager.networks.list(names=[env.overlay.name]) if n.name == env.overlay.name]:
        raise SeatError(f"overlay network {env.overlay.name!r} not found (is the Swarm lab up?)")
    existing = {s.name: s.id for s in manager.secrets.list()}
    in_use = mounted_versions(manager)
    secrets = [
        SecretReference(existing[in_use.get(n, n)], in_use.get(n, n), n, "0", "0", 0o400)
        for n in SEAT_SECRETS
        if in_use.get(n, n) in existing
    ]
    error = ""
    for _attempt in range(SEAT_ATTEMPTS):
        seat, error = _start_seat(manager, env, secrets, timeout)
        if seat is not None:
            return seat
        close_seat(manager)
    raise SeatError(f"the drill seat did not run within {timeout:.0f} s: {error}")


#: Starts of the seat before giving up: a task's container can fail to start on a transient engine
#: error (seen on the Swarm lab: "unable to remount dir as readonly: mount tmpfs ... secrets ...
#: device or resource busy"), which a new task does not repeat.
SEAT_ATTEMPTS = 3


def _start_seat(
    manager: docker.DockerClient, env: Environment, secrets: list[SecretReference], timeout: float
) -> tuple[Seat | None, str]:
    """One start of the seat service: (the seat, "") once its task runs, or (None, why) when the
    task failed or did not run within ``timeout`` seconds (the service is left for the caller)."""
    manager.services.create(
        env.tooling.image,
        command=["sleep", str(SEAT_LIFETIME_S)],
        name=SEAT_SERVICE,
        labels={SEAT_LABEL: "1"},
        container_labels={SEAT_LABEL: "1"},
        networks=[env.overlay.name],
        constraints=list(CONSTRAINTS),  # where the status job runs: a service node
        restart_policy=RestartPolicy(condition="none"),
        secrets=secrets,
        user="0",  # the secrets are root's (0400): only this process reads them, through /proc
    )
    deadline = time.monotonic() + timeout
    state, error = "", ""
    while time.monotonic() < deadline:
        seat = running_seat(manager)
        if seat is not None:
            return seat, ""
        state, _, _, error = _task_state(manager)
        if state in ("failed", "rejected", "complete", "shutdown"):
            break
        time.sleep(0.3)
    return None, error or state or "no task"


def mounted_versions(manager: docker.DockerClient) -> dict[str, str]:
    """Target file name -> the secret object the services mount there (``redis_password`` ->
    ``redis_password_<hash>`` after a rotation by ``iklim deploy``; the most used one when
    services differ, as during a roll). The seat mounts the value in effect, under the base name."""
    counts: dict[str, dict[str, int]] = {}
    for service in manager.api.services():
        container = service.get("Spec", {}).get("TaskTemplate", {}).get("ContainerSpec", {})
        for ref in container.get("Secrets") or []:
            target = str((ref.get("File") or {}).get("Name", ""))
            name = str(ref.get("SecretName", ""))
            if target and name and not service["Spec"].get("Labels", {}).get(SEAT_LABEL):
                per = counts.setdefault(target, {})
                per[name] = per.get(name, 0) + 1
    return {target: max(per, key=lambda n: per[n]) for target, per in counts.items()}


def running_seat(manager: docker.DockerClient) -> Seat | None:
    """The seat whose task runs now (its node and its process's pid), or None."""
    state, node_id, container_id, _ = _task_state(manager)
    if state != "running" or not container_id:
        return None
    hostname = str(manager.api.inspect_node(node_id)["Description"]["Hostname"])
    engine = docker.DockerClient(base_url=f"unix://{paths.node_socket(hostname)}", timeout=30)
    try:
        pid = int(engine.api.inspect_container(container_id)["State"]["Pid"])
    finally:
        engine.close()
    return Seat(hostname, pid) if pid > 0 else None


def close_seat(manager: docker.DockerClient) -> None:
    """Remove every seat service (by label); never raises."""
    with suppress(DockerException):
        for service in manager.services.list(filters={"label": SEAT_LABEL}):
            with suppress(DockerException):
                service.remove()


def seat_resolv(pid: int) -> Path:
    """A copy of seat ``pid``'s ``/etc/resolv.conf`` under the lab's run folder (a bind mount
    cannot take its source from another mount namespace); raises :class:`SeatError`."""
    copy = RESOLV_COPY
    try:
        text = Path(f"/proc/{pid}/root/etc/resolv.conf").read_text()
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(text)
    except OSError as exc:
        raise SeatError(f"cannot copy the drill seat's resolv.conf: {exc.strerror}") from None
    return copy


def seat_argv(pid: int, resolv: Path, argv: Sequence[str]) -> list[str]:
    """The command that runs ``argv`` in seat ``pid``'s network namespace, in a private copy of
    this mount namespace with ``resolv`` (:func:`seat_resolv`) bound over ``/etc/resolv.conf``."""
    script = 'mount --bind "$0" /etc/resolv.conf && exec "$@"'
    return [
        "nsenter",
        f"--net=/proc/{pid}/ns/net",
        "--",
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        script,
        str(resolv),
        *argv,
    ]


def seated_pid(environ: dict[str, str] | None = None) -> int | None:
    """The seat pid when this process already runs in the seat (:data:`SEAT_PID_VARIABLE`), else None."""
    value = (os.environ if environ is None else environ).get(SEAT_PID_VARIABLE, "")
    return int(value) if value.isdigit() else None


def check_seated(pid: int, manager: str) -> None:
    """Raise :class:`SeatError` unless this process shares the network namespace of ``pid`` and
    ``pid`` is the running seat container's process, as the Swarm (``manager``: a manager's
    hostname) reports it: a stray :data:`SEAT_PID_VARIABLE` must never let the drill send its
    traffic from the host namespace to the production addresses."""
    refused = SeatError(f"{SEAT_PID_VARIABLE}={pid} is set but this process is not in the drill seat")
    try:
        if os.readlink("/proc/self/ns/net") != os.readlink(f"/proc/{pid}/ns/net"):
            raise refused
    except OSError:
        raise refused from None
    try:
        client = docker.DockerClient(base_url=f"unix://{paths.node_socket(manager)}", timeout=30)
        try:
            seat = running_seat(client)
        finally:
            client.close()
    except DockerException:
        raise refused from None
    if seat is None or seat.pid != pid:
        raise refused


class SeatContext:
    """What the drill seams ask of a context, for the seat: the model, the production addressing
    (:class:`~iklim.components.target.ProductionTarget`: host-mode ports on the node's private
    address, the others by overlay name) and the seat container's Docker secrets."""

    def __init__(self, env: Environment, pid: int) -> None:
        self.env = env
        self.target = ProductionTarget(env)
        self.secrets_dir = Path(f"/proc/{pid}/root/run/secrets")
        self.vault_keys = paths.VAULT_KEYS_FILE
        #: name -> the value in effect now, when a secret rotation changed it inside the engines
        #: after the seat mounted the old version (set by the deploy's rotation hooks).
        self.overrides: dict[str, str] = {}

    def secret(self, name: str) -> str:
        """The Docker secret ``name`` as the seat container holds it (or its :attr:`overrides`
        value); ``vault_token`` (no Docker secret) is the root token of the lab's Vault custody
        file (``VAULT_KEYS_FILE``, the bootstrap's init result). Raises :class:`SeatError`, naming
        the secret, never its value."""
        if name in self.overrides:
            return self.overrides[name]
        try:
            if name == "vault_token":
                token = json.loads(self.vault_keys.read_text()).get("root_token")
                if not token:
                    raise SeatError(f"no root_token in {self.vault_keys}")
                return str(token)
            return (self.secrets_dir / name).read_text().strip()
        except (OSError, ValueError, AttributeError) as exc:
            why = getattr(exc, "strerror", None) or type(exc).__name__
            raise SeatError(f"secret {name!r} not readable in the drill seat: {why}") from None

    def get(self, name: str) -> str | None:
        """The status probes' :class:`~iklim.status.secrets.Secrets` view (None when absent)."""
        try:
            return self.secret(name) or None
        except SeatError:
            return None


def run_in_seat(manager: docker.DockerClient, env: Environment, argv: Sequence[str]) -> int:
    """Open the seat, run ``argv`` in it (:func:`seat_argv`) with :data:`SEAT_PID_VARIABLE` set,
    close the seat; returns the command's exit code.

    The command runs in a session of its own: a Ctrl-C or SIGTERM sent to this process is
    forwarded to it once (a terminal's Ctrl-C would otherwise reach both, and a second interrupt
    could cut the drill's heal short), and this process waits for it to heal and exit. Raises
    :class:`SeatError` when the seat cannot be opened.
    """
    seat = open_seat(manager, env)
    previous: dict[int, Any] = {}
    try:
        resolv = seat_resolv(seat.pid)
        environ = {**operator_environment(), **os.environ, SEAT_PID_VARIABLE: str(seat.pid)}
        child = subprocess.Popen(seat_argv(seat.pid, resolv, argv), env=environ, start_new_session=True)

        def forward(signum: int, frame: FrameType | None) -> None:
            with suppress(ProcessLookupError):
                child.send_signal(signum)

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, forward)
        code = child.wait()
        return 128 - code if code < 0 else code  # killed by a signal: the shell's 128 + N
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        close_seat(manager)
        with suppress(OSError):
            RESOLV_COPY.unlink(missing_ok=True)
