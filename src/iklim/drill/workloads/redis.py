"""Redis: one ``RPUSH`` per value to the master Sentinel names, with redis-py's Sentinel client
(``Sentinel.master_for``), as the applications connect (redis.io/docs/latest/develop/reference/sentinel-clients/).

A list keeps duplicates, so a write applied twice shows. A connect that fails, no master known to
the Sentinels, or a refusal by the server (``READONLY`` from a demoted master, ``NOREPLICAS`` under
``min-replicas-to-write``) was not applied: ``fail``. A timeout or a connection lost after sending:
``info``.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import MasterNotFoundError, Sentinel

from iklim.drill.history import Indeterminate, Refused
from iklim.drill.workloads.base import Client, Workload


class RedisClient(Client):
    def __init__(self, sentinel: Sentinel, service: str, password: str, key: str, timeout: float) -> None:
        self.master = sentinel.master_for(  # type: ignore[no-untyped-call]
            service,
            password=password,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),  # redis-py >= 6 retries 3 times by default: a hidden retry blurs the history
        )
        self.key = key

    def write(self, value: str) -> None:
        try:
            self.master.rpush(self.key, value)
        except MasterNotFoundError as exc:
            raise Refused(f"no master: {exc}") from None
        except redis.ConnectionError as exc:
            if "connecting to" in str(exc):
                raise Refused(str(exc)) from None
            raise Indeterminate(str(exc)) from None
        except redis.TimeoutError as exc:
            raise Indeterminate(str(exc) or "timeout") from None
        except (redis.ReadOnlyError, redis.ResponseError) as exc:
            raise Refused(str(exc)) from None

    def close(self) -> None:
        self.master.close()


class RedisWorkload(Workload):
    name = "redis"

    def __init__(
        self, sentinels: Sequence[tuple[str, int]], service: str, password: str, run_id: str, timeout: float = 0.5
    ) -> None:
        self.sentinels, self.service, self.password, self.timeout = list(sentinels), service, password, timeout
        self.key = f"iklim-drill:{run_id}"

    def _sentinel(self, timeout: float) -> Sentinel:
        return Sentinel(  # type: ignore[no-untyped-call]
            self.sentinels, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0)
        )

    def setup(self) -> None:
        master = self._sentinel(2.0).master_for(  # type: ignore[no-untyped-call]
            self.service, password=self.password, socket_timeout=2.0
        )
        master.ping()
        master.close()

    def client(self) -> Client:
        return RedisClient(self._sentinel(self.timeout), self.service, self.password, self.key, self.timeout)

    def final_read(self) -> list[str]:
        master = self._sentinel(2.0).master_for(  # type: ignore[no-untyped-call]
            self.service, password=self.password, socket_timeout=5.0
        )
        try:
            return [v.decode() if isinstance(v, bytes) else str(v) for v in master.lrange(self.key, 0, -1)]
        finally:
            master.close()
