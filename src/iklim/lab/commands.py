"""``iklim lab``: the production topology on this machine's loopback addresses."""

from __future__ import annotations

import glob
import json
import sys
import time
from pathlib import Path

import click

from iklim.lab.context import DEFAULT_ROOT, LabContext
from iklim.model.paths import DEFAULT_ENV


def lab_context(env_path: str, root: str) -> LabContext:
    """The lab's context from the model at ``env_path`` and the state folder ``root`` (a bad model:
    its errors on stderr and exit 2, as every command that loads it)."""
    from iklim.model.commands import load_or_exit

    env = load_or_exit(env_path)
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    postgres_bin = str(Path(bins[-1]).parent) if bins else "/usr/lib/postgresql/15/bin"
    return LabContext.create(env, Path(root), postgres_bin)


_context = lab_context


def _progress(line: str) -> None:
    click.echo(f"[{time.strftime('%H:%M:%S')}] {line}", err=True)


_env = click.option("--env", "env_path", default=DEFAULT_ENV, show_default=True, help="The environment model.")
_root = click.option(
    "--root", "--lab-root", "root", default=str(DEFAULT_ROOT), show_default=True, help="The lab's state directory."
)


@click.group("lab")
def lab_command() -> None:
    """Run the production topology for real on this machine (loopback addresses only).

    \b
    DB nodes 127.0.1.1-3, service nodes 127.0.2.1-3, Vault 127.0.3.1-3, production ports.
    Examples:
      iklim lab up                 # start every available cluster, wait until healthy
      iklim lab status --json      # live health of each component
      iklim lab logs patroni       # the tail of each Patroni member's log
      iklim lab down --wipe        # stop everything, then delete .lab/
    """


@lab_command.command("up")
@_env
@_root
@click.option("--timeout", default=180.0, show_default=True, help="Seconds to wait for all to be healthy.")
def up_command(env_path: str, root: str, timeout: float) -> None:
    """Start every available cluster in parallel and wait until each is healthy (idempotent).

    \b
    Example:
      iklim lab up && iklim lab status
    """
    from iklim.lab.orchestrator import failure_logs, up

    ctx = _context(env_path, root)
    begin = time.monotonic()
    states = up(ctx, _progress, timeout)
    bad = [s for s in states if s.state == "unhealthy"]
    for state in bad:
        click.echo(f"error: {state.name}: {state.detail}", err=True)
        for process, tail in failure_logs(ctx, state.name).items():
            click.echo(f"--- last lines of {ctx.supervisor.log_file(process)} ---\n{tail}", err=True)
    healthy = sum(s.state == "healthy" for s in states)
    _progress(f"lab up: {healthy} healthy, {len(bad)} failed in {time.monotonic() - begin:.1f} s")
    sys.exit(1 if bad else 0)


@lab_command.command("down")
@_env
@_root
@click.option("--wipe", is_flag=True, help="Also delete the lab directory (data, logs, secrets).")
def down_command(env_path: str, root: str, wipe: bool) -> None:
    """Stop every lab process by pid and wait for it to exit.

    \b
    Example:
      iklim lab down --wipe
    """
    from iklim.lab.orchestrator import down

    stopped = down(_context(env_path, root), _progress, wipe)
    _progress(f"lab down: {stopped} process(es) stopped")


@lab_command.command("status")
@_env
@_root
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def status_command(env_path: str, root: str, as_json: bool) -> None:
    """Live health of every lab component; exit 0 when every available one is healthy.

    Each cluster is judged by its ``iklim status --target lab`` probe (the same code and words);
    the helper processes (epmd, the exporters) by whether they answer.

    \b
    Example:
      iklim lab status --json | jq '.[] | select(.state != "healthy")'
    """
    from iklim.lab.orchestrator import status

    states = status(_context(env_path, root))
    if as_json:
        click.echo(json.dumps([s.as_dict() for s in states], indent=2))
    else:
        width = max(len(s.name) for s in states)
        for s in states:
            click.echo(f"{s.name:<{width}}  {s.state:<14} {s.detail}")
    sys.exit(0 if all(s.state in ("healthy", "not available") for s in states) else 1)


@lab_command.command("logs")
@_env
@_root
@click.argument("component", required=False)
@click.option("-n", "--lines", default=20, show_default=True, help="Lines per process.")
def logs_command(env_path: str, root: str, component: str | None, lines: int) -> None:
    """Print the tail of each process's log (all components, or one).

    \b
    Examples:
      iklim lab logs               # every process
      iklim lab logs rabbitmq -n 50
    """
    ctx = _context(env_path, root)
    names = ctx.supervisor.names() if component is None else []
    if component is not None:
        from iklim.lab.orchestrator import processes_of

        names = processes_of(ctx, component)
        if not names:
            click.echo(f"error: no processes recorded for {component!r} (is the lab up?)", err=True)
            sys.exit(2)
    for name in names:
        click.echo(f"==> {ctx.supervisor.log_file(name)} <==")
        click.echo(ctx.supervisor.tail(name, lines))
