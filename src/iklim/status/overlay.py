"""``iklim status --target prod --on-overlay``: the status probe as a one-shot Swarm job on the overlay.

Redis, Sentinel, RabbitMQ, Prometheus, Grafana and APISIX answer only on the overlay, by their
overlay names, so a manager's shell cannot probe them. This module runs the same
``iklim status --target prod`` inside the model's tool image (``tooling.image``, built from
``images/iklim/Dockerfile``) as a Swarm ``replicated-job`` (Docker API >= 1.41) attached to the
model's overlay, on a ``node.labels.type == service`` node, and hands back its output and exit code.

What the job gets, and how:

- the model file as a Docker config (mounted read-only at :data:`MODEL_PATH`);
- every Docker secret status reads (:data:`JOB_SECRETS`, the runbook's names) that exists on the
  Swarm, mounted under ``/run/secrets/<name>``, and ``IKLIM_*_FILE=/run/secrets/<name>`` in its
  environment; the Vault token is no Docker secret, so when the caller has one (``VAULT_TOKEN``,
  ``BAO_TOKEN`` or their ``_FILE``) it becomes a secret created for this job and removed with it.
  Secret values are never in the service spec, its environment, the progress lines or the output.

The service, the config and the job's own secret carry the label :data:`JOB_LABEL` and a unique
name; they are removed when the job ends, fails, or the caller is interrupted (Ctrl-C, SIGTERM).
Errors are :class:`OverlayJobError` with one line: no manager, no overlay, the job did not start
(with its task's error, e.g. ``No such image``), or it did not finish in time.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import docker
from docker.errors import DockerException

from iklim.status.swarmjob import (
    JOB_LABEL,
    JOB_SECRETS,
    MODEL_PATH,
    OverlayJobError,
    first_line,
    run_status_job,
)

__all__ = ["JOB_LABEL", "JOB_SECRETS", "MODEL_PATH", "OverlayJobError", "manager_client", "status_on_overlay"]


def manager_client(environ: Mapping[str, str] | None = None) -> docker.DockerClient:
    """A client of the engine at ``DOCKER_HOST`` (default socket otherwise) that is a Swarm manager.

    Raises :class:`OverlayJobError` when no engine answers or it is not an active manager.
    """
    environ = os.environ if environ is None else environ
    where = environ.get("DOCKER_HOST") or "the default Docker socket"
    try:
        client = docker.DockerClient.from_env(timeout=60, environment=dict(environ))
        info = client.info()
    except DockerException as exc:
        raise OverlayJobError(f"no Docker engine at {where}: {first_line(exc)}") from None
    swarm = info.get("Swarm") or {}
    if swarm.get("LocalNodeState") != "active":
        raise OverlayJobError(f"the engine at {where} is not part of a Swarm: run this on a Swarm manager")
    if not swarm.get("ControlAvailable"):
        raise OverlayJobError(
            f"the engine at {where} is a Swarm worker: run this on a manager (or point DOCKER_HOST at one)"
        )
    return client


def status_on_overlay(
    env_path: str, fmt: str, timeout: float, only: Sequence[str], environ: Mapping[str, str] | None = None
) -> int:
    """The ``--on-overlay`` path of ``iklim status --target prod``: returns the exit code to use.

    The job's stdout and stderr are copied unchanged to this process's; progress and one-line
    errors go to stderr (errors exit 2, as status's own).
    """
    from iklim.model.loader import load_environment

    try:
        model = Path(env_path).read_bytes()
        env = load_environment(env_path)
        client = manager_client(environ)
        args = ["status", "--target", "prod", "--format", fmt, "--timeout", repr(timeout)]
        for name in only:
            args += ["--component", name]
        result = run_status_job(client, env.tooling.image, env.overlay.name, args, model, environ)
    except OverlayJobError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot read the model: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; the status job was removed", file=sys.stderr)
        return 130
    except Exception as exc:  # the model loader's ModelError, a Docker API error: one line
        print(f"error: {first_line(exc)}", file=sys.stderr)
        return 2
    sys.stderr.buffer.write(result.stderr)
    sys.stderr.flush()
    sys.stdout.buffer.write(result.stdout)
    sys.stdout.flush()
    return result.exit_code
