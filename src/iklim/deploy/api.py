"""The seams between the parts of ``iklim deploy`` (one abstract interface per seam).

- :class:`ServiceApplier` brings one Swarm service to its desired spec and waits until it has
  converged (:mod:`iklim.deploy.apply` implements it with the Docker Engine API), or puts back the
  spec it had before this deploy.
- :class:`Hooks` is called by the runner around each stateful cluster's roll (secret rotation:
  :mod:`iklim.deploy.rotation` makes the old and the new value both work before the first member
  restarts, and retires the old one once every service, stateless ones too, has converged).
- :class:`DeployError` is every failure, as one line.

The runner (:mod:`iklim.deploy.runner`) orders the plan's changed services: etcd before Patroni,
within a stateful cluster the replicas and followers first, then a verified hand-over, then the
former leader; stateless services last.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence


class DeployError(RuntimeError):
    """A deploy step failed; the message is one line saying which service or cluster and why."""


class ServiceApplier(ABC):
    """Applies the desired spec of one service at a time (full Swarm names, e.g. ``iklimco_etcd-1``)."""

    @abstractmethod
    def apply(self, service: str) -> int:
        """Update (or create) ``service`` to its desired spec and wait until it has converged.

        Converged: the update is ``completed`` (or the service was created), a task of the new
        spec version is running and its container is healthy where a healthcheck is declared.
        Returns the service's new version index. Raises :class:`DeployError` when the update
        fails, is paused or rolled back by Swarm, or does not converge within its deadline.
        """

    @abstractmethod
    def rollback(self, service: str) -> None:
        """Put ``service`` back to the spec it had before this deploy's :meth:`apply` and wait
        until it has converged (a created service is removed). Raises :class:`DeployError`."""


class Hooks:
    """Callbacks around the roll of one stateful cluster (no-ops by default)."""

    def before_cluster(self, cluster: str, services: Sequence[str]) -> None:
        """Called once before the first of ``services`` (members of ``cluster``) is applied.
        Raises :class:`DeployError` to stop the deploy before anything of the cluster restarted."""
        return None

    def after_cluster(self, cluster: str, services: Sequence[str]) -> None:
        """Called once after every one of ``services`` was applied and the cluster is healthy."""
        return None

    def rejoin_blocked(self, cluster: str) -> bool:
        """True when the members of ``cluster`` not yet restarted cannot rejoin a new leader until
        they restart (a PostgreSQL role has one password: a demoted primary still on the old
        replication password cannot stream). The runner then skips the health wait between the
        hand-over and the former leader's restart; the wait after that restart still applies."""
        return False

    def undo(self) -> list[str]:
        """Called first when a deploy is rolled back: put back what :meth:`before_cluster` changed
        inside the engines, so the members rolled back to their previous specs work. Returns the
        errors, one line each; never raises."""
        return []

    def after_deploy(self) -> None:
        """Called once after every service (stateless ones too) converged and Swarm's monitor
        windows passed, before the clean-up: the point of no rollback. Raises :class:`DeployError`;
        the deploy then reports the error without rolling back (the new specs stay)."""
        return None
