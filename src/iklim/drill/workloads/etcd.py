"""etcd: one ``put`` per value through the v3 JSON gateway, as Patroni's etcd3 DCS and APISIX use it.

Keys are ``<prefix><value>``; the final read is a linearizable range over the prefix. Endpoints are
tried in order; a refused connection, or a refused TLS handshake, moves the client to the next one
(the write was never sent: ``fail``). With an ``ssl.SSLContext`` (the model puts etcd on TLS) every
request is https, the member's certificate verified and the tool's client certificate presented.
Any error after the request was sent (a timeout, a reset, an etcd error such as "request timed
out" or "leader changed") may or may not have been applied: ``info``.
Source: etcd API guide, gRPC gateway (etcd.io/docs/v3.4/dev-guide/api_grpc_gateway/).
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
from collections.abc import Sequence
from typing import Any

from iklim.drill.history import Indeterminate, Refused
from iklim.drill.workloads.base import Client, Workload

Endpoint = tuple[str, int]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _prefix_end(prefix: str) -> str:
    """The exclusive end of the key range holding every key that starts with ``prefix``."""
    raw = prefix.encode()
    return base64.b64encode(raw[:-1] + bytes([raw[-1] + 1])).decode()


def _connection(host: str, port: int, timeout: float, context: ssl.SSLContext | None) -> http.client.HTTPConnection:
    """An unopened connection to ``host:port``: https with ``context``, else plain HTTP."""
    if context is not None:
        return http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    return http.client.HTTPConnection(host, port, timeout=timeout)


class EtcdClient(Client):
    def __init__(
        self, endpoints: Sequence[Endpoint], prefix: str, timeout: float, context: ssl.SSLContext | None = None
    ) -> None:
        self.endpoints, self.prefix, self.timeout, self.context = list(endpoints), prefix, timeout, context
        self.index = 0
        self.conn: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self.conn is None:
            host, port = self.endpoints[self.index]
            conn = _connection(host, port, self.timeout, self.context)
            try:
                conn.connect()
            except OSError as exc:
                conn.close()
                self.index = (self.index + 1) % len(self.endpoints)
                raise Refused(f"{host}:{port}: {exc}") from None
            self.conn = conn
        return self.conn

    def _drop(self, rotate: bool) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if rotate:
            self.index = (self.index + 1) % len(self.endpoints)

    def write(self, value: str) -> None:
        conn = self._connect()
        body = json.dumps({"key": _b64(self.prefix + value), "value": _b64(value)})
        try:
            conn.request("POST", "/v3/kv/put", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            reply = response.read()
        except OSError as exc:  # timeout, reset: sent, outcome unknown
            self._drop(rotate=True)
            raise Indeterminate(str(exc) or type(exc).__name__) from None
        except http.client.HTTPException as exc:
            self._drop(rotate=True)
            raise Indeterminate(type(exc).__name__) from None
        if response.status != 200:
            self._drop(rotate=True)
            raise Indeterminate(f"HTTP {response.status}: {reply[:120].decode(errors='replace')}")

    def close(self) -> None:
        self._drop(rotate=False)


class EtcdWorkload(Workload):
    name = "etcd"

    def __init__(
        self, endpoints: Sequence[Endpoint], run_id: str, timeout: float = 1.0, context: ssl.SSLContext | None = None
    ) -> None:
        self.endpoints, self.timeout, self.context = list(endpoints), timeout, context
        self.prefix = f"/iklim-drill/{run_id}/"

    def setup(self) -> None:
        self._post("/v3/kv/range", {"key": _b64(self.prefix), "count_only": True})

    def client(self) -> Client:
        return EtcdClient(self.endpoints, self.prefix, self.timeout, self.context)

    def final_read(self) -> list[str]:
        body = {"key": _b64(self.prefix), "range_end": _prefix_end(self.prefix)}
        reply = self._post("/v3/kv/range", body)
        return [base64.b64decode(kv["value"]).decode() for kv in reply.get("kvs", [])]

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST to the first endpoint that answers 200; raises OSError naming the last failure."""
        last = "no endpoints"
        for host, port in self.endpoints:
            conn = _connection(host, port, 10, self.context)
            try:
                conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
                response = conn.getresponse()
                data = response.read()
                if response.status == 200:
                    parsed: dict[str, Any] = json.loads(data)
                    return parsed
                last = f"{host}:{port}{path}: HTTP {response.status}"
            except (OSError, http.client.HTTPException, ValueError) as exc:
                last = f"{host}:{port}{path}: {exc}"
            finally:
                conn.close()
        raise OSError(last)
