"""What dashboard panels are derived from: the model, the scrape jobs, the rate window.

:class:`Ctx` holds each catalogue key's scrape job name (read from
:data:`iklim.components.prometheus.JOBS`, never copied) and the number of targets it scrapes;
:func:`up_panel` is the "targets up" stat every component dashboard and the overview show.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from iklim.components.grafana_json import Panel, Query, count_steps
from iklim.components.prometheus import JOBS
from iklim.components.target import ProductionTarget
from iklim.model.catalogue import entry
from iklim.model.schema import Environment


@dataclass(frozen=True)
class Ctx:
    """What panels are derived from: the model, each key's scrape job name and target count, the
    rate window (four scrape intervals, so a ``rate`` always spans several samples)."""

    env: Environment
    jobs: dict[str, str]
    targets: dict[str, int]
    window: str

    def sel(self, key: str, **labels: str) -> str:
        """A PromQL label selector for ``key``'s job plus ``labels``, values quoted as PromQL strings;
        a value starting with ``!`` is a negative match (``redis_mode="!sentinel"``)."""
        pairs = [("job", self.jobs[key]), *labels.items()]
        return "{" + ",".join(f"{k}{_op(v)}{_quote(v.removeprefix('!'))}" for k, v in pairs) + "}"


def _op(value: str) -> str:
    return "!=" if value.startswith("!") else "="


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def context(env: Environment) -> Ctx:
    """The :class:`Ctx` of ``env``: job names and expected target counts from the rendered jobs."""
    target = ProductionTarget(env)
    jobs: dict[str, str] = {}
    targets: dict[str, int] = {}
    for key, job in JOBS.items():
        config = job(env, target)
        jobs[key] = str(config["job_name"])
        static = [t for block in config.get("static_configs", []) for t in block["targets"]]
        # a DNS-discovered job (APISIX's tasks.<service>) has one target per member of its section
        targets[key] = len(static) or getattr(env.services, entry(key).section).members
    return Ctx(env, jobs, targets, f"{4 * env.services.prometheus.scrape_interval_s}s")


def majority(members: int) -> int:
    """The members a Raft or Paxos-style cluster of ``members`` needs to work."""
    return members // 2 + 1


def up_panel(c: Ctx, key: str, title: str = "") -> Panel:
    """Targets of ``key``'s job answering their scrape, against the count the job has."""
    total = c.targets[key]
    quorum = majority(total) if entry(key).quorum else total
    return Panel(
        title or f"{entry(key).label}: targets up",
        (Query(f"sum(up{c.sel(key)})"),),
        key,
        kind="stat",
        steps=count_steps(total, quorum),
        description=f"Scrape targets of job {c.jobs[key]} that answer, of {total}.",
    )


PanelSource = Callable[[Ctx], list[Panel]]
