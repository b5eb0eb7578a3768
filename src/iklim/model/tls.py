"""The ``tls`` section of a model: certificate lifetimes and, per cluster, TLS or an explicit
plaintext choice with its reason (issue 17).

Hetzner private networks are isolated but not encrypted, so every listener on them either speaks
TLS or the model says, in words, why it does not yet. The clusters that publish on the private
network or carry secrets between members are listed in :data:`TLS_CLUSTERS`:

- ``vault``: the API and cluster listeners (``listener "tcp"`` ``tls_cert_file``/``tls_key_file``,
  https://developer.hashicorp.com/vault/docs/configuration/listener/tcp);
- ``etcd``: client and peer transport security (``--cert-file``, ``--peer-cert-file``,
  ``--client-cert-auth``, https://etcd.io/docs/v3.5/op-guide/security/);
- ``postgresql``: ``ssl = on`` with the member certificate
  (https://www.postgresql.org/docs/16/ssl-tcp.html);
- ``patroni_api``: the REST API's ``restapi.certfile``/``keyfile``
  (https://patroni.readthedocs.io/en/latest/yaml_configuration.html#rest-api).

Redis, Sentinel and RabbitMQ never leave the overlay (the seed publishes no port for them), so
their choice is about the overlay, listed in :data:`OVERLAY_CLUSTERS`: Docker's
``docker network create --opt encrypted`` turns on IPsec (ESP, AES-GCM) between the nodes for
every container of the overlay, at the cost of per-packet encryption in the kernel and of
ESP (IP protocol 50) having to pass between the nodes; engine TLS (Redis ``tls-port``,
RabbitMQ's ``listeners.ssl``) would protect only that engine and needs its clients changed.
``overlay_encrypted`` records which one the environment chose and why.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: The clusters whose listeners are on the private network, in the order the issue wires them.
TLS_CLUSTERS = ("vault", "etcd", "postgresql", "patroni_api")
#: The overlay-only clusters: their protection is the overlay's encryption or the engine's TLS.
OVERLAY_CLUSTERS = ("redis", "sentinel", "rabbitmq")

Reason = Annotated[str, Field(pattern=r"^[A-Za-z0-9][\x20-\x7E]*$", min_length=3, max_length=300)]
"""Why a cluster is not on TLS: one printable line (it is printed by ``iklim check``)."""

Days = Annotated[int, Field(ge=1, le=36_500, strict=True)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClusterTls(_Strict):
    """One cluster's listeners: ``mode: tls``, or ``mode: plaintext`` with a ``reason``."""

    mode: Literal["tls", "plaintext"]
    reason: Reason | None = None

    @model_validator(mode="after")
    def _reason_for_plaintext(self) -> ClusterTls:
        if self.mode == "plaintext" and self.reason is None:
            raise ValueError("mode: plaintext needs a reason (why this cluster is not on TLS yet)")
        if self.mode == "tls" and self.reason is not None:
            raise ValueError("a reason is only for mode: plaintext; remove it")
        return self


class OverlayTls(_Strict):
    """An overlay-only cluster: whether the overlay is IPsec-encrypted (``--opt encrypted``), and
    why (a reason is always required: either choice is a trade-off)."""

    overlay_encrypted: Annotated[bool, Field(strict=True)]
    reason: Reason


class TlsClusters(_Strict):
    vault: ClusterTls
    etcd: ClusterTls
    postgresql: ClusterTls
    patroni_api: ClusterTls


class OverlayClusters(_Strict):
    redis: OverlayTls
    sentinel: OverlayTls
    rabbitmq: OverlayTls

    def encrypted(self) -> bool:
        """Whether the one overlay they share is created with ``--opt encrypted`` (the three
        agree: :func:`overlay_problems`)."""
        return all(getattr(self, name).overlay_encrypted for name in OVERLAY_CLUSTERS)


class Tls(_Strict):
    """Certificate lifetimes (days) and each cluster's choice.

    ``pki_dir``: the CA folder on the manager (absolute path, no blanks); ``ca_validity_days``: the
    environment CA; ``cert_validity_days``: each member certificate (it cannot outlive the CA);
    ``renew_before_days``: a certificate expiring within this many days is due for renewal (less
    than its validity, or every issue would renew it). Those two relations
    are checked in :func:`lifetime_problems` so each error points at its own key.
    """

    ca_validity_days: Days
    cert_validity_days: Days
    #: The CA folder on the manager (``iklim pki init --dir``; the runbook's ``PKI_DIR`` default):
    #: where a client on the manager finds ``tls_ca_crt`` when ``VAULT_CACERT`` is not set.
    pki_dir: Annotated[str, Field(pattern=r"^/[\x21-\x7E]*$")] = "/root/iklim-pki"
    renew_before_days: Days
    clusters: TlsClusters
    overlay: OverlayClusters

    def plaintext(self) -> dict[str, str]:
        """cluster -> reason for each cluster of :data:`TLS_CLUSTERS` the model keeps plaintext."""
        return {
            name: choice.reason or ""
            for name in TLS_CLUSTERS
            if (choice := getattr(self.clusters, name)).mode == "plaintext"
        }


def lifetime_problems(tls: Tls) -> list[tuple[tuple[str, ...], str]]:
    """(key path, message) for lifetimes that contradict each other; empty when sound."""
    found: list[tuple[tuple[str, ...], str]] = []
    if tls.cert_validity_days > tls.ca_validity_days:
        found.append(
            (
                ("tls", "cert_validity_days"),
                "cert_validity_days cannot exceed ca_validity_days (a certificate cannot outlive its CA)",
            )
        )
    if tls.renew_before_days >= tls.cert_validity_days:
        found.append(
            (
                ("tls", "renew_before_days"),
                "renew_before_days must be less than cert_validity_days (else every issue renews)",
            )
        )
    return found


def overlay_problems(tls: Tls) -> list[tuple[tuple[str, ...], str]]:
    """(key path, message) when the overlay-only clusters disagree on ``overlay_encrypted``: they
    share one overlay network, which is encrypted for every container on it or for none."""
    first = OVERLAY_CLUSTERS[0]
    want = getattr(tls.overlay, first).overlay_encrypted
    return [
        (
            ("tls", "overlay", name, "overlay_encrypted"),
            f"overlay_encrypted must match {first}'s ({str(want).lower()}): the clusters share one overlay network",
        )
        for name in OVERLAY_CLUSTERS[1:]
        if getattr(tls.overlay, name).overlay_encrypted != want
    ]
