"""``iklim vault``: bootstrap, unseal and status of the Vault Raft cluster (lab or production)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from iklim.model.paths import DEFAULT_ENV


def _plan(env_path: str, target: str, lab_root: str, keys_file: str | None) -> object:
    from iklim.components.target import make_target
    from iklim.model.commands import load_or_exit
    from iklim.vault.plan import vault_plan

    env = load_or_exit(env_path)
    keys = Path(keys_file) if keys_file else None
    return vault_plan(env, make_target(env, target, Path(lab_root).resolve()), keys)


_START = time.monotonic()


def _progress(line: str) -> None:
    click.echo(f"vault [{time.monotonic() - _START:5.1f} s] {line}", err=True)


_options = [
    click.option("--env", "env_path", default=DEFAULT_ENV, show_default=True, help="The environment model."),
    click.option(
        "--target",
        type=click.Choice(["lab", "prod"]),
        default="lab",
        show_default=True,
        help="The lab's OpenBao (127.0.3.N) or production (node private IPs).",
    ),
    click.option(
        "--root",
        "--lab-root",
        "lab_root",
        default=".lab",
        show_default=True,
        help="The lab's state directory (--target lab; --lab-root is the same option).",
    ),
    click.option(
        "--keys-file",
        default=None,
        help="Custody file for unseal keys and root token (default: the model's, or the lab's).",
    ),
]


F = TypeVar("F", bound=Callable[..., Any])


def _with_options(func: F) -> F:
    for option in reversed(_options):
        func = option(func)
    return func


@click.group("vault")
def vault_command() -> None:
    """Bootstrap, unseal and inspect the Vault Raft cluster.

    \b
    Examples:
      iklim vault bootstrap --target prod --keys-file /root/iklim-vault/init.json
      iklim vault unseal vault-2          # a member that restarted sealed
      iklim vault status
    """


def _fail(exc: Exception) -> None:
    """One line on stderr; exit 2 for an answer that is not the Vault API, else 1."""
    click.echo(f"error: {exc}", err=True)
    sys.exit(getattr(exc, "exit_code", 1))


@vault_command.command("bootstrap")
@_with_options
@click.option("--timeout", default=180.0, show_default=True, help="Seconds for the whole bootstrap.")
def bootstrap_command(env_path: str, target: str, lab_root: str, keys_file: str | None, timeout: float) -> None:
    """Initialise once, unseal, join, wait for autopilot, apply the day-one config. Idempotent.

    Keys and the root token go only to the custody file (mode 0600), never to the output.

    \b
    Example:
      iklim vault bootstrap --target lab && iklim vault status
    """
    from iklim.vault.bootstrap import BootstrapError, bootstrap
    from iklim.vault.custody import CustodyError

    try:
        bootstrap(_plan(env_path, target, lab_root, keys_file), _progress, timeout)  # type: ignore[arg-type]
    except (BootstrapError, CustodyError) as exc:
        _fail(exc)
    _progress("bootstrap complete")


@vault_command.command("unseal")
@_with_options
@click.argument("nodes", nargs=-1)
def unseal_command(env_path: str, target: str, lab_root: str, keys_file: str | None, nodes: tuple[str, ...]) -> None:
    """Unseal members with the keys in custody (all sealed members, or the NODES named).

    \b
    Example:
      iklim vault unseal vault-3
    """
    from iklim.vault.bootstrap import BootstrapError, unseal
    from iklim.vault.custody import CustodyError

    try:
        unseal(_plan(env_path, target, lab_root, keys_file), list(nodes), _progress)  # type: ignore[arg-type]
    except (BootstrapError, CustodyError) as exc:
        _fail(exc)


@vault_command.command("status")
@_with_options
def status_command(env_path: str, target: str, lab_root: str, keys_file: str | None) -> None:
    """Init/seal state of each member, the leader and the voters; exit 1 unless healthy.

    Exit 2, with one line naming the address, when a member answers but not like the Vault API.

    \b
    Example:
      iklim vault status --target prod
    """
    from iklim.vault.bootstrap import BootstrapError, status_lines

    try:
        lines, healthy = status_lines(_plan(env_path, target, lab_root, keys_file))  # type: ignore[arg-type]
    except BootstrapError as exc:  # a member answered, but not like the Vault API: exit 2
        _fail(exc)
    for line in lines:
        click.echo(line)
    sys.exit(0 if healthy else 1)
