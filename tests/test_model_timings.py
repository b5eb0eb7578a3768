"""The model's failover timing relations (iklim.model.timings): each rule trips on a value the
engine would accept alone, at the offending key's line, and the production model passes them."""

from __future__ import annotations

import pytest

from iklim.components.patroni import member_config
from iklim.components.target import ProductionTarget
from iklim.model.loader import parse_environment
from iklim.model.schema import Environment
from iklim.model.timings import timing_problems
from tests.test_model import PROD_TEXT, line_of, problems_of, replace_once


def test_production_timings_hold(prod_env: Environment) -> None:
    assert list(timing_problems(prod_env)) == []
    pat, etcd = prod_env.services.patroni, prod_env.services.etcd
    # The issue 11 choices, with their safety margin: 3 s per etcd request > a 1 s worst election.
    assert pat.retry_timeout * 1000 / etcd.members > 2 * etcd.election_timeout_ms
    assert pat.synchronous_mode


@pytest.mark.parametrize(
    ("old", "new", "key", "words"),
    [
        # retry_timeout 3: 1 s per etcd member, not longer than a 0.5-1 s etcd election (lab: demoted 3/13).
        ("    retry_timeout: 9 ", "    retry_timeout: 3 ", "retry_timeout: 3", "demotes the primary"),
        # the old etcd timings with the new retry_timeout: a 2.5-5 s election outlasts 3 s per request.
        ("    election_timeout_ms: 500 ", "    election_timeout_ms: 2500 ", "retry_timeout: 9", "demotes the primary"),
        ("    election_timeout_ms: 500 ", "    election_timeout_ms: 200 ", "election_timeout_ms: 2", "5 x heartbeat"),
        ("    loop_wait: 2 ", "    loop_wait: 3 ", "ttl: 20", "loop_wait + 2 x retry_timeout <= ttl"),
        ("    synchronous_mode: true ", "    synchronous_mode: false ", "synchronous_mode_strict", "needs synchronous"),
    ],
)
def test_a_risky_timing_is_reported_at_its_line(old: str, new: str, key: str, words: str) -> None:
    text = replace_once(PROD_TEXT, old, new)
    if "synchronous_mode: false" in new:
        text = replace_once(text, "    synchronous_mode_strict: false ", "    synchronous_mode_strict: true ")
    found = problems_of(text)
    assert any(p.startswith(f"prod.yaml:{line_of(text, key)}:") and words in p for p in found), found


def test_ttl_below_patronis_floor_is_refused() -> None:
    """Patroni 4 raises a ttl below 20 by itself (patroni/config.py): the model refuses it instead."""
    (problem,) = problems_of(replace_once(PROD_TEXT, "    ttl: 20 ", "    ttl: 15 "))
    assert "services.patroni.ttl" in problem


@pytest.mark.parametrize("strict", [False, True])
def test_the_synchronous_modes_reach_patronis_bootstrap_config(strict: bool) -> None:
    chosen = f"    synchronous_mode_strict: {str(strict).lower()} "
    text = replace_once(PROD_TEXT, "    synchronous_mode_strict: false ", chosen)
    env = parse_environment(text, "prod.yaml")
    dcs = member_config(env, ProductionTarget(env), "patroni-1")["bootstrap"]["dcs"]
    assert (dcs["synchronous_mode"], dcs["synchronous_mode_strict"]) == (True, strict)
    assert (dcs["ttl"], dcs["loop_wait"], dcs["retry_timeout"]) == (20, 2, 9)
