"""Render's filesystem failures: one ``error: path: message`` line each, exit 2, nothing written.

Each case runs a real ``iklim render`` process without root's permission overrides (setpriv drops
CAP_DAC_OVERRIDE and friends), so the kernel's permission checks apply as for an operator.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import PROD_MODEL, cli_env, iklim_cmd, run_render, snapshot, subnet_variant  # noqa: TID252

Setup = Callable[[Path], str]


def _file_where_out_goes(tree: Path) -> str:
    (tree.parent / "plain").write_text("x\n")
    return "plain"


def _read_only(rel: str) -> Setup:
    def setup(tree: Path) -> str:
        os.chmod(tree / rel, 0o555)
        return rel

    return setup


def _unreadable(rel: str) -> Setup:
    def setup(tree: Path) -> str:
        os.chmod(tree / rel, 0o000)
        return rel

    return setup


def _folder_for_file(tree: Path) -> str:
    (tree / "init/hosts/db-docker-user.sh").unlink()
    (tree / "init/hosts/db-docker-user.sh/inner").mkdir(parents=True)
    return "init/hosts/db-docker-user.sh"


def _file_for_folder(tree: Path) -> str:
    shutil.rmtree(tree / "init/hosts")
    (tree / "init/hosts").write_text("not a folder\n")
    return "init/hosts"


def _fifo_for_file(tree: Path) -> str:
    (tree / "init-infra-prod.sh").unlink()
    os.mkfifo(tree / "init-infra-prod.sh")
    return "init-infra-prod.sh"


def _staging_is_a_file(tree: Path) -> str:
    (tree / ".iklim-render").write_text("x\n")
    return ".iklim-render"


# name -> (setup returning the path the error must name (relative to the tree), --out below the tree)
CASES: dict[str, tuple[Setup, str]] = {
    # the reproducer: a read-only init/hosts/ must not let the runbook change alone
    "read-only init/hosts": (_read_only("init/hosts"), ""),
    "read-only output root": (_read_only(""), ""),
    "read-only folder above a new --out": (_read_only(""), "new/deeper"),
    "unreadable rendered file": (_unreadable("init-infra-prod.sh"), ""),
    "unreadable config folder": (_unreadable("config"), ""),
    "folder where a file goes": (_folder_for_file, ""),
    "file where a folder goes": (_file_for_folder, ""),
    "fifo where a file goes": (_fifo_for_file, ""),
    "staging path is a file": (_staging_is_a_file, ""),
}


@pytest.fixture
def tree(tmp_path: Path, rendered_dir: Path) -> Path:
    root = tmp_path / "tree"
    shutil.copytree(rendered_dir, root)
    return root


def _assert_one_line_error(result: subprocess.CompletedProcess[str], where: str) -> None:
    assert result.returncode == 2, result.stderr
    # the model's placeholder warnings (documentation address ranges) are not errors
    lines = [line for line in result.stderr.splitlines() if not line.startswith("warning: ")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {where}: "), lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""


@pytest.mark.parametrize("case", list(CASES))
def test_render_refuses_before_the_first_write(case: str, tree: Path, tmp_path: Path) -> None:
    setup, below = CASES[case]
    where = str(tree / setup(tree))
    model = subnet_variant(tmp_path, "10.30.0.0/16")  # the runbook, host rules and stack change
    before = snapshot(tmp_path)
    result = run_render("--env", str(model), "--out", str(tree / below) if below else str(tree))
    try:
        _assert_one_line_error(result, where)
        assert snapshot(tmp_path) == before, "a refused render wrote something"
    finally:
        for path in [tree, *tree.rglob("*")]:
            if path.is_dir() and not path.is_symlink():
                os.chmod(path, 0o755)


@pytest.mark.parametrize("case", ["unreadable rendered file", "unreadable config folder", "folder where a file goes"])
def test_render_check_reports_unusable_targets_as_errors(case: str, tree: Path) -> None:
    where = str(tree / CASES[case][0](tree))
    result = run_render("--check", "--env", str(PROD_MODEL), "--out", str(tree))
    try:
        _assert_one_line_error(result, where)
    finally:
        for path in [tree, *tree.rglob("*")]:
            os.chmod(path, 0o755)


@pytest.mark.parametrize("out", ["plain", "plain/below"])
def test_out_on_or_under_a_file(out: str, tmp_path: Path) -> None:
    _file_where_out_goes(tmp_path / "tree")
    before = snapshot(tmp_path)
    result = run_render("--env", str(PROD_MODEL), "--out", str(tmp_path / out))
    _assert_one_line_error(result, str(tmp_path / "plain"))
    assert snapshot(tmp_path) == before


def test_immutable_folder_stops_root_too(tree: Path, tmp_path: Path) -> None:
    """chattr +i: even real root (no capability dropped) cannot write; render says so and writes nothing."""
    hosts = tree / "init/hosts"
    if subprocess.run(["chattr", "+i", str(hosts)], capture_output=True).returncode:
        pytest.skip("chattr +i is not supported on this file system")
    try:
        model = subnet_variant(tmp_path, "10.30.0.0/16")
        before = snapshot(tree)
        result = run_render("--env", str(model), "--out", str(tree), as_user=False)
        _assert_one_line_error(result, str(hosts))
        assert snapshot(tree) == before
    finally:
        subprocess.run(["chattr", "-i", str(hosts)], check=True)


def test_read_only_mount(tree: Path, tmp_path: Path) -> None:
    """A read-only bind mount on init/hosts (a private mount namespace): EROFS stops root too."""
    hosts = str(tree / "init/hosts")
    mount = f'mount --bind {hosts} {hosts} && mount -o remount,bind,ro {hosts} && exec "$@"'
    prefix = ("unshare", "-m", "sh", "-c", mount, "sh")
    if subprocess.run([*prefix, "true"], capture_output=True).returncode:
        pytest.skip("cannot make a private read-only mount here")
    model = subnet_variant(tmp_path, "10.30.0.0/16")
    before = snapshot(tree)
    result = run_render("--env", str(model), "--out", str(tree), as_user=False, prefix=prefix)
    _assert_one_line_error(result, hosts)
    assert "read-only file system" in result.stderr
    assert snapshot(tree) == before


def test_a_full_disk_while_staging_writes_nothing(tmp_path: Path) -> None:
    """ENOSPC after the checks passed (a full tmpfs in a private mount namespace): the render
    fails with one line, removes its staging area, and the tree is untouched."""
    disk, model = tmp_path / "disk", subnet_variant(tmp_path, "10.30.0.0/16")
    disk.mkdir()
    listing = "(cd {0}/tree && find . -printf '%p %m %s\\n' | sort && find . -type f | sort | xargs cat | sha256sum)"
    script = (
        f"mount -t tmpfs -o size=1m tmpfs {disk} || exit 99\n"
        f'"$@" --env {PROD_MODEL} --out {disk}/tree 2>/dev/null || exit 98\n'
        f"dd if=/dev/zero of={disk}/filler bs=4k 2>/dev/null\n"
        f"{listing.format(disk)} > {tmp_path}/before\n"
        f'"$@" --env {model} --out {disk}/tree 2> {tmp_path}/err\n'
        f"echo $? > {tmp_path}/rc\n"
        f"{listing.format(disk)} > {tmp_path}/after\n"
    )
    argv = ["unshare", "-m", "sh", "-c", script, "sh", *iklim_cmd("render")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=cli_env())
    if done.returncode in (99, 1) and not (tmp_path / "rc").exists():
        pytest.skip(f"cannot mount a tmpfs in a private namespace here: {done.stderr.strip()}")
    assert (tmp_path / "rc").read_text().strip() == "2", (tmp_path / "err").read_text()
    lines = [line for line in (tmp_path / "err").read_text().splitlines() if not line.startswith("warning: ")]
    assert lines == [f"error: {disk}/tree: cannot stage the render: No space left on device"], lines
    assert "./init/hosts/db-docker-user.sh 755" in (tmp_path / "before").read_text()
    assert (tmp_path / "before").read_text() == (tmp_path / "after").read_text(), "the tree changed"
    assert ".iklim-render" not in (tmp_path / "after").read_text()
