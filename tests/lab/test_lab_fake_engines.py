"""The lab's MongoDB and Grafana runners, driven against FAKE binaries.

mongod, mongosh and grafana-server have no package on this machine, so these tests put small
fakes (``tests/lab/fakes``) on PATH. They check the runner's side: the arguments and settings it
derives from the model through the lab target, the rendered rs-init.js it runs, the secrets it
writes 0600/0400, readiness and health, and its errors. Ports used: 127.0.1.1-3:27017 and
127.0.2.1:3000, which the session lab leaves free.
"""

from __future__ import annotations

import os
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from iklim.components import dashboards
from iklim.lab.components.grafana import GrafanaLab
from iklim.lab.components.mongodb import MongoDBLab
from iklim.lab.components.prometheus import PrometheusLab
from iklim.lab.context import LabContext, LabError
from iklim.lab.orchestrator import components
from iklim.model.schema import Environment

FAKES = Path(__file__).parent / "fakes"


@pytest.fixture
def fake_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder of FAKE engine executables, first on PATH."""
    folder = tmp_path / "fake-bin"
    folder.mkdir()
    for name, module in (("mongod", "mongod"), ("mongosh", "mongosh"), ("grafana-server", "grafana_server")):
        exe = folder / name
        exe.write_text(f'#!/bin/sh\nexec {sys.executable} {FAKES / module}.py "$@"\n')
        exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return folder


@pytest.fixture
def ctx(prod_env: Environment, tmp_path: Path) -> Iterator[LabContext]:
    context = LabContext.create(prod_env, tmp_path / "lab", postgres_bin="/usr/lib/postgresql/15/bin")
    yield context
    for name in context.supervisor.names():
        context.supervisor.stop(name, grace=5)


def start(ctx: LabContext, component: MongoDBLab | GrafanaLab) -> list[str]:
    specs = component.processes(ctx)
    for spec in specs:
        ctx.supervisor.start(spec)
    return [s.name for s in specs]


def logs_of(ctx: LabContext) -> str:
    return "".join(p.read_text(errors="replace") for p in ctx.supervisor.log_dir.glob("*.log"))


def test_mongodb_and_grafana_are_lab_components_when_their_binaries_are_on_path(fake_path: Path) -> None:
    by_name = {c.name: c for c in components()}
    assert isinstance(by_name["mongodb"], MongoDBLab) and by_name["mongodb"].missing() is None
    assert isinstance(by_name["grafana"], GrafanaLab) and by_name["grafana"].missing() is None
    prometheus = by_name["prometheus"]
    assert isinstance(prometheus, PrometheusLab) and "grafana" in prometheus.scraped, "a running Grafana is scraped"


def test_mongodb_and_grafana_are_not_available_without_their_binaries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert MongoDBLab().missing() == "not available on this host (mongod, mongosh not found)"
    assert GrafanaLab().missing() == "not available on this host (grafana-server not found)"


def test_fake_mongod_replica_set_is_started_and_initiated_by_the_rendered_script(
    fake_path: Path, ctx: LabContext
) -> None:
    lab = MongoDBLab()
    names = start(ctx, lab)
    assert names == ["mongodb-1", "mongodb-2", "mongodb-3"]
    keyfile = ctx.root / "secrets" / "mongodb_keyfile"
    assert stat.S_IMODE(keyfile.stat().st_mode) == 0o400
    detail = lab.wait_ready(ctx, time.monotonic() + 30)
    assert detail == "replica set rs0, primary 127.0.1.1:27017"
    assert lab.health(ctx) == (True, "3/3 members in the replica set, primary 127.0.1.1:27017")
    script = (ctx.root / "mongodb-1" / "rs-init.js").read_text()
    assert "host: '127.0.1.2:27017'" in script and "'/run/secrets/" not in script
    password = ctx.secret("mongodb_root_password")
    state = (ctx.root / "mongodb-1" / "data" / "fake-mongod.json").read_text()
    assert f'"root": "{password}"' in state, "the root user gets the lab's generated password"
    assert f'"exporter": "{ctx.secret("mongodb_exporter_password")}"' in state
    assert "replica set initiated" in ctx.supervisor.tail("mongodb-init")
    assert "exporter user created" in ctx.supervisor.tail("mongodb-init")
    # A rerun finds the set and root in place, and sets the exporter's (rotated) secret again.
    rotated = ctx.root / "secrets" / "mongodb_exporter_password"
    rotated.write_text("rotated-exporter-secret")
    lab.wait_ready(ctx, time.monotonic() + 30)
    assert "root user present" in ctx.supervisor.tail("mongodb-init")
    assert "exporter user updated" in ctx.supervisor.tail("mongodb-init")
    state = (ctx.root / "mongodb-1" / "data" / "fake-mongod.json").read_text()
    assert '"exporter": "rotated-exporter-secret"' in state
    assert password not in logs_of(ctx)
    ctx.supervisor.stop("mongodb-2", grace=5)
    assert lab.health(ctx) == (False, "2/3 members in the replica set, primary 127.0.1.1:27017")


def test_fake_mongod_refuses_the_exporter_user_unless_the_script_authenticates(
    fake_path: Path, ctx: LabContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    import iklim.lab.components.mongodb as runner

    lab = MongoDBLab()
    start(ctx, lab)
    rendered = runner.rs_init
    monkeypatch.setattr(runner, "rs_init", lambda env, target: rendered(env, target).replace("admin.auth(", "// "))
    with pytest.raises(LabError, match=r"rs-init.js failed \(exit 1\): MongoServerError\[13\]"):
        lab.wait_ready(ctx, time.monotonic() + 30)


def test_mongodb_init_failure_names_the_component_with_the_tool_s_error(fake_path: Path, ctx: LabContext) -> None:
    with pytest.raises(LabError, match=r"^mongodb: rs-init.js failed \(exit 1\): MongoNetworkError"):
        MongoDBLab().initiate(ctx, time.monotonic() + 10)  # no mongod is running


def test_fake_grafana_runs_with_production_settings_and_the_lab_datasource(
    fake_path: Path, ctx: LabContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "grafana-home"
    (home / "conf").mkdir(parents=True)
    (home / "conf" / "defaults.ini").write_text("; fake\n")
    monkeypatch.setenv("IKLIM_GRAFANA_HOME", str(home))
    lab = GrafanaLab()
    [name] = start(ctx, lab)
    detail = lab.wait_ready(ctx, time.monotonic() + 30)
    assert detail == "version fake, datasource http://127.0.2.2:9090"
    assert lab.health(ctx) == (True, "database ok")
    assert (ctx.root / "grafana-1" / "data" / "grafana.db").exists(), "GF_PATHS_DATA is the member's data dir"
    provider = yaml.safe_load((ctx.root / "grafana-1" / "provisioning" / "dashboards" / "iklim.yml").read_text())
    folder = Path(provider["providers"][0]["options"]["path"])
    assert folder.is_relative_to(ctx.root / "grafana-1"), folder
    rendered = {Path(p).name: text for p, text in dashboards.files(ctx.env).items()}
    assert {f.name: f.read_text() for f in folder.iterdir()} == rendered
    password_file = ctx.root / "grafana-1" / "run" / "secrets" / "grafana_admin_password"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert ctx.secret("grafana_admin_password") not in logs_of(ctx)
    ctx.supervisor.stop(name, grace=5)
    ok, words = lab.health(ctx)
    assert not ok and "Connection refused" in words


def test_fake_grafana_without_its_home_exits_and_the_log_says_why(
    fake_path: Path, ctx: LabContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IKLIM_GRAFANA_HOME", str(tmp_path / "nowhere"))
    [name] = start(ctx, GrafanaLab())
    deadline = time.monotonic() + 10
    while not ctx.supervisor.exited(name):
        assert time.monotonic() < deadline, "grafana-server kept running without its home"
        time.sleep(0.05)
    assert "Could not find config defaults" in ctx.supervisor.tail(name)
