"""``iklim render``: the production tree from the model, written atomically or checked for drift."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from iklim.model.commands import load_or_exit
from iklim.model.paths import DEFAULT_ENV
from iklim.render.gate import check_tree
from iklim.render.preflight import RenderWriteError
from iklim.render.tree import SUPERSEDED, Tree, render_tree
from iklim.render.writer import diff_tree, write_tree


def _gate(tree: Tree, env_path: str, out_dir: str) -> None:
    """Print the policy check's findings on ``tree``; exit 2 (nothing written) on any error."""
    verdict = check_tree(tree, env_path, out_dir)
    for line in (*verdict.errors, *verdict.warnings):
        click.echo(line, err=True)
    if verdict.unusable is not None:
        click.echo(verdict.unusable, err=True)
    if verdict.errors or verdict.unusable is not None:
        count = f"{len(verdict.errors)} error(s)" if verdict.errors else "the check could not run"
        click.echo(f"render: the policy check rejects the tree from {env_path} ({count}); nothing written", err=True)
        sys.exit(2)


def _fail(exc: RenderWriteError) -> NoReturn:
    """One ``error: path: message`` line per filesystem problem, exit code 2."""
    for path, message in exc.problems:
        click.echo(f"error: {path}: {message}", err=True)
    sys.exit(2)


@click.command("render")
@click.option(
    "--env",
    "env_path",
    default=DEFAULT_ENV,
    show_default=True,
    type=click.Path(dir_okay=False),
    help="The environment model to render.",
)
@click.option(
    "--out",
    "out_dir",
    default=".",
    show_default=True,
    type=click.Path(),
    help="The repository root to write into.",
)
@click.option("--check", is_flag=True, help="Write nothing; exit 1 with a unified diff if the tree differs.")
def render_command(env_path: str, out_dir: str, check: bool) -> None:
    """Render the stacks, config/**, runbooks and terraform from the model.

    The whole tree is rendered in memory first: a bad model writes nothing (exit 2), and so does
    a target that cannot be written (a folder where a file goes, a read-only folder: exit 2).
    The policy checker (iklim check, with .iklim-check.yaml) then judges the tree in a private
    temporary folder: any error finding writes nothing (exit 2), each printed at the path the
    file would have below --out and the model key that produced it; warnings are printed only.
    --check runs the same check before comparing.
    Only changed files are rewritten, staged in .iklim-render/ and swapped in; a render that was
    interrupted (even by kill -9) is finished or undone by the next one. The same model gives
    the same bytes.

    \b
    Examples:
      iklim render                               # environments/prod.yaml -> repository root
      iklim render --env environments/prod.yaml --out /tmp/tree
      iklim render --check                       # CI: exit 1 and print the diff on drift
    """
    env = load_or_exit(env_path)
    tree = render_tree(env)
    _gate(tree, env_path, out_dir)
    root = Path(out_dir)
    retired = [name for name in SUPERSEDED if (root / name).exists()]
    if check:
        try:
            diff = diff_tree(root, tree)
        except RenderWriteError as exc:
            _fail(exc)
        for name in retired:
            diff += f"superseded {name}: the seed retires it; delete it\n"
        if diff:
            click.echo(diff, nl=False)
            click.echo(f"render --check: {root} differs from {env_path}; run `iklim render`", err=True)
            sys.exit(1)
        click.echo(f"render --check: {len(tree)} files match {env_path}", err=True)
        return
    recovered: list[str] = []
    try:
        written = write_tree(root, tree, recovered)
    except RenderWriteError as exc:
        _fail(exc)
    for line in recovered:
        click.echo(f"render: {line}", err=True)
    for rel in written:
        click.echo(f"wrote {rel}", err=True)
    click.echo(f"render: {len(tree)} files from {env_path}, {len(written)} changed", err=True)
    for name in retired:
        click.echo(f"warning: {name} is superseded by the seed; delete it", err=True)
