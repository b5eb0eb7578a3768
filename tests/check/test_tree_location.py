"""Issue 12, kind 8: where the tree lives must not matter; one unusable file does not stop a check.

Files are classified by their path below the checked root and by their content, never by the
names of folders above the root. Dot-files are hidden state (swap files, a writer's leftover
``.name.XXXXXXXX`` temporaries) and are not read.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from iklim.check.configs import looks_nginx
from iklim.check.documents import load
from iklim.check.engine import run
from iklim.check.policyfile import resolve
from iklim.check.rules import RULES
from iklim.cli import cli

REPO = Path(__file__).resolve().parents[2]
TREE = ("docker-stack-infra_db-prod.yml", "docker-stack-vault.yml", "init-infra-prod.sh")
FOLDERS = ("config", "init", "terraform", "environments")


def copy_tree(dest: Path) -> Path:
    """The rendered tree (stacks, config, runbooks, terraform, model) copied to ``dest``."""
    dest.mkdir(parents=True)
    for name in TREE:
        shutil.copy2(REPO / name, dest / name)
    for name in FOLDERS:
        shutil.copytree(REPO / name, dest / name)
    return dest


def findings(root: Path) -> list[tuple[str, int, str]]:
    docs = load([str(root)])
    result = run(docs, resolve([str(root)], docs, None), RULES)
    return [(f.path, f.line, f.rule) for f in result.findings]


@pytest.mark.parametrize(
    "where",
    [
        "x/nginx-infra",  # the examples
        "x/swag-test",
        "nginx/swag",  # variants: both words, nested, in parts of a name
        "my-nginx-conf/a/b",
        "apisix-lab/repo",
        "SWAG/Nginx",
        "x/config/swag",  # a folder named like the tree's own folders
        "x/terraform/hetzner/prod",
    ],
)
def test_rendered_tree_checks_clean_wherever_it_lives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    root = copy_tree(tmp_path / where)
    monkeypatch.chdir(tmp_path)  # shown paths then carry the ancestor names
    assert findings(Path(where)) == []
    assert findings(root) == []  # absolute path
    monkeypatch.chdir(root)
    assert findings(Path(".")) == []


def test_cli_on_copies_under_nginx_and_swag_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for where in ("x/nginx-infra", "x/swag-test"):
        copy_tree(tmp_path / where)
        for fmt in ("text", "json", "github"):
            result = CliRunner().invoke(cli, ["check", where, "--format", fmt])
            assert result.exit_code == 0, result.output
        # one file given on its own: classified by its name and content
        conf = f"{where}/config/rabbitmq/rabbitmq.conf"
        assert CliRunner().invoke(cli, ["check", conf]).exit_code == 0


@pytest.mark.parametrize(
    ("leftover", "content"),
    [
        ("config/rabbitmq/.rabbitmq.conf.Xk3v9QzA", "cluster_name = half-written\nlisteners"),
        ("config/apisix/.config.yaml.a1b2c3d4", "deployment: [unclosed\n"),
        ("config/swag/.default.conf.swp", "server { listen 443"),
        ("config/patroni/.patroni-1.yml.QQQQQQQQ", "scope: x\netcd3: {hosts: a}\nnamespace: /wrong\n"),
        ("config/redis/.redis-1.conf.zzzzzzzz", "\udcff"),
        ("init/vault/.unseal.sh.tmp01234", "docker network create iklim-net\n"),
        ("terraform/hetzner/prod/.firewall.tf.0123abcd", 'resource "hcloud_firewall" "db" {'),
    ],
)
def test_dot_files_are_not_read(tmp_path: Path, leftover: str, content: str) -> None:
    root = copy_tree(tmp_path / "tree")
    target = root / leftover
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content.encode("utf-8", "surrogateescape"))
    docs = load([str(root)])
    assert not any(".X" in p or "/." in p for p in docs.texts), sorted(docs.texts)
    assert findings(root) == []


@pytest.mark.parametrize(
    ("relpath", "text", "nginx"),
    [
        ("config/rabbitmq/rabbitmq.conf", "listeners.tcp.default = 5672\n", False),
        ("config/swag/rabbitmq.conf", "# c\nmanagement.tcp.port = 15672\n", False),  # key = value: never nginx
        ("config/swag/nginx/site-confs/default.conf", "listen 443 ssl;\n", True),
        ("config/redis/redis-1.conf", "port 6379\nbind 0.0.0.0\n", False),
        ("sites/mgmt.conf", "server {\n  listen 443;\n}\n", True),  # by content
        ("default.conf", "http {\n server {\n }\n}\n", True),
        ("config/nginx-proxy/x.conf", "", True),
        ("config/app/x.conf", "upstreams = 3\n", False),
    ],
)
def test_nginx_is_recognised_by_relative_path_and_content(relpath: str, text: str, nginx: bool) -> None:
    assert looks_nginx(relpath, text) is nginx


BROKEN_SITE = "server {\n  listen 443;\n  location / {\n    proxy_pass http://rabbitmq-1:15672;\n"


def test_one_unusable_file_is_a_finding_and_the_rest_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = copy_tree(tmp_path / "nginx-infra")
    site = root / "config" / "swag" / "nginx" / "site-confs" / "broken.conf"
    site.parent.mkdir(parents=True, exist_ok=True)
    site.write_text(BROKEN_SITE)
    stack = root / "docker-stack-infra_db-prod.yml"
    stack.write_text(re.sub(r"image: redis:\S+", "image: redis:latest", stack.read_text(), count=1))
    monkeypatch.chdir(tmp_path)
    found = findings(Path("nginx-infra"))
    broken = os.path.join("nginx-infra", "config", "swag", "nginx", "site-confs", "broken.conf")
    assert (broken, 5, "unusable-input") in found
    assert any(rule == "image-pinned" for _, _, rule in found), found  # the rest was still checked
    runner = CliRunner()
    result = runner.invoke(cli, ["check", "nginx-infra", "--format", "json"])
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    errors = [f for f in data["findings"] if f["rule"] == "unusable-input"]
    assert [(f["path"], f["line"]) for f in errors] == [(broken, 5)]
    result = runner.invoke(cli, ["check", "nginx-infra", "--format", "github"])
    assert result.exit_code == 2
    assert f"::error file={broken},line=5" in result.stdout
