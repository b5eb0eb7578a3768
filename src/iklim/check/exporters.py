"""The ports common Prometheus exporters (and their kin) listen on, recognised by image.

Exporters are companions, not components (:data:`iklim.check.kinds.COMPANIONS`), so they have no
entry in :data:`iklim.check.publish.LISTEN_PORTS`; on the ``host`` network they still open their
metrics port on every address of the node. The port is the image's default unless the command
moves it with ``--web.listen-address=[HOST]:PORT`` (``-web.listen-address`` for redis_exporter).
"""

from __future__ import annotations

import re

from iklim.check.recognise import repository

#: Last path element of the image repository (``oliver006/redis_exporter`` -> ``redis_exporter``,
#: ``-``/``_`` alike) -> the TCP ports it listens on by default.
EXPORTER_PORTS: dict[str, tuple[int, ...]] = {
    "node-exporter": (9100,),
    "haproxy-exporter": (9101,),
    "statsd-exporter": (9102, 9125),
    "mysqld-exporter": (9104,),
    "consul-exporter": (9107,),
    "nginx-prometheus-exporter": (9113,),
    "nginx-exporter": (9113,),
    "elasticsearch-exporter": (9114,),
    "blackbox-exporter": (9115,),
    "snmp-exporter": (9116,),
    "apache-exporter": (9117,),
    "redis-exporter": (9121,),
    "pgbouncer-exporter": (9127,),
    "memcached-exporter": (9150,),
    "postgres-exporter": (9187,),
    "mongodb-exporter": (9216,),
    "process-exporter": (9256,),
    "rabbitmq-exporter": (9419,),
    "pushgateway": (9091,),
    "alertmanager": (9093,),
    "cadvisor": (8080,),
}
LISTEN_FLAG = re.compile(r"(?:^|\s)--?web\.listen-address(?:=|\s+)['\"]?[^\s:'\"]*:([0-9]{1,5})\b")


def exporter_ports(image: object, command: str) -> tuple[int, ...]:
    """The TCP ports an exporter image listens on (() for any other image); ``command`` is its
    command line joined by blanks, whose ``--web.listen-address`` port replaces the default."""
    repo = repository(image) if isinstance(image, str) else None
    if repo is None:
        return ()
    defaults = EXPORTER_PORTS.get(repo.rsplit("/", 1)[-1].replace("_", "-"), ())
    moved = [int(m.group(1)) for m in LISTEN_FLAG.finditer(command)]
    if moved:
        return tuple(n for n in moved if 1 <= n <= 65535)
    return defaults
