"""A folder below ``--out`` that is a symbolic link: the render refuses, writes nothing anywhere.

The reviewer's reproducer (``config/redis -> /etc``, then ``/etc/redis-1.conf`` written as root)
is run with a throw-away folder outside the tree as the link's target. ``--out`` itself may be
a link. The swap's own guard (folders opened with ``O_NOFOLLOW``) is tested by planting a link
after the checks, as a race would.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from iklim.model.loader import load_environment
from iklim.render.nofollow import LINKED
from iklim.render.preflight import RenderWriteError
from iklim.render.staging import STAGING_DIR, commit, recover
from iklim.render.tree import Tree, render_tree
from iklim.render.writer import write_tree

from .conftest import PROD_MODEL, run_render, snapshot, subnet_variant  # noqa: TID252

#: What a link to a folder may point at, relative to the test's folder: outside the tree, or in it.
Plant = Callable[[Path, Path], str]


def _link(root: Path, rel: str, target: Path) -> str:
    path = root / rel
    if path.is_dir():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target, target_is_directory=True)
    return rel


def _outside(rel: str, inner: str = "") -> Plant:
    """``rel`` -> a folder outside the tree (holding ``inner`` folders, so deeper paths resolve)."""

    def plant(root: Path, outside: Path) -> str:
        (outside / inner).mkdir(parents=True, exist_ok=True)
        return _link(root, rel, outside)

    return plant


def _inside(rel: str, target: str) -> Plant:
    """``rel`` -> another folder of the tree (``target``, relative to the tree)."""

    def plant(root: Path, outside: Path) -> str:
        (root / target).mkdir(parents=True, exist_ok=True)
        return _link(root, rel, root / target)

    return plant


def _dangling(rel: str) -> Plant:
    def plant(root: Path, outside: Path) -> str:
        return _link(root, rel, outside / "missing")

    return plant


def _link_in_a_link(root: Path, outside: Path) -> str:
    """``config -> outside``, whose ``redis -> another outside folder``: the topmost is named."""
    (outside / "second").mkdir(parents=True)
    (outside / "config").mkdir()
    (outside / "config" / "redis").symlink_to(outside / "second", target_is_directory=True)
    return _link(root, "config", outside / "config")


CASES: dict[str, Plant] = {
    "config/redis -> outside (the reproducer)": _outside("config/redis"),
    "config -> outside": _outside("config", "redis"),
    "terraform/hetzner -> outside (nested)": _outside("terraform/hetzner", "prod"),
    "terraform/hetzner/prod -> outside (third level)": _outside("terraform/hetzner/prod"),
    "init/hosts -> outside": _outside("init/hosts"),
    "config/redis -> config/vault (inside --out)": _inside("config/redis", "config/vault"),
    "config/redis -> an empty folder inside --out": _inside("config/redis", "spare"),
    "config/redis dangling": _dangling("config/redis"),
    "a link inside a linked folder": _link_in_a_link,
}


def _assert_refused(result_code: int, stderr: str, where: Path) -> None:
    assert result_code == 2, stderr
    lines = [line for line in stderr.splitlines() if not line.startswith("warning: ")]
    assert lines == [f"error: {where}: {LINKED}"]


def test_the_reviewers_reproducer(tmp_path: Path) -> None:
    """``mkdir -p o/config && ln -s OUTSIDE o/config/redis && iklim render --out o``, as root."""
    root, outside = tmp_path / "o", tmp_path / "outside"
    (root / "config").mkdir(parents=True)
    outside.mkdir()
    (root / "config/redis").symlink_to(outside)
    before = snapshot(tmp_path)
    result = run_render("--out", str(root), as_user=False)
    _assert_refused(result.returncode, result.stderr, root / "config/redis")
    assert snapshot(tmp_path) == before, "a refused render wrote something"


@pytest.mark.parametrize("case", list(CASES))
def test_render_refuses_a_linked_folder(case: str, tmp_path: Path, rendered_dir: Path) -> None:
    """On a rendered tree, with a model that changes files: render and render --check refuse."""
    root, outside = tmp_path / "tree", tmp_path / "outside"
    outside.mkdir()
    shutil.copytree(rendered_dir, root)
    where = root / CASES[case](root, outside)
    model = subnet_variant(tmp_path, "10.30.0.0/16")
    before = snapshot(tmp_path)
    result = run_render("--env", str(model), "--out", str(root), as_user=False)  # root, as the reviewer
    _assert_refused(result.returncode, result.stderr, where)
    assert snapshot(tmp_path) == before, "a refused render wrote something"
    check = run_render("--check", "--env", str(model), "--out", str(root), as_user=False)
    _assert_refused(check.returncode, check.stderr, where)


def test_out_itself_may_be_a_link(tmp_path: Path) -> None:
    real, link = tmp_path / "real", tmp_path / "link"
    real.mkdir()
    link.symlink_to(real, target_is_directory=True)
    result = run_render("--env", str(PROD_MODEL), "--out", str(link))
    assert result.returncode == 0, result.stderr
    assert (real / "config/redis/redis-1.conf").is_file() and link.is_symlink()
    assert run_render("--check", "--env", str(PROD_MODEL), "--out", str(link)).returncode == 0
    assert sorted(os.listdir(tmp_path)) == ["link", "real"]


@pytest.fixture(scope="module")
def prod_and_variant(tmp_path_factory: pytest.TempPathFactory) -> tuple[Tree, Tree]:
    models = tmp_path_factory.mktemp("models")
    variant = subnet_variant(models, "10.30.0.0/16")
    return render_tree(load_environment(PROD_MODEL)), render_tree(load_environment(variant))


def test_the_swap_does_not_follow_a_link_planted_after_the_checks(
    prod_and_variant: tuple[Tree, Tree], tmp_path: Path
) -> None:
    """A race: the link appears between the checks and the swap. The swap stops at it."""
    _, tree = prod_and_variant
    root, outside = tmp_path / "tree", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    _link(root, "config/redis", outside)
    with pytest.raises(RenderWriteError) as caught:
        commit(root, dict(tree))
    assert caught.value.problems[0][0] == str(root / "config/redis")
    assert os.listdir(outside) == []


def test_finishing_an_interrupted_swap_does_not_follow_a_link(
    prod_and_variant: tuple[Tree, Tree], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A committed journal, then ``config/redis`` replaced by a link: recovery refuses, nothing
    lands outside, and the journal stays for a rerun once the link is gone."""
    old, new = prod_and_variant
    root, outside = tmp_path / "tree", tmp_path / "outside"
    write_tree(root, old)
    outside.mkdir()
    changes = {rel: f for rel, f in new.items() if old[rel] != f}
    changes["config/redis/redis-1.conf"] = new["config/redis/redis-1.conf"]
    # stop right after the commit point, as a kill there would
    monkeypatch.setattr("iklim.render.staging._roll_forward", lambda *_: None)
    commit(root, changes)
    monkeypatch.undo()
    saved = root.parent / "redis-saved"
    os.rename(root / "config/redis", saved)
    _link(root, "config/redis", outside)
    with pytest.raises(RenderWriteError) as caught:
        recover(root, old)
    assert caught.value.problems[0][0] == str(root / "config/redis")
    assert os.listdir(outside) == []
    assert (root / STAGING_DIR / "journal").is_file()
    with pytest.raises(RenderWriteError):
        write_tree(root, old)  # the check before recovery names the link too
    assert os.listdir(outside) == []
    (root / "config/redis").unlink()
    os.rename(saved, root / "config/redis")
    write_tree(root, old)
    clean = tmp_path / "clean"
    write_tree(clean, old)
    assert snapshot(root) == snapshot(clean)
