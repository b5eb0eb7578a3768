"""The two lab-only shims the runbook finds first on its PATH (rendered into :data:`.paths.SHIM_DIR`).

- ``ssh``: the runbook's ``on_node`` runs ``ssh -o BatchMode=yes root@<private ip> CMD...``. The
  shim maps the address to the lab node and runs ``CMD`` (joined by spaces, as ssh hands it to the
  remote shell) with ``bash -c`` in the node's network, UTS and mount namespaces, with ``DOCKER_HOST`` set
  to that node's engine and the shims removed from ``PATH`` (a real node has no shims). stdin is
  passed through (``'bash -s' < script``). An unknown address exits 255, as ssh does.
- ``docker``: adds ``-c <override>`` after each ``-c FILE`` of ``docker stack deploy`` when the
  lab has an override for that file (see :mod:`.override`); every other command goes to the real
  ``docker`` unchanged.
"""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path

from iklim.swarmlab import paths
from iklim.swarmlab.nodes import LabError, LabNode


def real_docker() -> str:
    """The ``docker`` CLI on PATH outside the shim folder; raises :class:`LabError` when none."""
    search = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != str(paths.SHIM_DIR))
    found = shutil.which("docker", path=search)
    if found is None:
        raise LabError("no docker CLI on PATH: install docker.io (scripts/install-swarm-lab.sh)")
    return found


def ssh_shim(nodes: list[LabNode]) -> str:
    """The text of the ``ssh`` shim for ``nodes``."""
    cases = "\n".join(
        f"  {node.ip}) pidfile={shlex.quote(str(paths.pidfile(node.hostname)))}; sock={shlex.quote(node.docker_host)};;"
        for node in nodes
    )
    return f"""#!/bin/bash
# Swarm lab only (iklim.swarmlab.shims): `ssh [opts] [user@]<node private ip> CMD...` runs CMD in
# that lab node's network, UTS and mount namespaces with DOCKER_HOST set to its engine.
set -euo pipefail
host=
while [ $# -gt 0 ]; do
  case "$1" in
    -o|-p|-i|-l|-F|-J|-E|-b|-c|-e|-m|-O|-Q|-R|-L|-D|-S|-W|-w|-B|-I) shift 2;;
    --) shift; host=${{1:-}}; shift || true; break;;
    -*) shift;;
    *) host=$1; shift; break;;
  esac
done
case "${{host#*@}}" in
{cases}
  *) echo "lab ssh: no lab node at ${{host#*@}}" >&2; exit 255;;
esac
pid=$(cat "$pidfile" 2>/dev/null) || {{ echo "lab ssh: node ${{host#*@}} is not running" >&2; exit 255; }}
path=$(printf '%s' "$PATH" | tr ':' '\\n' | grep -vxF {shlex.quote(str(paths.SHIM_DIR))} | paste -sd: -)
exec nsenter --target "$pid" --net --uts --mount env PATH="$path" DOCKER_HOST="$sock" bash -c "$*"
"""


def docker_shim(real: str) -> str:
    """The text of the ``docker`` shim that calls ``real`` (an absolute path)."""
    return f"""#!/bin/bash
# Swarm lab only (iklim.swarmlab.shims): `docker stack deploy -c FILE` also gets the lab override
# of FILE (endpoint_mode dnsrr; 0 replicas where no image exists here) right after it, and
# `docker network create` loses `--opt encrypted` (this kernel has no ESP transform: an encrypted
# overlay would carry nothing between the nodes).
set -euo pipefail
real={shlex.quote(real)}
overrides={shlex.quote(str(paths.OVERRIDES))}
if [ "${{1:-}}" = network ] && [ "${{2:-}}" = create ]; then
  out=(network create); shift 2
  while [ $# -gt 0 ]; do
    if [ "$1" = --opt ] && [ "${{2:-}}" = encrypted ]; then
      echo "swarm lab: --opt encrypted dropped (no ESP in this kernel)" >&2; shift 2
    elif [ "$1" = --opt=encrypted ]; then
      echo "swarm lab: --opt encrypted dropped (no ESP in this kernel)" >&2; shift
    else
      out+=("$1"); shift
    fi
  done
  exec "$real" "${{out[@]}}"
fi
if [ "${{1:-}}" = stack ] && [ "${{2:-}}" = deploy ]; then
  out=(stack deploy); shift 2
  while [ $# -gt 0 ]; do
    case "$1" in
      -c|--compose-file)
        out+=("$1" "$2"); o="$overrides/$(basename "$2" .yml).lab.yml"
        if [ -f "$o" ]; then out+=(-c "$o"); fi
        shift 2;;
      *) out+=("$1"); shift;;
    esac
  done
  exec "$real" "${{out[@]}}"
fi
exec "$real" "$@"
"""


def write_shims(nodes: list[LabNode]) -> Path:
    """Render both shims into :data:`.paths.SHIM_DIR` (mode 0755, atomically); returns the folder."""
    paths.SHIM_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in (("ssh", ssh_shim(nodes)), ("docker", docker_shim(real_docker()))):
        target = paths.SHIM_DIR / name
        tmp = target.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.chmod(0o755)
        os.replace(tmp, target)
    return paths.SHIM_DIR
