"""``iklim render`` refuses a tree ``iklim check`` rejects (issue 13): the checker runs on the tree
in a private temporary folder before anything is written; an error finding writes nothing (exit
2) and is printed at the path the file would have below --out, with the model key behind it."""

from __future__ import annotations

import ast
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import iklim.render.tree as tree_module
from iklim.cli import cli
from iklim.components.base import Contribution
from iklim.model.schema import Environment
from iklim.render.gate import model_key

REPO = Path(__file__).resolve().parents[2]
PROD_MODEL = REPO / "environments" / "prod.yaml"
PROD_TEXT = PROD_MODEL.read_text()
SERVICES = {
    "etcd",
    "patroni",
    "mongodb",
    "redis",
    "rabbitmq",
    "apisix",
    "apisix_dashboard",
    "swag",
    "cert_reloader",
    "cert_distributor",
    "prometheus",
    "grafana",
    "vault",
}
Edit = Callable[[Contribution], None]


def _patch(monkeypatch: pytest.MonkeyPatch, edit: Edit) -> None:
    """Every component builder's contribution passes through ``edit`` (a builder fault)."""

    def wrap(contribute: Callable[[Environment], Contribution]) -> Callable[[Environment], Contribution]:
        def patched(env: Environment) -> Contribution:
            part = contribute(env)
            edit(part)
            return part

        return patched

    monkeypatch.setattr(tree_module, "CONTRIBUTORS", tuple(wrap(c) for c in tree_module.CONTRIBUTORS))


def _redis_host_port(part: Contribution) -> None:
    if "redis-2" in part.services:
        part.services["redis-2"]["ports"] = [{"target": 6379, "published": 6379, "mode": "host"}]


def _floating_redis(part: Contribution) -> None:
    if "redis-2" in part.services:
        part.services["redis-2"]["image"] = "redis:alpine"


def _open_management(part: Contribution) -> None:
    for path, text in list(part.files.items()):
        if path.endswith("rabbitmq.subdomain.conf"):
            part.files[path] = text.replace("deny all;", "")


def _render(tmp_path: Path, *extra: str) -> Any:
    model = tmp_path / "model.yaml"
    model.write_text(PROD_TEXT)
    return CliRunner().invoke(cli, ["render", "--env", str(model), "--out", str(tmp_path / "out"), *extra]), model


def _line_of(text: str, needle: str) -> int:
    return text.count("\n", 0, text.index(needle)) + 1


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_builder_fault_the_model_cannot_see_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A model that validates, a builder that publishes a Redis port: exit 2, the finding, no tree."""
    _patch(monkeypatch, _redis_host_port)
    result, model = _render(tmp_path)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, Exception)
    out = tmp_path / "out"
    assert not out.exists()
    redis = _line_of(PROD_TEXT, "\n  redis:\n") + 1
    pattern = (
        rf"^error: {re.escape(str(out))}/docker-stack-infra_db-prod\.yml:\d+:\d+: overlay-only: .*\[redis-2\] "
        rf"\(model: {re.escape(str(model))}:{redis}:3: services\.redis\)$"
    )
    assert any(re.match(pattern, line) for line in result.output.splitlines()), result.output
    assert "nothing written" in result.output


def test_an_existing_tree_is_left_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    first, _ = _render(tmp_path)
    assert first.exit_code == 0, first.output
    before = _snapshot(tmp_path / "out")
    (tmp_path / "model.yaml").unlink()
    _patch(monkeypatch, _redis_host_port)
    result, _ = _render(tmp_path)
    assert result.exit_code == 2, result.output
    assert _snapshot(out) == before
    assert not (out / ".iklim-render").exists()


def test_render_check_runs_the_same_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, _ = _render(tmp_path)
    assert first.exit_code == 0, first.output
    _patch(monkeypatch, _redis_host_port)
    result, _ = _render(tmp_path, "--check")
    assert result.exit_code == 2, result.output
    assert re.search(r"^error: .*docker-stack-infra_db-prod\.yml:\d+:\d+: overlay-only", result.output, re.M)


def test_a_config_file_finding_names_its_file_and_component(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _patch(monkeypatch, _open_management)
    result, model = _render(tmp_path)
    assert result.exit_code == 2, result.output
    swag = _line_of(PROD_TEXT, "\n  swag:\n") + 1
    pattern = (
        rf"^error: {re.escape(str(tmp_path / 'out'))}/config/swag/rabbitmq\.subdomain\.conf:\d+:\d+: rabbitmq-mgmt-ip: "
        rf".*\(model: {re.escape(str(model))}:{swag}:3: services\.swag\)$"
    )
    assert any(re.match(pattern, line) for line in result.output.splitlines()), result.output
    assert not (tmp_path / "out").exists()


def test_a_warning_is_printed_and_does_not_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _patch(monkeypatch, _floating_redis)
    result, _ = _render(tmp_path)
    assert result.exit_code == 0, result.output
    assert re.search(
        r"^warning: .*docker-stack-infra_db-prod\.yml:\d+:\d+: image-pinned: .*\[redis-2\]", result.output, re.M
    )
    assert (tmp_path / "out" / "docker-stack-infra_db-prod.yml").is_file()


def _own_config(tmp_path: Path, text: str) -> Path:
    """The tree's own ``.iklim-check.yaml``, directly in the output folder."""
    out = tmp_path / "out"
    out.mkdir()
    (out / ".iklim-check.yaml").write_text(text)
    return out


