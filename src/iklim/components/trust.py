"""How a member serves TLS and how a client trusts it, derived from the model's ``tls`` section
(issue 17). The one place that says which scheme a cluster's API speaks, where a member's
certificate and key are mounted, and which CA file a client verifies against.

Member files are Docker secrets, named as :mod:`iklim.pki.store` writes them (``tls_ca_crt``,
``tls_vault_1_crt``, ``tls_vault_1_key``), mounted under ``/run/secrets`` in production and at
:meth:`~iklim.components.target.Target.path` of that path in the loopback lab.

A client's CA file: :func:`iklim.model.paths.resolve_ca` (stdlib only, so ``iklim status``
uses it on its hot path).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from iklim.model.paths import CA_SECRET, SECRETS_DIR, TOOL_ETCD_CLIENT, resolve_ca, tool_etcd_client

if TYPE_CHECKING:
    import ssl

    from iklim.components.target import Target
    from iklim.model.schema import Environment

__all__ = [
    "CA_SECRET",
    "SECRETS_DIR",
    "TOOL_ETCD_CLIENT",
    "ca_file",
    "etcd_client_files",
    "is_member_tls_secret",
    "libpq_tls",
    "scheme",
    "secret_names",
    "secret_path",
    "ssl_context",
    "tls_on",
    "verify",
]


def tls_on(env: Environment, cluster: str) -> bool:
    """Whether the model puts ``cluster`` (a key of ``tls.clusters``) on TLS."""
    return str(getattr(env.tls.clusters, cluster).mode) == "tls"


def scheme(env: Environment, cluster: str) -> str:
    """``https`` when ``cluster`` is on TLS, else ``http``."""
    return "https" if tls_on(env, cluster) else "http"


def secret_names(member: str) -> tuple[str, str]:
    """(certificate, key) Docker secret names of ``member``: ``tls_vault_1_crt``, ``tls_vault_1_key``
    (the names :attr:`iklim.pki.members.Member.crt_name` gives)."""
    stem = "tls_" + member.replace("-", "_")
    return stem + "_crt", stem + "_key"


def is_member_tls_secret(name: str) -> bool:
    """Whether ``name`` is a member's certificate or key (``tls_vault_2_crt``), not the CA's: a
    member reads both when its container starts, so a new version and a restart of the member is
    its whole renewal. The CA is not one: its change needs every member and client to trust both
    CAs first."""
    return name.startswith("tls_") and name.endswith(("_crt", "_key")) and name != CA_SECRET


def secret_path(target: Target, member: str, name: str) -> str:
    """Where ``member`` reads the secret file ``name`` on ``target``."""
    return target.path(member, f"{SECRETS_DIR}/{name}")


def ca_file(env: Environment, target: Target, cluster: str) -> str:
    """The CA file a client of ``cluster`` on ``target`` verifies with (:func:`resolve_ca`)."""
    default = str(Path(target.pki_dir()) / CA_SECRET)
    return resolve_ca(default, target.name == "prod", cluster)


def etcd_client_files(env: Environment, target: Target) -> tuple[str, str] | None:
    """(certificate, key) files the tool presents to etcd on ``target`` (its own client
    certificate, :data:`TOOL_ETCD_CLIENT`, :func:`iklim.model.paths.tool_etcd_client`), or None
    when the model keeps etcd plaintext. etcd with ``--client-cert-auth`` refuses a TLS client
    without one (https://etcd.io/docs/v3.5/op-guide/security/)."""
    if not tls_on(env, "etcd"):
        return None
    return tool_etcd_client(str(target.pki_dir()), target.name == "prod")


def verify(env: Environment, target: Target, cluster: str) -> str | bool:
    """``requests``' ``verify`` for a client of ``cluster``: the CA file when it is on TLS, else
    True (no TLS is spoken, nothing to verify)."""
    return ca_file(env, target, cluster) if tls_on(env, cluster) else True


def ssl_context(env: Environment, target: Target, cluster: str) -> ssl.SSLContext | None:
    """A client ``ssl.SSLContext`` for ``cluster`` that trusts only its CA file and checks the host
    name (urllib's ``context=``); for ``etcd`` it also presents the tool's client certificate
    (:func:`etcd_client_files`). None when the cluster is plaintext. Raises a plain OSError
    naming the file when the CA, certificate or key cannot be read."""
    if not tls_on(env, cluster):
        return None
    import ssl  # only a TLS client pays for it

    cafile = ca_file(env, target, cluster)
    try:
        context = ssl.create_default_context(cafile=cafile)
    except OSError as exc:  # FileNotFoundError, PermissionError, ssl.SSLError (not PEM)
        why = exc.strerror or getattr(exc, "reason", None) or str(exc)
        raise OSError(f"CA file {cafile}: {why}") from None
    pair = etcd_client_files(env, target) if cluster == "etcd" else None
    if pair is not None:
        try:
            context.load_cert_chain(*pair)
        except OSError as exc:
            why = exc.strerror or getattr(exc, "reason", None) or str(exc)
            raise OSError(f"client certificate {pair[0]}: {why}") from None
    return context


def libpq_tls(env: Environment, target: Target) -> dict[str, Any]:
    """libpq's keywords for a client of PostgreSQL on ``target``: ``sslmode=verify-full`` (the
    server's certificate signed by the CA and naming the host dialled) with ``sslrootcert`` the CA
    file, when the model puts ``postgresql`` on TLS; empty when it keeps it plaintext
    (https://www.postgresql.org/docs/16/libpq-ssl.html#LIBPQ-SSL-PROTECTION)."""
    if not tls_on(env, "postgresql"):
        return {}
    return {"sslmode": "verify-full", "sslrootcert": ca_file(env, target, "postgresql")}
