"""``iklim drill``: measured failover (recovery time) and acknowledged-write loss, per cluster."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from iklim.drill.driver import FAULTS, UNSAFE_CLUSTERS
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
    help="Where to drill: the loopback lab, the Swarm lab (from a seat on its overlay), or prod (--i-accept-downtime).",
)


def _driver(target: str, env_path: str, root: str) -> tuple[Driver, Journal]:
    """The target's driver and its journal; exit 2 for a target without a driver.

    ``swarm-lab``: outside the drill seat this re-runs the same command line inside it
    (:mod:`iklim.drill.swarmseat`) and exits with its code; inside, the Swarm lab's driver.
    """
    if target == "prod":
        click.echo("error: --target prod: no production drill driver exists yet", err=True)
        sys.exit(2)
    if target == "swarm-lab":
        return _swarm_driver(env_path)
    from iklim.drill.journal import Journal
    from iklim.drill.labdriver import LabDriver
    from iklim.lab.commands import lab_context

    ctx = lab_context(env_path, root)
    return LabDriver(ctx), Journal(ctx.root / "drill")


def _prod_gate(env_path: str, accept_downtime: bool) -> None:
    """Exit 2 with the gate's one-line reason unless production may be drilled
    (:func:`iklim.drill.gate.prod_refusal`); production is contacted only with the flag."""
    from iklim.drill.gate import prod_refusal, prod_status

    reason = prod_refusal(accept_downtime, lambda: prod_status(env_path))
    if reason is not None:
        click.echo(f"error: {reason}", err=True)
        sys.exit(2)


def _swarm_driver(env_path: str) -> tuple[Driver, Journal]:
    from iklim.drill.journal import Journal
    from iklim.drill.swarmdriver import SwarmLabDriver
    from iklim.drill.swarmseat import SeatContext, SeatError, check_seated, run_in_seat, seated_pid
    from iklim.model.commands import load_or_exit
    from iklim.swarmlab import paths
    from iklim.swarmlab.nodes import api_ready, lab_nodes
    from iklim.swarmlab.swarm import engine, first_manager

    env = load_or_exit(env_path)
    manager = first_manager(lab_nodes(env))
    pid = seated_pid()
    if pid is None:
        if not api_ready(manager):
            click.echo("error: the Swarm lab is not up: iklim swarm-lab up", err=True)
            sys.exit(2)
        try:
            with engine(manager) as client:
                code = run_in_seat(client, env, [sys.executable, "-m", "iklim", *sys.argv[1:]])
        except SeatError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        sys.exit(code)
    try:
        check_seated(pid, manager.hostname)
    except SeatError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    return SwarmLabDriver(env, manager.hostname, SeatContext(env, pid)), Journal(paths.STATE / "drill")


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


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@click.group("drill")
def drill_command() -> None:
    """Fault drills: kill, stop, pause, isolate or hand over a cluster's leader under a client write load, measure
    the recovery time and count acknowledged writes lost (Jepsen-style), then heal.

    \b
    Examples:
      iklim drill list                                  # clusters, faults and workloads per target
      iklim drill run --cluster etcd --runs 3           # 3 leader kills of etcd on the lab
      iklim drill run --cluster vault --runs 3 --out drills/   # OpenBao's active; timeline-vault-kill-N.svg
      iklim drill run --cluster all --format json --out drills/
      iklim drill run --cluster redis --fault pause     # the zombie master
      iklim drill run --cluster etcd --fault isolate    # iptables partition of the leader
      iklim drill run --cluster redis --fault isolate --unsafe-config   # loss must be reported
      iklim drill heal                                  # undo faults a killed drill left behind
      iklim drill run --target swarm-lab --cluster patroni   # docker kill of the Patroni leader's task
      iklim drill heal --target swarm-lab
    """


@drill_command.command("list")
@_env
@_root
def list_command(env_path: str, root: str) -> None:
    """List the clusters, faults and workloads each target offers (and what is missing here).

    \b
    Example:
      iklim drill list
    """
    from iklim.drill.catalogue import listing

    click.echo(listing(), nl=False)


@drill_command.command("run")
@_env
@_root
@_target
@click.option("--cluster", default="all", show_default=True, help="etcd, patroni, redis, rabbitmq, vault, or all.")
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
    help="Write report.json, .txt, .md, junit.xml, the histories and one timeline picture per run.",
)
@click.option(
    "--picture",
    type=click.Choice(["svg", "png", "none"]),
    default="svg",
    show_default=True,
    help="The format of the timeline pictures --out gets.",
)
@click.option(
    "--i-accept-downtime",
    "accept_downtime",
    is_flag=True,
    help="(--target prod) Admit a production drill, and then only if `iklim status --target prod` is healthy.",
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
    picture: str,
    accept_downtime: bool,
) -> None:
    """Run fault drills and report recovery time and acknowledged-write loss.

    Each run: the cluster must be healthy; writers start (unique values, --rate Hz); the fault is
    written to the journal (<root>/drill/journal.json), then applied to the leader the cluster's
    own API names; the drill waits for the clients to recover, heals (restarts the member, removes
    the isolate's iptables rules by their comment), waits until healthy, reads everything back.
    Exit 0 when every run recovered and lost nothing acknowledged (with --unsafe-config: recovered
    and the checker found acknowledged writes lost, the expected outcome), 1 otherwise, 2 when a
    drill could not run (a fault not offered, an unsafe configuration found without the flag).
    --out also gets one timeline picture per run (timeline-<cluster>-<fault>-<run>.svg): writes
    per 100 ms, the fault window, the detection, election and leader change.

    --target prod is refused (exit 2) unless --i-accept-downtime is given; with it, `iklim status
    --target prod` is asked (this contacts production) and must say every cluster is healthy; no
    production driver exists yet, so even then it exits 2 saying so.

    \b
    Examples:
      iklim drill run --cluster etcd
      iklim drill run --cluster vault --runs 3 --out /tmp/drill   # OpenBao; timelines in /tmp/drill
      iklim drill run --cluster redis --runs 5 --format json --out /tmp/drill --picture png
      iklim drill run --cluster all --format junit > drill-junit.xml
      iklim drill run --target prod --i-accept-downtime --cluster vault   # gated on a healthy status
      iklim drill run --target swarm-lab --cluster etcd --fault stop
      iklim drill run --cluster patroni --fault isolate         # partition of the primary
      iklim drill run --cluster patroni --fault switchover      # planned: Patroni /switchover
      iklim drill run --cluster patroni --fault etcd-leader     # did the primary demote?
      iklim drill run --cluster redis --fault isolate --unsafe-config   # must report loss > 0

    \b
    On the Swarm lab the journal is /var/lib/iklim-swarmlab/drill/journal.json, the fault goes
    through the Docker Engine API of the node running the leader's task (kill, stop, pause),
    Swarm's restart policy brings a killed task back, and the clients and observer run from a
    seat container on the overlay (the service iklim-drill-seat, removed afterwards).
    """
    from iklim.drill.driver import DrillError
    from iklim.drill.report import document, text, write_out
    from iklim.drill.runner import RunResult, Settings, run_once

    if target == "prod":
        _prod_gate(env_path, accept_downtime)
    if target == "swarm-lab":  # refused before the seat is opened: nothing is touched
        from iklim.drill.labseams import SEAMS
        from iklim.drill.swarmdriver import SWARM_FAULTS

        if cluster != "all" and cluster not in SEAMS:
            click.echo(f"error: unknown cluster {cluster!r} (known: {', '.join(SEAMS)}, all)", err=True)
            sys.exit(2)
        if fault not in SWARM_FAULTS:
            click.echo(
                f"error: --fault {fault} is not carried out on the Swarm lab ({', '.join(SWARM_FAULTS)})", err=True
            )
            sys.exit(2)
    driver, journal = _driver(target, env_path, root)
    driver.unsafe_config = unsafe_config
    if target == "lab" and not (Path(root) / "components.json").is_file():  # never drill a lab another root started
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
    if out is not None:  # before any fault: an unwritable --out must not lose a finished drill's report
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            click.echo(f"error: --out {out}: {exc.strerror or exc}", err=True)
            sys.exit(2)
        if not os.access(out, os.W_OK):
            click.echo(f"error: --out {out}: not writable", err=True)
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
        write_out(out, doc, results, None if picture == "none" else picture)
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
    \b
    Examples:
      iklim drill heal && iklim lab status
      iklim drill heal --target swarm-lab     # unpause; wait for Swarm's new tasks and a healthy status
    """
    from iklim.drill.driver import DrillError
    from iklim.drill.runner import heal_pending

    lab_state = (Path(root) / "components.json").is_file() or (Path(root) / "drill").is_dir()
    if target == "lab" and not lab_state:  # a mistyped --root must not read as "nothing to heal",
        # nor sweep the tagged rules of another lab's drill in progress
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
