"""An etcd member's healthcheck must not need the cluster's quorum.

Swarm adds a task to Docker's DNS (its service name, aliases and hostname) only once the task's
healthcheck has passed. An etcd member finds its peers by those names, so a healthcheck that
needs quorum can never pass while the cluster forms: every member waits for names that are
published only when quorum exists, is killed as unhealthy, and starts again, forever. Needing
quorum: ``endpoint health`` (a linearizable read), ``--cluster`` and ``member list`` (the peers),
and any request to the *client* listener, which etcd serves only once the member has published
itself through Raft (``ReadyNotify``); ``etcdctl`` without ``--endpoints`` asks the client port
2379. Ask the member's own *peer* listener (``endpoint status`` against its
``ETCD_LISTEN_PEER_URLS`` port, 2380 by default), which answers before quorum. Source: Docker's
service discovery publishes healthy tasks only (docs.docker.com/engine/swarm/networking); etcd
serves clients after ``ReadyNotify`` (etcd ``server/embed/etcd.go``, ``serveClients``); seen on
the Swarm lab.

A member whose ``ETCD_INITIAL_CLUSTER`` (or ``--initial-cluster``) addresses every peer by IP
address does not wait for any name, so its healthcheck may need quorum: that is how a cluster
with peer TLS is built, since etcd answers gRPC on a TLS peer listener only behind a second TLS
layer that no client speaks (``components/etcd.py``, ``peer_address``).

Failing example::

    services:
      etcd-1:
        image: quay.io/coreos/etcd:v3.5.17
        healthcheck:
          test: ["CMD", "etcdctl", "endpoint", "health"]

Passing example::

    services:
      etcd-1:
        image: quay.io/coreos/etcd:v3.5.17
        healthcheck:
          test: ["CMD", "etcdctl", "--endpoints=http://127.0.0.1:2380", "endpoint", "status"]

Passing example::

    services:
      etcd-1:
        image: quay.io/coreos/etcd:v3.5.17
        environment:
          ETCD_INITIAL_CLUSTER: etcd-01=https://10.0.2.11:2380,etcd-02=https://10.0.2.12:2380
        healthcheck:
          test: ["CMD", "etcdctl", "--endpoints=https://127.0.0.1:2379", "endpoint", "status"]
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from iklim.check.compose import environment, get_list, get_map
from iklim.check.documents import Documents
from iklim.check.findings import Finding, Severity
from iklim.check.policy import Policy
from iklim.check.rules.base import Rule
from iklim.check.yamlload import YMap

#: etcdctl sub-commands and flags whose answer needs the peers (quorum or every member).
_DEFAULT_PEER_PORT = "2380"
_NEEDS_QUORUM = re.compile(r"\bendpoint\s+(?:health|hashkv)\b|--cluster\b|\bmember\s+list\b")


def _test_text(healthcheck: object) -> str:
    test = healthcheck.get("test") if isinstance(healthcheck, dict) else None
    if isinstance(test, list):
        return " ".join(str(item) for item in test)
    return str(test or "")


_ENDPOINTS = re.compile(r"(?:--endpoints[= ]|ETCDCTL_ENDPOINTS=)(\S+)")
_HTTP_URL = re.compile(r"https?://[^\s:/\"']+:(\d+)")
_PORT = re.compile(r":(\d+)(?:/|$)")


def _peer_port(ref_spec: object) -> str:
    """The member's peer listener port: from ``ETCD_LISTEN_PEER_URLS`` or ``--listen-peer-urls``."""
    for name, value, _raw, _pos in environment(ref_spec) if isinstance(ref_spec, YMap) else ():
        if name == "ETCD_LISTEN_PEER_URLS" and value is not None:
            found = _PORT.search(str(value).split(",")[0])
            if found:
                return found.group(1)
    command = get_list(ref_spec, "command")
    text = " ".join(str(c) for c in command) if command is not None else ""
    found = re.search(r"--listen-peer-urls[= ]\S*?:(\d+)", text)
    return found.group(1) if found else _DEFAULT_PEER_PORT


_PEER_HOST = re.compile(r"=\s*[a-z]+://(\[[^\]]*\]|[^:/,\s]+)")


def _peers_by_address(ref_spec: object) -> bool:
    """Whether the member's initial cluster names every peer by IP address (no name to wait for)."""
    text = ""
    for name, value, _raw, _pos in environment(ref_spec) if isinstance(ref_spec, YMap) else ():
        if name == "ETCD_INITIAL_CLUSTER" and value is not None:
            text = str(value)
    if not text:
        command = get_list(ref_spec, "command")
        found = re.search(r"--initial-cluster[= ](\S+)", " ".join(str(c) for c in command or []))
        text = found.group(1) if found else ""
    hosts = _PEER_HOST.findall(text)
    return bool(hosts) and all(_is_address(h.strip("[]")) for h in hosts)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _problem(test: str, peer: str) -> str | None:
    """Why ``test`` needs quorum, or None."""
    found = _NEEDS_QUORUM.search(test)
    if found:
        return f"`{found.group(0)}` needs quorum"
    if "etcdctl" not in test:  # curl/wget: /health and /readyz, which the client port serves after quorum
        other = [port for port in _HTTP_URL.findall(test) if port != peer]
        return f"an HTTP request to port {other[0]}, not the peer port {peer}" if other else None
    endpoints = _ENDPOINTS.search(test)
    if endpoints is None:
        return "etcdctl without --endpoints asks the client port 2379, served only after quorum"
    ports = {m.group(1) for m in _PORT.finditer(endpoints.group(1).replace(",", "/ "))}
    if ports != {peer}:
        url = endpoints.group(1)
        return f"--endpoints={url} is not the member's peer port {peer} (a client port answers only after quorum)"
    return None


def check(docs: Documents, policy: Policy) -> Iterator[Finding]:
    for ref in docs.services():
        if ref.kind != "etcd":
            continue
        healthcheck = get_map(ref.spec, "healthcheck")
        if healthcheck is None or _peers_by_address(ref.spec):
            continue
        why = _problem(_test_text(healthcheck), _peer_port(ref.spec))
        if why:
            pos = healthcheck.at("test") if "test" in healthcheck else ref.key_pos
            yield RULE.on(
                ref,
                pos,
                f"the healthcheck: {why}, which needs the peers' names, which Swarm publishes only for "
                "healthy tasks: the cluster can never form; plaintext: ask the member's own peer listener "
                "(`etcdctl --endpoints=http://127.0.0.1:2380 endpoint status`); TLS (whose peer listener "
                "answers no client): address the peers by node IP in ETCD_INITIAL_CLUSTER",
            )


RULE = Rule("healthcheck-quorum", Severity.ERROR, __doc__ or "", check)
