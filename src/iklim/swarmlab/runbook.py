"""Run the real rendered ``init-infra-prod.sh`` "on" the first manager, as an operator would.

The script runs from the repository root inside ``iklim-app-01``'s network, UTS and mount namespaces
(the first manager of the model), with only its documented environment changed:

- ``PATH``: the lab shims first (:mod:`.shims`: ``ssh`` enters a node, ``docker`` adds the override);
- ``DOCKER_HOST``: the manager's engine socket;
- ``SECRETS_DIR``, ``VAULT_KEYS_FILE``, ``PKI_DIR`` (the CA, made by the runbook's ``iklim pki
  init``): folders under :data:`.paths.STATE`; ``GRAFANA_DATA_DIR`` keeps
  the runbook's default, inside ``/mnt/storagebox`` (the lab's shared StorageBox, bind-mounted).

Everything else (``PYTHONPATH`` included, so ``iklim`` is the tree under test) is inherited.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from iklim.model.paths import CA_SECRET
from iklim.swarmlab import paths
from iklim.swarmlab.nodes import LabError, LabNode, Progress, dockerd_pid

RUNBOOK = "init-infra-prod.sh"


def operator_environment() -> dict[str, str]:
    """What an operator's login on the lab's manager has set: the CA folder (``PKI_DIR``) and the
    CA every Vault client verifies with (``VAULT_CACERT``, as ``init/vault/vault-bootstrap.sh``
    sets it). Given to the runbook, ``swarm-lab shell`` and commands run in the drill seat."""
    return {"PKI_DIR": str(paths.PKI_DIR), "VAULT_CACERT": str(paths.PKI_DIR / CA_SECRET)}


def runbook_environment(manager: LabNode) -> dict[str, str]:
    """The runbook's environment in the lab (see the module docstring); creates the input folders."""
    for folder in (paths.SECRETS_DIR, paths.VAULT_KEYS_FILE.parent, paths.PKI_DIR):
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
    env = dict(os.environ)
    env.update(
        PATH=f"{paths.SHIM_DIR}{os.pathsep}{env.get('PATH', '')}",
        DOCKER_HOST=manager.docker_host,
        SECRETS_DIR=str(paths.SECRETS_DIR),
        VAULT_KEYS_FILE=str(paths.VAULT_KEYS_FILE),
    )
    env.update(operator_environment())
    return env


def runbook_argv(manager: LabNode, repo: Path) -> list[str]:
    """``nsenter`` into ``manager``'s namespaces, then ``bash <repo>/init-infra-prod.sh``."""
    pid = dockerd_pid(manager)
    if pid is None:
        raise LabError(f"runbook: {manager.hostname} is not running (swarm-lab up first)")
    return ["nsenter", f"--target={pid}", "--net", "--uts", "--mount", "bash", str(repo / RUNBOOK)]


def run_runbook(manager: LabNode, repo: Path, progress: Progress, extra_args: list[str] | None = None) -> None:
    """Run the runbook, each of its output lines passed to ``progress``; raises :class:`LabError` on failure.

    The output is also appended to ``paths.LOGS/runbook.log``. The last 5 lines are in the error.
    """
    script = repo / RUNBOOK
    if not script.is_file():
        raise LabError(f"runbook: {script} not found (run from the repository, or pass --repo)")
    paths.LOGS.mkdir(parents=True, exist_ok=True)
    tail: list[str] = []
    with open(paths.LOGS / "runbook.log", "a") as log:
        proc = subprocess.Popen(
            runbook_argv(manager, repo) + (extra_args or []),
            cwd=repo,
            env=runbook_environment(manager),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            log.write(line + "\n")
            log.flush()
            progress(f"runbook: {line}")
            tail = [*tail[-4:], line]
        code = proc.wait()
    if code != 0:
        raise LabError(f"runbook: {RUNBOOK} exited {code}; last lines: {' | '.join(tail)}")
