"""A RabbitMQ member whose boot fails while the cluster forms is started again, as Swarm's
restart policy would (rabbitmq-server#4881: nodes booting together on kept data can race on
feature flags). Driven against a FAKE ``rabbitmq-server`` that fails its first boot; the real
server is covered by the lab's integration tests."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import iklim.lab.components.rabbitmq as runner
from iklim.lab.components.rabbitmq import RabbitMQLab
from iklim.lab.context import LabContext
from iklim.model.schema import Environment

# FAKE server: the first boot of a member logs BOOT FAILED and hangs (the VM stays up, as seen),
# or exits when FAKE_EXIT is set; every later boot logs "booted" and keeps running.
FAKE = """#!/bin/sh
if [ ! -e "$HOME/booted-once" ]; then
  : > "$HOME/booted-once"
  echo "BOOT FAILED"
  echo "Error during startup: {error,{incompatible_feature_flags,{badmap,undefined}}}"
  [ -n "$FAKE_EXIT" ] && exit 1
  exec sleep 60
fi
echo booted
exec sleep 60
"""


@pytest.fixture
def ctx(prod_env: Environment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LabContext]:
    server = tmp_path / "rabbitmq-server"
    server.write_text(FAKE)
    server.chmod(0o755)
    monkeypatch.setattr(runner, "SERVER", str(server))
    context = LabContext.create(prod_env, tmp_path / "lab", postgres_bin="/usr/lib/postgresql/15/bin")
    yield context
    for name in context.supervisor.names():
        context.supervisor.stop(name, grace=2)


def _booted(lab: RabbitMQLab, ctx: LabContext) -> tuple[bool, str]:
    up = [m for m in lab.members(ctx) if "booted" in ctx.supervisor.tail(m, 5)]
    return len(up) == len(lab.members(ctx)), f"{len(up)}/{len(lab.members(ctx))} nodes running"


@pytest.mark.parametrize("exits", [False, True], ids=["vm-stays-up", "vm-exits"])
def test_a_member_whose_boot_failed_is_restarted(ctx: LabContext, monkeypatch: pytest.MonkeyPatch, exits: bool) -> None:
    if exits:
        monkeypatch.setenv("FAKE_EXIT", "1")
    lab = RabbitMQLab()
    monkeypatch.setattr(RabbitMQLab, "_summary", _booted)
    for spec in lab.processes(ctx):
        ctx.supervisor.start(spec)
    detail = lab.wait_ready(ctx, time.monotonic() + 30)
    assert detail.startswith("3/3 nodes running"), detail
    assert "restarted after a failed boot: rabbitmq-1 x1, rabbitmq-2 x1, rabbitmq-3 x1" in detail
    assert lab.restarts_members, "up must leave the restarts to wait_ready"


def test_restarts_are_bounded(ctx: LabContext, monkeypatch: pytest.MonkeyPatch) -> None:
    lab = RabbitMQLab()
    monkeypatch.setattr(RabbitMQLab, "_summary", lambda self, ctx: (False, "0/3 nodes running"))
    monkeypatch.setattr(runner, "MAX_BOOT_RESTARTS", 2)
    for spec in lab.processes(ctx):
        ctx.supervisor.start(spec)
    with pytest.raises(TimeoutError, match="every RabbitMQ node running"):
        lab.wait_ready(ctx, time.monotonic() + 4)
