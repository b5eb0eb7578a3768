"""What a service publishes on the nodes it runs on: its ``ports`` and the ``host`` network.

A Swarm service attached to the node's ``host`` network shares the node's network stack: every
port it listens on is open on the node's addresses exactly like a ``mode: host`` published port
(and, unlike one, without a ``ports`` entry to show it). The attachment is written as a network
whose deployed name is ``host``: an external network keyed ``host``, or any key with
``name: host`` (``external: {name: host}`` in older files). ``docker stack deploy`` ignores
``network_mode`` ("Ignoring unsupported options: network_mode"), so ``network_mode: host`` puts
nothing on the host network in a stack and is not treated as such here.

The ports a service listens on are those of its component (:data:`LISTEN_PORTS`) or of its
exporter image (:data:`iklim.check.exporters.EXPORTER_PORTS`, moved by ``--web.listen-address``),
the targets of its ``ports``, its ``expose`` entries and any ``--port N`` of its command.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from iklim.check.compose import Port, get_list, get_map, networks, ports
from iklim.check.documents import ServiceRef
from iklim.check.exporters import exporter_ports
from iklim.check.yamlload import Pos, YList, YMap

#: Ports each component listens on (TCP), whatever its configuration publishes.
LISTEN_PORTS: dict[str, tuple[int, ...]] = {
    "etcd": (2379, 2380),
    "patroni": (5432, 8008),
    "mongodb": (27017,),
    "redis": (6379,),
    "sentinel": (26379,),
    "rabbitmq": (4369, 5671, 5672, 15671, 15672, 15692, 25672),
    "apisix": (9080, 9180, 9443, 9091),
    "dashboard": (9000,),
    "swag": (80, 443),
    "prometheus": (9090,),
    "grafana": (3000,),
    "alertmanager": (9093, 9094),
    "vault": (8200, 8201),
}
#: Components that publish nothing in any mode: clients reach them over the overlay network
#: (Alertmanager: only Prometheus talks to it, over the overlay; issue 15).
OVERLAY_ONLY = ("redis", "sentinel", "rabbitmq", "alertmanager")
HOST_NETWORK = "host"
_PORT_FLAG = re.compile(r"--port(?:=|\s+)([0-9]{1,5})\b")


def deployed_name(stack: YMap, key: str) -> str | None:
    """The name of the network a service's ``networks`` key ``key`` attaches to, as
    ``docker stack deploy`` resolves it: ``name``, else ``external.name``, else the key itself for
    an external network; None for a network the stack creates under its own prefix (or an
    undefined one, which Docker refuses)."""
    spec = get_map(stack, "networks")
    if spec is None or key not in spec:
        return None
    net = spec[key]
    if not isinstance(net, YMap):
        return None
    name = net.get("name")
    if isinstance(name, str) and name:
        return name
    external = net.get("external")
    if isinstance(external, YMap):
        ext_name = external.get("name")
        return ext_name if isinstance(ext_name, str) and ext_name else key
    return key if external is True else None


def host_network(ref: ServiceRef) -> Pos | None:
    """Where the service is attached to the node's ``host`` network, else None."""
    for key, (_, pos) in networks(ref.spec).items():
        if deployed_name(ref.stack.data, key) == HOST_NETWORK:
            return pos
    return None


def _number(value: object) -> int | None:
    text = str(value).strip().partition("/")[0]
    if not text.isdigit():
        return None
    number = int(text)
    return number if 1 <= number <= 65535 else None


def listen_ports(ref: ServiceRef) -> list[int]:
    """The TCP ports the service listens on, sorted (see the module docstring)."""
    found = set(LISTEN_PORTS.get(ref.kind or "", ()))
    command = ref.spec.get("command")
    text = " ".join(map(str, command)) if isinstance(command, YList) else str(command or "")
    found.update(exporter_ports(ref.spec.get("image"), text))
    for port in ports(ref.spec):
        number = _number(port.target)
        if number is not None:
            found.add(number)
    for item in get_list(ref.spec, "expose") or YList((1, 1)):
        number = _number(item)
        if number is not None:
            found.add(number)
    found.update(n for m in _PORT_FLAG.finditer(text) if (n := _number(m.group(1))) is not None)
    return sorted(found)


def published(ref: ServiceRef) -> Iterator[Port]:
    """Every port the service opens on its nodes: its ``ports`` entries, then, on the ``host``
    network, each port it listens on as a ``mode: host`` port written where the network is."""
    explicit = list(ports(ref.spec))
    yield from explicit
    pos = host_network(ref)
    if pos is None:
        return
    taken = {p.published[0] for p in explicit if p.mode == "host" and p.published and p.protocol == "tcp"}
    for number in listen_ports(ref):
        if number not in taken:
            yield Port(str(number), (number, number), "tcp", "host", pos)
