"""Prometheus alerting rules: the shapes, the timings derived from the model, and the rule files.

Each scraped component (a key of :data:`iklim.components.prometheus.JOBS`) gets one rule file,
``config/prometheus/rules/<key>.yml``, holding one group named after the key. An :class:`Alert`
carries a ``severity`` (``critical``: page someone now, the cluster lost redundancy or service;
``warning``: act within the working day) and two annotations: ``summary`` (what is wrong) and
``runbook`` (what the operator does). Annotations are plain text, no templates: the alert's
labels (``instance``, ``scope``...) already say which member.

Timings are derived, never typed in: :func:`after_scrapes` (a multiple of the model's
``prometheus.scrape_interval_s``), :func:`at_least_one_scrape` (an engine timing from the model
rounded up to whole scrape intervals: Prometheus cannot see a state shorter than one scrape) and
:func:`rate_window` (Prometheus's docs recommend a range of at least four scrape intervals for
``rate``/``increase``, so that a missed scrape still leaves two samples).

Rule format: https://prometheus.io/docs/prometheus/latest/configuration/alerting_rules/
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from iklim.model.schema import Environment

Severity = Literal["critical", "warning"]

#: A target is down after this many consecutive failed scrapes (one lost packet is not an outage).
MISSED_SCRAPES = 3
#: Scrape intervals in a ``rate``/``increase`` range (Prometheus docs: at least 4).
RATE_WINDOW_SCRAPES = 4
RULES_DIR = "config/prometheus/rules"
MOUNT_DIR = "/etc/prometheus/rules"


@dataclass(frozen=True)
class Alert:
    """One alerting rule: ``expr`` is PromQL, ``for_s`` seconds it must hold before firing."""

    name: str
    expr: str
    for_s: int
    severity: Severity
    summary: str
    runbook: str


def interval(env: Environment) -> int:
    """The model's scrape (and rule evaluation) interval, seconds."""
    return env.services.prometheus.scrape_interval_s


def after_scrapes(env: Environment, count: int = MISSED_SCRAPES) -> int:
    """``count`` scrape intervals, seconds."""
    return count * interval(env)


def at_least_one_scrape(env: Environment, seconds: float) -> int:
    """``seconds`` rounded up to whole scrape intervals (at least one), seconds."""
    step = interval(env)
    return max(1, math.ceil(seconds / step)) * step


def rate_window(env: Environment) -> str:
    """The range of ``increase``/``rate`` selectors, in PromQL duration syntax."""
    return f"{after_scrapes(env, RATE_WINDOW_SCRAPES)}s"


def quorum(members: int) -> int:
    """Raft/Paxos majority of ``members``: the live members a quorum cluster needs."""
    return members // 2 + 1


def camel(key: str) -> str:
    """``rabbitmq`` -> ``Rabbitmq``: the alert-name prefix of a catalogue key."""
    return "".join(part.capitalize() for part in key.replace("-", "_").split("_"))


def target_down(env: Environment, key: str, label: str, runbook: str) -> Alert:
    """``<Key>TargetDown``: one scrape target of job ``key`` failed :data:`MISSED_SCRAPES` scrapes."""
    return Alert(
        f"{camel(key)}TargetDown",
        f'up{{job="{key}"}} == 0',
        after_scrapes(env),
        "warning",
        f"Prometheus cannot scrape one of the {label} targets",
        runbook,
    )


def members_below(
    env: Environment, key: str, label: str, members: int, runbook: str, *, quorum_cluster: bool = True
) -> list[Alert]:
    """Alerts on the count of job ``key``'s targets that answer: below ``members`` (warning:
    redundancy lost) and, for a quorum cluster, below the majority of ``members`` (critical)."""
    up = f'(sum(up{{job="{key}"}}) or vector(0))'
    missing = Alert(
        f"{camel(key)}MembersMissing",
        f"{up} < {members}",
        after_scrapes(env),
        "warning",
        f"Fewer than the model's {members} {label} members answer: redundancy is reduced",
        runbook,
    )
    if not quorum_cluster:
        return [missing]
    return [
        missing,
        Alert(
            f"{camel(key)}QuorumLost",
            f"{up} < {quorum(members)}",
            after_scrapes(env),
            "critical",
            f"Fewer than {quorum(members)} of {members} {label} members answer: the cluster has no quorum",
            runbook,
        ),
    ]


def rule_file(key: str, alerts: list[Alert]) -> dict[str, Any]:
    """The rule-file document of one component: one group named ``key``."""
    rules = [
        {
            "alert": a.name,
            "expr": a.expr,
            "for": f"{a.for_s}s",
            "labels": {"severity": a.severity, "component": key},
            "annotations": {"summary": a.summary, "runbook": a.runbook},
        }
        for a in alerts
    ]
    return {"groups": [{"name": key, "rules": rules}]}


def rule_path(key: str) -> str:
    """Repo-relative path of component ``key``'s rule file."""
    return f"{RULES_DIR}/{key}.yml"


def mount_path(key: str) -> str:
    """Where the Prometheus service reads component ``key``'s rule file."""
    return f"{MOUNT_DIR}/{key}.yml"
