"""The one interface every component probe implements, and what a probe is handed.

A probe is two functions: ``observe`` asks the component's endpoints (through the transport) and
returns an immutable snapshot of what it saw; ``evaluate`` is pure and turns that snapshot into a
:class:`~iklim.status.report.Report`. ``peers`` holds the reports of the probes listed before it
(Prometheus uses them to tell a known outage from a broken scrape).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from iklim.model.paths import resolve_ca, tool_etcd_client
from iklim.status.plan import ComponentPlan, Endpoint
from iklim.status.report import Report
from iklim.status.secrets import Secrets
from iklim.status.transport import HttpReply, ProbeError, Transport

S = TypeVar("S")
X = TypeVar("X")
T = TypeVar("T")


@dataclass(frozen=True)
class ProbeContext:
    transport: Transport
    plan: ComponentPlan
    secrets: Secrets
    deadline: float

    def remaining(self) -> float:
        return max(0.001, self.deadline - time.monotonic())

    def http(
        self,
        method: str,
        endpoint: Endpoint,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        timeout: float | None = None,
    ) -> HttpReply:
        """One request; ``timeout`` caps this call below the probe's remaining time. A component
        whose plan settings say ``tls`` is asked over TLS, verified with its CA file
        (:func:`iklim.model.paths.resolve_ca`); with ``client_cert`` too, the tool's client
        certificate from the same folder is presented (:func:`iklim.model.paths.tool_etcd_client`)."""
        limit = self.remaining() if timeout is None else min(timeout, self.remaining())
        settings = self.plan.settings
        tls: dict[str, Any] = {}
        if settings.get("tls"):
            production = bool(settings.get("production"))
            tls["ca_file"] = resolve_ca(str(settings["ca_default"]), production, self.plan.name)
            if settings.get("client_cert"):
                tls["client_cert"] = tool_etcd_client(os.path.dirname(str(settings["ca_default"])), production)
        return self.transport.http(
            method, endpoint.host, endpoint.port, path, timeout=limit, headers=headers, body=body, **tls
        )

    def first_answer(
        self, fn: Callable[[Endpoint], T]
    ) -> tuple[tuple[Endpoint, T] | None, tuple[tuple[str, str], ...]]:
        """Ask every endpoint in parallel: the first (in plan order) that answered, and each error."""
        endpoints = self.plan.endpoints
        answers = self.each(endpoints, fn)
        errors = tuple((e.member, str(a)) for e, a in zip(endpoints, answers, strict=True) if isinstance(a, ProbeError))
        for endpoint, answer in zip(endpoints, answers, strict=True):
            if not isinstance(answer, ProbeError):
                return (endpoint, answer), errors
        return None, errors

    def each(self, items: Sequence[X], fn: Callable[[X], T]) -> list[T | ProbeError]:
        """``fn`` on every item in parallel threads; a failure becomes that item's ProbeError.
        Each call's HTTP requests to one endpoint share a connection (``transport.reusing``)."""
        results: list[T | ProbeError] = [ProbeError("timed out (no answer before the deadline)")] * len(items)

        def run(index: int, item: X) -> None:
            try:
                with self.transport.reusing():
                    results[index] = fn(item)
            except ProbeError as exc:
                results[index] = exc
            except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
                results[index] = ProbeError(f"unexpected answer ({type(exc).__name__}: {exc})")

        if len(items) == 1:
            run(0, items[0])
            return results
        threads = [threading.Thread(target=run, args=(i, item), daemon=True) for i, item in enumerate(items)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(self.remaining())
        return list(results)


class Probe(Protocol[S]):
    name: str

    def observe(self, ctx: ProbeContext) -> S:
        """Ask the endpoints; return an immutable snapshot. Unreachable members are data, not errors."""

    def evaluate(self, snapshot: S, plan: ComponentPlan, peers: Mapping[str, Report]) -> Report:
        """Judge the snapshot: healthy / degraded / down, with the reason in words."""


def expect_json(reply: HttpReply, what: str) -> Any:
    """The JSON body of a 2xx reply, else a ProbeError naming the status."""
    if not 200 <= reply.status < 300 or reply.body is None:
        raise ProbeError(f"{what}: HTTP {reply.status}")
    return reply.body


def join_words(parts: Sequence[str]) -> str:
    return "; ".join(p for p in parts if p)


def tolerance_words(count: int) -> str:
    return f"tolerates {count} more failure{'' if count == 1 else 's'}"
