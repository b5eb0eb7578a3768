"""The mechanics of a status job: one Swarm ``replicated-job`` service, watched to its end, then removed.

:class:`StatusJob` creates the model config, the job's own Vault-token secret (when the caller has
a token) and the service; waits for its one task; reads its logs; removes all of it.
:func:`run_status_job` does that once and returns a :class:`JobResult`. The overview and the
command's entry point are in :mod:`iklim.status.overlay`.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from types import FrameType
from typing import Any

import docker
from docker.errors import APIError, DockerException, NotFound
from docker.types import ConfigReference, RestartPolicy, SecretReference, ServiceMode

from iklim.model.paths import CA_SECRET, TOOL_ETCD_CLIENT_SECRETS
from iklim.status.secrets import PRODUCTION_VARIABLES, EnvironmentSecrets

#: Label on everything a status job creates (value: the job's service name).
JOB_LABEL = "org.iklim.status-job"
#: Where the job reads the model.
MODEL_PATH = "/etc/iklim/environment.yaml"
#: The tool image's user (images/iklim/Dockerfile: ``USER 10001:10001``): owner of the mounted secrets.
JOB_USER = "10001"
#: Docker secrets (the runbook's names) the job mounts when the Swarm has them.
JOB_SECRETS = (
    "redis_password",
    "rabbitmq_admin_password",
    "mongodb_exporter_password",
    "mongodb_root_password",
    "apisix_admin_key",
)
#: Where the job runs: a service node (the overlay-only services' nodes).
CONSTRAINTS = ("node.labels.type == service",)
#: Task states after which a job's task never changes again.
FINAL_STATES = frozenset({"complete", "failed", "rejected", "shutdown", "orphaned", "remove"})

Progress = Callable[[str], None]


class OverlayJobError(Exception):
    """The job could not be run or did not finish; the message is one line for the operator."""


@dataclass(frozen=True)
class JobResult:
    """What the job left: its exit code, its stdout and stderr (bytes, unchanged), its seconds."""

    exit_code: int
    stdout: bytes
    stderr: bytes
    seconds: float
    node: str = ""


def _stderr_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (a Docker API error's explanation when it has one)."""
    text = str(getattr(exc, "explanation", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def check_overlay(client: docker.DockerClient, name: str) -> None:
    """Raise :class:`OverlayJobError` unless ``name`` is a Swarm-scope overlay network."""
    found = [n for n in client.networks.list(names=[name]) if n.name == name]
    if not found:
        raise OverlayJobError(f"overlay network {name!r} not found on this Swarm (init-infra-prod.sh creates it)")
    attrs = found[0].attrs
    if attrs.get("Driver") != "overlay" or attrs.get("Scope") != "swarm":
        raise OverlayJobError(f"network {name!r} is not a Swarm overlay (driver {attrs.get('Driver')})")


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt while the job runs, so cleanup runs as for Ctrl-C."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class StatusJob:
    """One status job: create it, wait for it, read its logs, remove what it created.

    ``client``: a manager's client. ``image``: the tool image reference. ``network``: the overlay.
    ``args``: the ``iklim`` arguments (``["status", "--target", "prod", ...]``; ``--env`` is
    added). ``model``: the model file's bytes. ``environ``: where a Vault token is looked up.
    """

    def __init__(
        self,
        client: docker.DockerClient,
        image: str,
        network: str,
        args: Sequence[str],
        model: bytes,
        environ: Mapping[str, str] | None = None,
        progress: Progress = _stderr_progress,
    ) -> None:
        self.client = client
        self.image = image
        self.network = network
        self.args = list(args)
        self.model = model
        self.environ = os.environ if environ is None else environ
        self.progress = progress
        self.name = f"iklim-status-{uuid.uuid4().hex[:12]}"
        self.labels = {JOB_LABEL: self.name}
        self._service: Any = None
        self._config: Any = None
        self._secret: Any = None
        self._creating = False

    def _secret_references(self) -> tuple[list[SecretReference], list[str]]:
        existing = {s.name: s.id for s in self.client.secrets.list()}
        refs, env = [], []
        for name in JOB_SECRETS:
            if name in existing:
                refs.append(SecretReference(existing[name], name, name, JOB_USER, JOB_USER, 0o400))
                env.append(f"{PRODUCTION_VARIABLES[name][0]}_FILE=/run/secrets/{name}")
        if CA_SECRET in existing:  # the environment CA: /run/secrets/tls_ca_crt (resolve_ca's 2nd place)
            refs.append(SecretReference(existing[CA_SECRET], CA_SECRET, CA_SECRET, JOB_USER, JOB_USER, 0o444))
        for name in TOOL_ETCD_CLIENT_SECRETS:  # the tool's etcd client certificate (tool_etcd_client's 1st place)
            if name in existing:
                refs.append(SecretReference(existing[name], name, name, JOB_USER, JOB_USER, 0o400))
        token = EnvironmentSecrets(self.environ).get("vault_token")
        if token:
            self._secret = self.client.secrets.create(
                name=f"{self.name}-vault-token", data=token.encode(), labels=self.labels
            )
            refs.append(SecretReference(self._secret.id, self._secret.name, "vault_token", JOB_USER, JOB_USER, 0o400))
            env.append("VAULT_TOKEN_FILE=/run/secrets/vault_token")
        return refs, env

    def create(self) -> None:
        """Create the config, the job's secret and the service (the job starts at once)."""
        self._config = self.client.configs.create(name=f"{self.name}-model", data=self.model, labels=self.labels)
        config = ConfigReference(self._config.id, self._config.name, MODEL_PATH, JOB_USER, JOB_USER, 0o444)
        secrets, env = self._secret_references()
        self._creating = True
        self._service = self.client.services.create(
            self.image,
            command=["iklim", *self.args, "--env", MODEL_PATH],
            name=self.name,
            labels=self.labels,
            container_labels=self.labels,
            mode=ServiceMode("replicated-job", replicas=1, concurrency=1),
            networks=[self.network],
            constraints=list(CONSTRAINTS),
            restart_policy=RestartPolicy(condition="none"),
            secrets=secrets,
            configs=[config],
            env=env,
        )
        self.progress(f"status job {self.name}: created ({self.image} on {self.network})")

    def _task(self) -> dict[str, Any] | None:
        tasks = self.client.api.tasks(filters={"service": self.name})
        if not tasks:
            return None
        task: dict[str, Any] = max(tasks, key=lambda t: str(t.get("CreatedAt", "")))
        return task

    def wait(self, start_timeout: float, run_timeout: float) -> dict[str, Any]:
        """Poll until the task ends; return it. Raises OverlayJobError on a timeout."""
        begin = time.monotonic()
        started: float | None = None
        last = ""
        while True:
            task = self._task()
            status = (task or {}).get("Status", {})
            state = str(status.get("State", "new"))
            if state != last:
                node = self._node_name((task or {}).get("NodeID", ""))
                self.progress(f"status job {self.name}: {state}{f' on {node}' if node else ''}")
                last = state
            if task is not None and state in FINAL_STATES:
                return task
            now = time.monotonic()
            if started is None and state in ("running", "complete"):
                started = now
            if started is None and now - begin > start_timeout:
                why = status.get("Err") or status.get("Message") or state
                raise OverlayJobError(f"the status job did not start within {start_timeout:.0f} s: {why}")
            if started is not None and now - started > run_timeout:
                raise OverlayJobError(f"the status job did not finish within {run_timeout:.0f} s")
            time.sleep(0.3)

    def _node_name(self, node_id: str) -> str:
        if not node_id:
            return ""
        try:
            return str(self.client.api.inspect_node(node_id)["Description"]["Hostname"])
        except (APIError, KeyError):
            return node_id[:12]

    def logs(self, stdout: bool) -> bytes:
        """The job's stdout (or stderr), as the container wrote it."""
        chunks = self.client.api.service_logs(self.name, stdout=stdout, stderr=not stdout, follow=False)
        return b"".join(chunks)

    def remove(self) -> None:
        """Remove the service, then its config and secret; never raises (best effort, retried).

        Found by the job's unique label, not only by the handles ``create`` kept: a Ctrl-C that
        lands while the Engine API call is in flight leaves an object the manager created but
        whose handle was never returned.
        """
        label = {"label": f"{JOB_LABEL}={self.name}"}
        services: list[Any] = []
        # an interrupted create may reach the manager a moment after the interrupt: look again
        for _ in range(8 if self._creating and self._service is None else 1):
            with suppress(DockerException):
                services = self.client.services.list(filters=label)
            if services:
                break
            time.sleep(0.25)
        with suppress(DockerException):
            for service in services or ([self._service] if self._service is not None else []):
                with suppress(DockerException):
                    service.remove()
        items = [self._config, self._secret]
        with suppress(DockerException):
            items = [*self.client.configs.list(filters=label), *self.client.secrets.list(filters=label)]
        for item in items:
            if item is None:
                continue
            for _ in range(20):  # "in use" until the service's removal has reached the store
                try:
                    item.remove()
                    break
                except NotFound:
                    break
                except DockerException:
                    time.sleep(0.25)


def run_status_job(
    client: docker.DockerClient,
    image: str,
    network: str,
    args: Sequence[str],
    model: bytes,
    environ: Mapping[str, str] | None = None,
    progress: Progress = _stderr_progress,
    start_timeout: float = 120.0,
    run_timeout: float = 300.0,
) -> JobResult:
    """Run ``iklim <args>`` as a job on ``network``; return its exit code and output.

    Raises :class:`OverlayJobError` when the job cannot be created, does not start (the task's
    error: no suitable node, ``No such image``...), or does not finish in time. The service and
    what it needed are removed in every case, Ctrl-C and SIGTERM included.
    """
    check_overlay(client, network)
    job = StatusJob(client, image, network, args, model, environ, progress)
    begin = time.monotonic()
    with _terminate_as_interrupt():
        try:
            try:
                job.create()
            except APIError as exc:
                raise OverlayJobError(f"cannot create the status job: {first_line(exc)}") from None
            task = job.wait(start_timeout, run_timeout)
            status = task.get("Status", {})
            container = status.get("ContainerStatus") or {}
            if not container.get("ContainerID") or "ExitCode" not in container:
                why = status.get("Err") or status.get("Message") or status.get("State")
                raise OverlayJobError(f"the status job did not start: {why}")
            code = int(container["ExitCode"])
            result = JobResult(
                code,
                job.logs(stdout=True),
                job.logs(stdout=False),
                time.monotonic() - begin,
                job._node_name(task.get("NodeID", "")),
            )
        finally:
            job.remove()
    progress(f"status job {job.name}: exit {result.exit_code} after {result.seconds:.1f} s, removed")
    return result