def test_the_trees_own_check_config_applies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``.iklim-check.yaml`` raising image-pinned to an error makes the floating image block."""
    out = _own_config(tmp_path, "rules:\n  image-pinned: {severity: error}\n")
    _patch(monkeypatch, _floating_redis)
    result, _ = _render(tmp_path)
    assert result.exit_code == 2, result.output
    assert re.search(r"^error: .*: image-pinned: .*\[redis-2\]", result.output, re.M)
    assert sorted(p.name for p in out.iterdir()) == [".iklim-check.yaml"]  # nothing written


def test_a_check_config_above_out_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stray config in a parent folder must not switch off the safety check of a render below it."""
    (tmp_path / ".iklim-check.yaml").write_text("rules:\n  overlay-only: disable\n")
    _patch(monkeypatch, _redis_host_port)
    result, _ = _render(tmp_path)
    assert result.exit_code == 2, result.output
    assert re.search(r"^error: .*: overlay-only: ", result.output, re.M), result.output
    assert not (tmp_path / "out").exists()


def test_a_config_that_relaxes_an_error_rule_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = _own_config(tmp_path, "rules:\n  overlay-only: disable\n  literal-secret: {severity: warning}\n")
    result, _ = _render(tmp_path)
    assert result.exit_code == 0, result.output
    note = f"note: the policy check used {out / '.iklim-check.yaml'}; it relaxes"
    assert note in result.output and "overlay-only disabled" in result.output, result.output
    assert "literal-secret as warning" in result.output


def test_an_unusable_check_config_writes_nothing(tmp_path: Path) -> None:
    out = _own_config(tmp_path, "rules:\n  no-such-rule: disable\n")
    result, _ = _render(tmp_path)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert re.search(r"^error: .*\.iklim-check\.yaml:2:\d+: .*no-such-rule", result.output, re.M), result.output
    assert sorted(p.name for p in out.iterdir()) == [".iklim-check.yaml"]  # nothing written


def test_the_check_runs_in_a_private_folder_it_removes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    _patch(monkeypatch, _redis_host_port)
    result, _ = _render(tmp_path)
    assert result.exit_code == 2, result.output
    assert list(scratch.iterdir()) == []
    assert str(scratch) not in result.output  # findings name the output tree, never the scratch copy


@pytest.mark.parametrize(
    ("rel", "service", "key"),
    [
        ("docker-stack-infra_db-prod.yml", "redis-sentinel-2", ("services", "redis", "sentinel")),
        ("docker-stack-infra_db-prod.yml", "mongodb-exporter-3", ("services", "mongodb", "exporter_image")),
        ("docker-stack-infra_db-prod.yml", "apisix-dashboard", ("services", "apisix_dashboard")),
        ("docker-stack-vault.yml", "vault-1", ("services", "vault")),
        ("config/redis/redis-sentinel-1.conf", None, ("services", "redis", "sentinel")),
        ("config/apisix-dashboard/conf.yaml", None, ("services", "apisix_dashboard")),
        ("config/patroni/patroni-2.yml", None, ("services", "patroni")),
        ("terraform/hetzner/prod/network.tf", None, ("network",)),
        ("terraform/hetzner/prod/firewall.tf", None, None),
        ("init-infra-prod.sh", None, None),
    ],
)
def test_model_key_of_a_finding(rel: str, service: str | None, key: tuple[str, ...] | None) -> None:
    assert model_key(rel, service, SERVICES) == key


def test_the_checker_never_imports_the_renderer() -> None:
    """render -> check is the one direction: a check module importing iklim.render is a cycle."""
    for path in sorted((REPO / "src" / "iklim" / "check").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not [n for n in names if n == "iklim.render" or n.startswith("iklim.render.")], path
