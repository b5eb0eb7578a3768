"""Where the model is by default, relative to the repository root.

One definition for every command's ``--env`` default, the checker's model search and the
rendered files' "generated from" lines. This module imports nothing, so a command that must start
fast (``iklim status``, ``iklim check``) can name the default without loading pydantic.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

#: The production model, relative to the repository root (POSIX separators).
DEFAULT_ENV = "environments/prod.yaml"

#: The environment CA certificate's Docker secret and file name in the CA folder (issue 17).
CA_SECRET = "tls_ca_crt"
#: Where Swarm mounts a service's secrets (https://docs.docker.com/engine/swarm/secrets/).
SECRETS_DIR = "/run/secrets"
#: The environment variable each cluster's own clients read for their CA file (Vault's CLI:
#: https://developer.hashicorp.com/vault/docs/commands#vault_cacert).
CA_VARIABLES = {"vault": "VAULT_CACERT"}
#: The tool's own etcd client certificate's member name (``iklim status``, the drills, deploy's
#: hand-over): etcd refuses a client without a certificate signed by the environment CA
#: (``--client-cert-auth``, https://etcd.io/docs/v3.5/op-guide/security/).
TOOL_ETCD_CLIENT = "iklim-etcd-client"
#: The Docker secrets (and CA-folder files) of :data:`TOOL_ETCD_CLIENT`: (certificate, key).
TOOL_ETCD_CLIENT_SECRETS = tuple(f"tls_{TOOL_ETCD_CLIENT.replace('-', '_')}_{kind}" for kind in ("crt", "key"))


def resolve_ca(default: str, production: bool, cluster: str) -> str:
    """The CA file a client of ``cluster`` verifies with; first match wins:

    1. the cluster's variable of :data:`CA_VARIABLES` when set (``VAULT_CACERT``);
    2. in production, ``/run/secrets/tls_ca_crt`` when it exists (a tool in a container that
       mounts the CA secret: the status job);
    3. in production, ``$PKI_DIR/tls_ca_crt`` when ``PKI_DIR`` is set (the runbook's CA folder);
    4. ``default``: the target's CA folder's ``tls_ca_crt`` (the model's ``tls.pki_dir`` on the
       manager, ``<root>/pki`` in the loopback lab).
    """
    variable = CA_VARIABLES.get(cluster)
    if variable and os.environ.get(variable):
        return os.environ[variable]
    return _resolve(default, production, CA_SECRET)


def _resolve(default: str, production: bool, name: str) -> str:
    mounted = f"{SECRETS_DIR}/{name}"
    if production and os.path.isfile(mounted):
        return mounted
    if production and os.environ.get("PKI_DIR"):
        return os.path.join(os.environ["PKI_DIR"], name)
    return default


def resolve_pki_file(default_dir: str, production: bool, name: str) -> str:
    """Where a tool finds the CA-folder file ``name`` (a Docker secret name: ``tls_ca_crt``,
    ``tls_iklim_etcd_client_key``); first match wins: in production ``/run/secrets/<name>`` when
    it exists (the status job mounts it), then ``$PKI_DIR/<name>`` when ``PKI_DIR`` is set (the
    runbook's CA folder), else ``<default_dir>/<name>`` (the target's CA folder)."""
    return _resolve(os.path.join(default_dir, name), production, name)


def tool_etcd_client(default_dir: str, production: bool) -> tuple[str, str]:
    """(certificate, key) files of :data:`TOOL_ETCD_CLIENT` for a tool's etcd requests
    (:func:`resolve_pki_file` for each)."""
    crt, key = (resolve_pki_file(default_dir, production, name) for name in TOOL_ETCD_CLIENT_SECRETS)
    return crt, key


def find_upward(paths: Sequence[str], relative: str, stop_at_git: bool = False) -> str | None:
    """``relative`` in the first of ``paths``'s folder (the folder itself when it is one, ``.``
    when ``paths`` is empty) or in the nearest folder above that has it; None when none has.

    With ``stop_at_git`` the search ends at the folder holding ``.git`` (a repository's root,
    worktrees included), as yamllint and git look for their own files.
    """
    start = os.path.abspath(paths[0] if paths else ".")
    folder = start if os.path.isdir(start) else os.path.dirname(start)
    while True:
        candidate = os.path.join(folder, relative)
        if os.path.isfile(candidate):
            return candidate
        parent = os.path.dirname(folder)
        if parent == folder or (stop_at_git and os.path.lexists(os.path.join(folder, ".git"))):
            return None
        folder = parent


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """Make the entries of ``folder`` (creations, renames, unlinks) durable; raises OSError."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
