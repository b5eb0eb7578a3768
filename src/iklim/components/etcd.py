"""etcd: the 3-member DCS on DB nodes, shared by Patroni and APISIX through overlay aliases."""

from __future__ import annotations

from iklim.components.base import (
    Contribution,
    SecretMount,
    healthcheck,
    host_ports,
    member_names,
    overlay,
    pinned_deploy,
)
from iklim.components.target import ProductionTarget, Target
from iklim.components.trust import CA_SECRET, SECRETS_DIR, TOOL_ETCD_CLIENT, scheme, secret_names, secret_path, tls_on
from iklim.model.ports import port_of
from iklim.model.schema import Environment


def client_endpoints(env: Environment, target: Target | None = None) -> list[str]:
    """``host:port`` (the model's ``client`` port) of every member: in production the overlay
    aliases APISIX and Patroni use (their scheme: :func:`iklim.components.trust.scheme` of
    ``etcd``)."""
    plan = target or ProductionTarget(env)
    client = port_of(env.services.etcd, "client")
    return [f"{plan.host(m)}:{client}" for m in member_names("etcd", env.services.etcd.members)]


def _tls_settings(target: Target, member: str) -> dict[str, str]:
    """Client and peer transport security with the member certificate, each side requiring a
    certificate signed by the environment CA (``--client-cert-auth``, ``--peer-client-cert-auth``:
    https://etcd.io/docs/v3.5/op-guide/security/). etcd accepts a peer only when the address it
    connects from is among the peer certificate's IP addresses or one its DNS names resolve to
    (same page, "Notes for TLS authentication"): peers dial each other's node address
    (:func:`peer_address`), and arrive from their own node's address, which their certificates
    name."""
    crt, key = (secret_path(target, member, n) for n in secret_names(member))
    ca = secret_path(target, member, CA_SECRET)
    return {
        "ETCD_CERT_FILE": crt,
        "ETCD_KEY_FILE": key,
        "ETCD_TRUSTED_CA_FILE": ca,
        "ETCD_CLIENT_CERT_AUTH": "true",
        "ETCD_PEER_CERT_FILE": crt,
        "ETCD_PEER_KEY_FILE": key,
        "ETCD_PEER_TRUSTED_CA_FILE": ca,
        "ETCD_PEER_CLIENT_CERT_AUTH": "true",
    }


def peer_address(target: Target, member: str) -> str:
    """Where the other members reach ``member``'s peer listener: its node's private IP in
    production (the peer port is published in host mode), its loopback address in the lab.

    Not the overlay name: Swarm publishes a task's names only once its healthcheck has passed
    (moby/moby#35451), so peers found by name need a healthcheck that passes before quorum,
    which with peer TLS nothing in the etcd image can give (etcd serves gRPC on a TLS peer
    listener behind a second TLS layer, "first record does not look like a TLS handshake": seen
    with etcd 3.4 here; the client listener answers only after quorum). By address, the members
    form the cluster whatever their health, and the healthcheck may ask the client listener.
    """
    return target.endpoint(member, "peer").host


def member_settings(env: Environment, target: Target, member: str) -> dict[str, str]:
    """One member's etcd settings as ``ETCD_*`` variables (production container or lab process);
    with TLS (the model's ``tls.clusters.etcd``) every URL is ``https`` and :func:`_tls_settings`
    adds the certificate files."""
    spec = env.services.etcd
    host, listen = target.host(member), target.listen(member)
    client, peer = port_of(spec, "client"), port_of(spec, "peer")
    s = scheme(env, "etcd")
    members = member_names("etcd", spec.members)
    cluster = ",".join(f"{target.host(m)}={s}://{peer_address(target, m)}:{peer}" for m in members)
    return {
        "ETCD_NAME": host,
        "ETCD_DATA_DIR": target.data_dir(member, spec.volume.target if spec.volume else "/etcd-data"),
        "ETCD_LISTEN_CLIENT_URLS": f"{s}://{listen}:{client}",
        "ETCD_ADVERTISE_CLIENT_URLS": f"{s}://{host}:{client}",
        "ETCD_LISTEN_PEER_URLS": f"{s}://{listen}:{peer}",
        "ETCD_INITIAL_ADVERTISE_PEER_URLS": f"{s}://{peer_address(target, member)}:{peer}",
        "ETCD_INITIAL_CLUSTER": cluster,
        "ETCD_INITIAL_CLUSTER_STATE": "new",
        "ETCD_HEARTBEAT_INTERVAL": str(spec.heartbeat_interval_ms),
        "ETCD_ELECTION_TIMEOUT": str(spec.election_timeout_ms),
        "ETCD_AUTO_COMPACTION_MODE": "periodic",
        "ETCD_AUTO_COMPACTION_RETENTION": "1h",
        "ETCD_QUOTA_BACKEND_BYTES": str(4 * 1024**3),
        **(_tls_settings(target, member) if tls_on(env, "etcd") else {}),
    }


