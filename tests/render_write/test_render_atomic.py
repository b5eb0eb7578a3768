"""Interrupted renders: kill -9 at random moments, then a plain rerun, always ends with the clean tree."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from iklim.cli import cli
from iklim.model.loader import load_environment
from iklim.render.staging import STAGING_DIR
from iklim.render.tree import RenderedFile, Tree, render_tree
from iklim.render.writer import write_tree

from .conftest import PROD_MODEL, REPO, ForkServer, cli_env, iklim_cmd, run_render, snapshot, subnet_variant  # noqa: TID252

ITERATIONS = 51
EXTRA = 60  # at most this many more kills when too few of the first ITERATIONS landed mid-write


def _render(root: Path, model: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    result = run_render("--env", str(model), "--out", str(root), *extra, as_user=False)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def _wait_for(path: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not os.path.lexists(path) and time.monotonic() < deadline:
        time.sleep(0.0005)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it finished first
        os.kill(pid, signal.SIGKILL)


def test_kill_9_loop_then_rerun_always_converges(tmp_path: Path) -> None:
    """SIGKILL spread over the whole life of a render (Python's start-up, model, render, staging,
    commit, swap, clean-up), each followed by a plain ``iklim render``: the tree always ends equal
    to a clean render (bytes, modes, no extra file), and no file is ever torn."""
    models = [subnet_variant(tmp_path, "10.30.0.0/16"), PROD_MODEL]
    clean, whole_life = [], 0.0
    for index, model in enumerate(models):
        started = time.monotonic()
        assert _render(tmp_path / f"clean-{index}", model).returncode == 0
        whole_life = max(whole_life, time.monotonic() - started)
        clean.append(snapshot(tmp_path / f"clean-{index}"))
    versions = {rel: {c[rel] for c in clean if rel in c} for c in clean for rel in c}
    out, server = tmp_path / "out", ForkServer()
    started = time.monotonic()
    server.start(["render", "--env", str(models[1]), "--out", str(out)])
    server.reaped()
    work = time.monotonic() - started
    assert snapshot(out) == clean[1]
    rng = random.Random(int(os.environ.get("IKLIM_KILL_SEED", time.time_ns())))
    uncommitted = committed = mixed = 0
    try:
        for iteration in range(ITERATIONS + EXTRA):
            if iteration >= ITERATIONS and uncommitted >= 3 and committed >= 3:
                break
            which = iteration % 2  # the other model than the tree holds: ten files change each time
            argv = ["render", "--env", str(models[which]), "--out", str(out)]
            # past ITERATIONS (a loaded machine): aim at the phase that too few kills have hit yet
            style = iteration % 4 if iteration < ITERATIONS else (2 if uncommitted < 3 else 3)
            if style == 0:  # anywhere in a whole process's life, Python's start-up included
                proc = subprocess.Popen(iklim_cmd(*argv), stderr=subprocess.DEVNULL, env=cli_env())
                time.sleep(rng.uniform(0, whole_life))
                proc.kill()
                proc.wait(timeout=30)
            else:
                pid = server.start(argv)
                if style == 2:  # from the staging area's creation on
                    _wait_for(out / STAGING_DIR, 5)
                elif style == 3:  # from the journal's commit on: the swap and the clean-up
                    _wait_for(out / STAGING_DIR / "journal", 5)
                time.sleep(rng.uniform(0, {1: work, 2: work / 10, 3: work / 20}[style]))
                _kill(pid)
                server.reaped()
            after_kill = snapshot(out)
            for rel, entry in after_kill.items():
                if not rel.startswith(STAGING_DIR):
                    assert entry in versions[rel], f"iteration {iteration}: {rel} is neither version (torn)"
            tree_part = {rel: entry for rel, entry in after_kill.items() if not rel.startswith(STAGING_DIR)}
            journal = f"{STAGING_DIR}/journal" in after_kill
            if tree_part not in clean:  # a mix of old and new files: only ever while a journal says so
                assert journal, f"iteration {iteration}: a mixed tree without a committed journal"
                mixed += 1
            committed += journal
            uncommitted += STAGING_DIR in after_kill and not journal
            rerun = _render(out, models[which])
            assert rerun.returncode == 0, rerun.stderr
            assert snapshot(out) == clean[which], f"iteration {iteration}: the rerun did not converge"
    finally:
        server.close()
    assert _render(out, models[which], "--check").returncode == 0
    print(f"kill -9: {iteration + 1} kills; {uncommitted} before the commit, {committed} after ({mixed} mid-swap)")
    assert uncommitted >= 3 and committed >= 3, "too few kills landed during a write to prove anything"


def _partial_swap(root: Path, changes: dict[str, RenderedFile], swapped: int) -> None:
    """What a kill after the journal's commit and ``swapped`` renames leaves."""
    entries = [(f"{i:04d}", rel) for i, rel in enumerate(changes)]
    files = root / STAGING_DIR / "files"
    files.mkdir(parents=True)
    for name, rel in entries:
        (files / name).write_bytes(changes[rel].content)
        os.chmod(files / name, 0o755 if changes[rel].executable else 0o644)
    (root / STAGING_DIR / "journal").write_text(json.dumps({"version": 1, "files": entries}))
    for name, rel in entries[:swapped]:
        os.replace(files / name, root / rel)


