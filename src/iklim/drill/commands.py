"""``iklim drill``: measured failover (recovery time) and acknowledged-write loss, per cluster."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from iklim.drill.driver import FAULTS
from iklim.lab.context import DEFAULT_ROOT
from iklim.model.paths import DEFAULT_ENV

if TYPE_CHECKING:
    from iklim.drill.driver import Driver
    from iklim.drill.journal import Journal

_env = click.option("--env", "env_path", default=DEFAULT_ENV, show_default=True, help="The environment model.")
_root = click.option(
    "--root", "--lab-root", "root", default=str(DEFAULT_ROOT), show_default=True, help="The lab's state directory."
)
_target = click.option(
    "--target",
    type=click.Choice(["lab", "swarm-lab", "prod"]),
    default="lab",
    show_default=True,
    help="Where to drill (only the loopback lab today).",
)


def _driver(target: str, env_path: str, root: str) -> tuple[Driver, Journal]:
    """The target's driver and its journal; exit 2 for a target without a driver yet."""
    if target == "prod":
        click.echo("error: --target prod is refused: production drills are not implemented", err=True)
        sys.exit(2)
    if target != "lab":
        click.echo(f"error: --target {target}: no drill driver for this target yet (only lab)", err=True)
        sys.exit(2)
    from iklim.drill.journal import Journal
    from iklim.drill.labdriver import LabDriver
    from iklim.lab.commands import lab_context

    ctx = lab_context(env_path, root)
    return LabDriver(ctx), Journal(ctx.root / "drill")


def _refusal(driver: Driver, clusters: tuple[str, ...], fault: str, unsafe: bool) -> str:
    """Why the drill must not start ("" when it may): a fault not offered for a cluster,
    ``--unsafe-config`` where none is offered, or an unsafe configuration found without it."""
    from iklim.drill.driver import DrillError

    for name in clusters:
        if fault not in driver.faults(name):
            return f"{name}: fault {fault!r} is not offered (offered: {', '.join(driver.faults(name))})"
        if unsafe and (fault != "isolate" or name not in UNSAFE_CLUSTERS):
            return f"{name}: --unsafe-config is offered with --fault isolate on {' or '.join(UNSAFE_CLUSTERS)} only"
        if not unsafe:
            try:
                why = driver.unsafe_reason(name)
            except DrillError as exc:
                return str(exc)
            if why:
                return f"{why}: an unsafe configuration, drilled only with --unsafe-config"
    return ""


#: The clusters with an unsafe configuration to demonstrate the loss checker on.
UNSAFE_CLUSTERS = ("redis", "patroni")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@click.group("drill")
def drill_command() -> None:
    """Fault drills: kill, stop, pause, isolate or hand over a cluster's leader under a client write load, measure
    the recovery time and count acknowledged writes lost (Jepsen-style), then heal.

    \b
    Examples:
      iklim drill list                                  # clusters and faults per target
      iklim drill run --cluster etcd --runs 3           # 3 leader kills of etcd on the lab
      iklim drill run --cluster all --format json --out drills/
      iklim drill run --cluster redis --fault pause     # the zombie master
      iklim drill run --cluster etcd --fault isolate    # iptables partition of the leader
      iklim drill run --cluster redis --fault isolate --unsafe-config   # loss must be reported
      iklim drill heal                                  # undo faults a killed drill left behind
    """


@drill_command.command("list")
@_env
@_root
def list_command(env_path: str, root: str) -> None:
    """List the clusters and faults each target can drill.

    \b
    Example:
      iklim drill list
    """
    from iklim.drill.driver import FAULTS
    from iklim.drill.labdriver import LabDriver
    from iklim.drill.labseams import SEAMS

    click.echo(f"lab: clusters {', '.join(SEAMS)}; faults {', '.join(FAULTS)}")
    for name in SEAMS:
        click.echo(f"lab: {name}: faults {', '.join(LabDriver.faults(LabDriver.__new__(LabDriver), name))}")
    click.echo(f"lab: --unsafe-config: --fault isolate on {', '.join(UNSAFE_CLUSTERS)}")
    click.echo("swarm-lab: no driver yet")