def liveness_check(env: Environment, member: str = "etcd-1") -> list[str]:
    """The member's Docker healthcheck: ``etcdctl endpoint status`` on its own listener.

    Shape: a compose ``CMD`` list. ``endpoint status`` (``Maintenance.Status``) says "this
    member's server runs and answers", never "the cluster has quorum": it answers without a
    leader (reporting ``etcdserver: no leader`` in ``errors``, exit 0); quorum is ``iklim
    status``'s and Prometheus's job. The pinned image (quay.io/coreos/etcd v3.5, built ``FROM
    gcr.io/distroless/static``) has no shell and no HTTP client, only ``etcd``, ``etcdctl`` and
    ``etcdutl``, hence ``etcdctl``.

    Plaintext: the member's PEER port. Members then find each other by overlay name, which Swarm
    publishes only once a task's healthcheck has passed (moby/moby#35451, #36737), so the check
    must pass before quorum; etcd serves the v3 API on the peer listener from the start
    (``embed/etcd.go`` ``servePeers``) but the client listener only after joining a quorum
    (``embed/serve.go``: ``serve`` waits on ``ReadyNotify``).

    TLS: the CLIENT port, with the member's own certificate (client and server, naming
    127.0.0.1) and the CA. etcd's peer listener then answers gRPC only behind a second TLS layer,
    which no client speaks; the peers address each other by node address (:func:`peer_address`),
    so the cluster forms before any member is healthy, and the check passes once the member has
    joined it.
    """
    spec = env.services.etcd
    if not tls_on(env, "etcd"):
        endpoint = f"http://127.0.0.1:{port_of(spec, 'peer')}"
        tls: list[str] = []
    else:
        endpoint = f"https://127.0.0.1:{port_of(spec, 'client')}"
        crt, key = secret_names(member)
        tls = [f"--cacert={SECRETS_DIR}/{CA_SECRET}", f"--cert={SECRETS_DIR}/{crt}", f"--key={SECRETS_DIR}/{key}"]
    return [
        "CMD",
        "etcdctl",
        f"--endpoints={endpoint}",
        *tls,
        "--dial-timeout=2s",
        "--command-timeout=3s",
        "endpoint",
        "status",
    ]


def contribute(env: Environment) -> Contribution:
    spec = env.services.etcd
    out = Contribution()
    target = ProductionTarget(env)
    data_dir = spec.volume.target if spec.volume else "/etcd-data"
    tls = tls_on(env, "etcd")
    if tls:  # no service mounts it: the status job does (iklim.status.swarmjob), when the Swarm has it
        out.file_secrets += list(secret_names(TOOL_ETCD_CLIENT))
    for service, alias, node in zip(member_names("etcd", spec.members), spec.aliases, spec.nodes, strict=True):
        volume = f"{service}-data"
        out.volumes.append(volume)
        deploy = pinned_deploy(spec.placement, node)
        if tls:
            crt, key = secret_names(service)
            out.file_secrets += [crt, key]
            out.secret_mounts[service] = [
                SecretMount(CA_SECRET, mode=0o444),
                SecretMount(crt, mode=0o444),
                SecretMount(key, mode=0o400),
            ]
        out.services[service] = {
            "image": spec.image,
            "hostname": alias,
            # The cluster token is an identifier, not a secret; a flag keeps it out of the
            # environment, where secret scanners look for *TOKEN* names.
            "command": ["/usr/local/bin/etcd", f"--initial-cluster-token={spec.cluster_token}"],
            "environment": member_settings(env, target, service),
            "volumes": [f"{volume}:{data_dir}"],
            "networks": overlay(env, alias),
            "ports": host_ports(spec.ports),
            "healthcheck": healthcheck(liveness_check(env, service)),
            "stop_grace_period": "30s",
            "deploy": deploy,
        }
    return out