@pytest.fixture(scope="module")
def old_and_new(tmp_path_factory: pytest.TempPathFactory) -> tuple[Tree, Tree]:
    """The production tree, and the tree of a model with another overlay subnet."""
    models = tmp_path_factory.mktemp("models")
    old = render_tree(load_environment(PROD_MODEL))
    return old, render_tree(load_environment(subnet_variant(models, "10.30.0.0/16")))


@pytest.fixture
def two_trees(old_and_new: tuple[Tree, Tree], rendered_dir: Path, tmp_path: Path) -> tuple[Tree, Tree, Path]:
    """Both trees and a copy of the rendered production tree."""
    root = tmp_path / "tree"
    shutil.copytree(rendered_dir, root)
    return *old_and_new, root


def test_a_committed_journal_is_rolled_forward(two_trees: tuple[Tree, Tree, Path], tmp_path: Path) -> None:
    old, new, root = two_trees
    changes = {rel: f for rel, f in new.items() if old[rel] != f}
    _partial_swap(root, changes, swapped=3)
    check = CliRunner().invoke(cli, ["render", "--check", "--env", str(PROD_MODEL), "--out", str(root)])
    assert check.exit_code == 1 and "interrupted .iklim-render: an unfinished swap" in check.output
    report: list[str] = []
    write_tree(root, old, report)  # finishes the new tree's swap, then renders the old model again
    assert report == [f"finished an interrupted render ({len(changes)} files)"]
    clean = tmp_path / "clean"
    write_tree(clean, old)
    assert snapshot(root) == snapshot(clean)


def test_an_uncommitted_staging_area_is_discarded_untouched(two_trees: tuple[Tree, Tree, Path]) -> None:
    old, new, root = two_trees
    (root / STAGING_DIR / "files").mkdir(parents=True)
    (root / STAGING_DIR / "files" / "0000").write_text("half")
    (root / STAGING_DIR / "journal.tmp").write_text('{"version": 1, "files": [["0000", "init-infra')
    before = {k: v for k, v in snapshot(root).items() if not k.startswith(STAGING_DIR)}
    report: list[str] = []
    assert write_tree(root, old, report) == []
    assert report == ["discarded the staging area of an interrupted render"]
    assert snapshot(root) == before


@pytest.mark.parametrize("rel", ["../escape", "/tmp/escape", "a/../../escape", f"{STAGING_DIR}/x"])
def test_a_journal_pointing_outside_the_tree_is_discarded(rel: str, two_trees: tuple[Tree, Tree, Path]) -> None:
    old, _, root = two_trees
    (root / STAGING_DIR / "files").mkdir(parents=True)
    (root / STAGING_DIR / "files" / "0000").write_text("payload")
    (root / STAGING_DIR / "journal").write_text(json.dumps({"version": 1, "files": [["0000", rel]]}))
    before = snapshot(root.parent)
    write_tree(root, old)
    assert not (root.parent / "escape").exists()
    assert {k: v for k, v in snapshot(root.parent).items() if STAGING_DIR not in k} == {
        k: v for k, v in before.items() if STAGING_DIR not in k
    }


def test_old_writer_temp_files_are_reported_then_removed(two_trees: tuple[Tree, Tree, Path]) -> None:
    old, _, root = two_trees
    temps = [root / ".init-infra-prod.sh.k2j_x9a0", root / "config/prometheus/.prometheus.yml.abcdefgh"]
    for path in temps:
        path.write_text("half-written")
    keep = root / "config/.operator-notes.txt"  # not a temp file of a rendered name: never deleted
    keep.write_text("mine")
    check = CliRunner().invoke(cli, ["render", "--check", "--env", str(PROD_MODEL), "--out", str(root)])
    assert check.exit_code == 1
    assert "interrupted .init-infra-prod.sh.k2j_x9a0: a temporary file" in check.output
    assert "stale config/prometheus/.prometheus.yml.abcdefgh" not in check.output
    result = _render(root, PROD_MODEL)
    assert result.returncode == 0 and "removed .init-infra-prod.sh.k2j_x9a0" in result.stderr
    assert not any(path.exists() for path in temps) and keep.read_text() == "mine"


def test_a_second_render_at_once_is_refused(two_trees: tuple[Tree, Tree, Path]) -> None:
    _, _, root = two_trees
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        result = _render(root, PROD_MODEL)
    finally:
        os.close(fd)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if not line.startswith("warning: ")]
    assert errors == [f"error: {root}: another iklim render is writing here"]


def test_staging_area_is_ignored_by_git_and_check(two_trees: tuple[Tree, Tree, Path]) -> None:
    _, _, root = two_trees
    ignored = subprocess.run(["git", "-C", str(REPO), "check-ignore", "-q", f"{STAGING_DIR}/files/0000"])
    assert ignored.returncode == 0, ".iklim-render/ must be git-ignored"
    (root / STAGING_DIR / "files").mkdir(parents=True)
    (root / STAGING_DIR / "files" / "0000").write_text("services: {x: {image: 'evil', network_mode: host}}\n")
    shutil.copy(root / "docker-stack-vault.yml", root / STAGING_DIR / "docker-stack-vault.yml")
    # the model beside the tree, as in the repository: its tls choices excuse the plaintext listeners
    (root / "environments").mkdir(exist_ok=True)
    shutil.copy(PROD_MODEL, root / "environments" / "prod.yaml")
    result = CliRunner().invoke(cli, ["check", str(root)])
    assert result.exit_code == 0 and STAGING_DIR not in result.output, result.output