@drill_command.command("run")
@_env
@_root
@_target
@click.option("--cluster", default="all", show_default=True, help="etcd, patroni, redis, rabbitmq, or all.")
@click.option(
    "--fault",
    type=click.Choice(FAULTS),
    default="kill",
    show_default=True,
    help="kill (SIGKILL), stop (graceful SIGTERM), pause (SIGSTOP until healed, then SIGCONT), isolate "
    "(iptables cut from peers and clients), etcd-leader (SIGKILL of etcd's leader; patroni, etcd) or "
    "switchover (planned hand-over through the cluster's API).",
)
@click.option(
    "--unsafe-config",
    is_flag=True,
    help="With --fault isolate on redis or patroni: drill an intentionally unsafe configuration (Redis "
    "min-replicas-to-write 0; Patroni asynchronous with a huge maximum_lag_on_failover), set at run time and "
    "restored on heal, with the clients kept on the isolated leader: loss is expected and exit 0 means the "
    "checker caught it. Without it a cluster found in such a configuration is refused.",
)
@click.option("--runs", type=click.IntRange(1, 1000), default=1, show_default=True, help="Runs per cluster.")
@click.option("--rate", type=click.FloatRange(1, 1000), default=50.0, show_default=True, help="Writes per second.")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json", "markdown", "junit"]), default="text", show_default=True
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write report.json, .txt, .md, junit.xml and the histories.",
)
def run_command(
    env_path: str,
    root: str,
    target: str,
    cluster: str,
    fault: str,
    unsafe_config: bool,
    runs: int,
    rate: float,
    fmt: str,
    out: Path | None,
) -> None:
    """Run fault drills and report recovery time and acknowledged-write loss.

    Each run: the cluster must be healthy; writers start (unique values, --rate Hz); the fault is
    written to the journal (<root>/drill/journal.json), then applied to the leader the cluster's
    own API names; the drill waits for the clients to recover, heals (restarts the member, removes
    the isolate's iptables rules by their comment), waits until healthy, reads everything back.
    Exit 0 when every run recovered and lost nothing acknowledged (with --unsafe-config: recovered
    and the checker found acknowledged writes lost, the expected outcome), 1 otherwise, 2 when a
    drill could not run (a fault not offered, an unsafe configuration found without the flag).

    \b
    Examples:
      iklim drill run --cluster etcd
      iklim drill run --cluster redis --runs 5 --format json --out /tmp/drill
      iklim drill run --cluster all --format junit > drill-junit.xml
      iklim drill run --cluster patroni --fault isolate         # partition of the primary
      iklim drill run --cluster patroni --fault switchover      # planned: Patroni /switchover
      iklim drill run --cluster patroni --fault etcd-leader     # did the primary demote?
      iklim drill run --cluster redis --fault isolate --unsafe-config   # must report loss > 0
    """
    from iklim.drill.driver import DrillError
    from iklim.drill.report import document, text, write_out
    from iklim.drill.runner import RunResult, Settings, run_once

    driver, journal = _driver(target, env_path, root)
    driver.unsafe_config = unsafe_config
    if not (Path(root) / "components.json").is_file():  # never drill a lab another root started
        click.echo(f"error: no lab was started from {root} (run `iklim lab up --root {root}` first)", err=True)
        sys.exit(2)
    clusters: tuple[str, ...] = (cluster,)
    if cluster == "all":  # the clusters the fault (and --unsafe-config) is offered for
        clusters = tuple(
            c for c in driver.clusters() if fault in driver.faults(c) and (not unsafe_config or c in UNSAFE_CLUSTERS)
        )
    unknown = [c for c in clusters if c not in driver.clusters()]
    if unknown:
        click.echo(f"error: unknown cluster {unknown[0]!r} (known: {', '.join(driver.clusters())}, all)", err=True)
        sys.exit(2)
    try:
        pending = journal.pending()
    except OSError as exc:  # a torn or unreadable journal: its file:line, as `heal` says it
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    if pending:
        click.echo("error: the fault journal holds unhealed faults: run `iklim drill heal` first", err=True)
        sys.exit(2)
    refusal = _refusal(driver, clusters, fault, unsafe_config)
    if refusal:
        click.echo(f"error: {refusal}", err=True)
        sys.exit(2)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    results: list[RunResult] = []
    try:
        for name in clusters:
            for n in range(1, runs + 1):
                click.echo(f"drill: {name} {fault} run {n}/{runs}", err=True)
                results.append(run_once(driver, journal, name, fault, n, Settings(rate=rate)))
    except DrillError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("drill: interrupted; the fault was healed", err=True)
        sys.exit(130)
    finally:
        signal.signal(signal.SIGTERM, previous)
    doc = document(driver.target, results)
    if out is not None:
        write_out(out, doc, results)
    from iklim.drill.formats import junit, markdown

    rendered = {"json": json.dumps(doc, indent=2) + "\n", "markdown": markdown(doc), "junit": junit(doc)}
    click.echo(rendered.get(fmt, text(doc)), nl=False)
    sys.exit(0 if doc["ok"] else 1)


@drill_command.command("heal")
@_env
@_root
@_target
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for each cluster's health.")
def heal_command(env_path: str, root: str, target: str, timeout: float) -> None:
    """Undo every fault in the journal (after iklim itself was killed mid-drill), wait until healthy.

    Then sweeps what no journal names: iptables rules whose comment starts with ``iklim-drill``
    (and their cgroups), and lab members left stopped (SIGSTOP) are continued.

    \b
    Example:
      iklim drill heal && iklim lab status
    """
    from iklim.drill.driver import DrillError
    from iklim.drill.runner import heal_pending

    if not Path(root).is_dir():  # a mistyped --root must not read as "nothing to heal"
        click.echo(f"error: no lab state at {root} (the --root of `iklim lab up`)", err=True)
        sys.exit(2)
    driver, journal = _driver(target, env_path, root)
    from iklim.drill.journal import JournalError

    try:
        healed = heal_pending(driver, journal, timeout)
    except JournalError as exc:  # unreadable: nothing was attempted, as `run` says it
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except (DrillError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    for entry in healed:
        click.echo(f"healed: {entry.cluster} {entry.fault} {entry.member} (fault {entry.fault_id})")
    try:
        swept = driver.sweep()  # leftovers no journal names (a journal lost or wiped)
    except (DrillError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    for words in swept:
        click.echo(f"swept: {words}")
    if not healed and not swept:
        click.echo("nothing to heal")
