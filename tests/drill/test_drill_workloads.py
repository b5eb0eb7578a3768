"""The workloads' client paths against real engines outside the lab: a single etcd on 127.0.0.1
(the session's ``etcd_endpoint``) and closed ports. A write to nothing is ``fail`` (never sent),
never ``ok``; what is written is what the final read returns."""

from __future__ import annotations

import socket
import time

from iklim.drill.accounting import account
from iklim.drill.history import History
from iklim.drill.workloads.base import Writers
from iklim.drill.workloads.etcd import EtcdWorkload, _prefix_end
from iklim.drill.workloads.patroni import PatroniWorkload
from iklim.drill.workloads.redis import RedisWorkload


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _endpoint(text: str) -> tuple[str, int]:
    host, port = text.rsplit(":", 1)
    return host, int(port)


def test_prefix_end_covers_exactly_the_prefix() -> None:
    import base64

    assert base64.b64decode(_prefix_end("/a/b/")) == b"/a/b0"


def test_etcd_writers_reach_the_rate_and_the_final_read_has_every_acknowledged_value(etcd_endpoint: str) -> None:
    workload = EtcdWorkload([_endpoint(etcd_endpoint)], "unit-run")
    workload.setup()
    history = History()
    writers = Writers(workload, history, "unit-run", rate=100.0, workers=2)
    writers.start()
    time.sleep(1.0)
    writers.stop()
    result = account(history.ops(), workload.final_read())
    # paced, never bursting; a loaded disk (etcd fsyncs each put) may slow it, not stop it
    assert 40 <= result.attempted <= 110, f"{result.attempted} writes in 1 s at 100 Hz"
    assert result.acknowledged == result.attempted and result.valid
    assert result.read == result.acknowledged


def test_etcd_write_to_a_closed_port_fails_then_moves_to_the_next_endpoint(etcd_endpoint: str) -> None:
    closed = ("127.0.0.1", free_port())
    client = EtcdWorkload([closed, _endpoint(etcd_endpoint)], "unit-closed").client()
    history = History()
    first = history.run(0, "write", "a", lambda: client.write("a"))
    second = history.run(0, "write", "b", lambda: client.write("b"))
    client.close()
    assert (first.kind, second.kind) == ("fail", "ok"), first.error


def test_patroni_and_redis_writes_to_nothing_fail() -> None:
    history = History()
    pg = PatroniWorkload([("127.0.0.1", free_port())], "postgres", "x", "unit").client()
    assert history.run(0, "write", "p", lambda: pg.write("p")).kind == "fail"
    rd = RedisWorkload([("127.0.0.1", free_port())], "mymaster", "x", "unit").client()
    assert history.run(0, "write", "r", lambda: rd.write("r")).kind == "fail"
    pg.close()
    rd.close()
