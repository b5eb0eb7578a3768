"""A lab node's own files: what a production server has to itself but the lab nodes would share.

The six nodes share this machine's filesystem. The runbook's per-node firewall step
(``init/hosts/*-docker-user.sh``, run through ``ssh``) installs an applier in
``/usr/local/sbin`` and a systemd unit in ``/etc/systemd/system`` and enables it with
``systemctl``. Run as is, it would write into this machine's ``/etc`` and fail (no systemd as
PID 1). So each node's mount namespace gets (bind mounts set up by :func:`.nodes.dockerd_argv`):

- its own ``/etc/systemd/system`` and ``/usr/local/sbin`` (``paths.HOSTS/<hostname>/...``);
- ``/usr/bin/systemctl`` replaced by :data:`SYSTEMCTL`, a lab-only stand-in for the three verbs
  the scripts use (``daemon-reload``, ``enable``, ``is-enabled``): ``enable`` makes the
  ``WantedBy=``/``RequiredBy=`` links exactly as systemd does, in the node's own folder; any
  other verb fails loudly. Nothing is started: the node has no init system.
"""

from __future__ import annotations

import os
from pathlib import Path

from iklim.swarmlab import paths

#: (path inside the node, folder name under ``paths.HOSTS/<hostname>``)
PRIVATE_DIRS = (("/etc/systemd/system", "etc-systemd-system"), ("/usr/local/sbin", "usr-local-sbin"))
SYSTEMCTL_TARGET = "/usr/bin/systemctl"

SYSTEMCTL = r"""#!/bin/bash
# Swarm lab only (iklim.swarmlab.nodefs): a lab node has no init system. This stands in for the
# systemctl verbs the runbook's host scripts use, on the node's own /etc/systemd/system.
set -euo pipefail
quiet=0; args=()
for a in "$@"; do case "$a" in -q|--quiet) quiet=1;; --no-reload|--no-block) ;; -*) ;; *) args+=("$a");; esac; done
verb=${args[0]:-}
dir=/etc/systemd/system
case "$verb" in
  daemon-reload) exit 0;;
  enable)
    for unit in "${args[@]:1}"; do
      file=$dir/$unit
      [ -f "$file" ] || { echo "Failed to enable unit: Unit file $unit does not exist." >&2; exit 1; }
      for kind in WantedBy:wants RequiredBy:requires; do
        key=${kind%%:*} suffix=${kind##*:}
        for target in $(sed -n "s/^$key=//p" "$file"); do
          mkdir -p "$dir/$target.$suffix"
          ln -sfn "$file" "$dir/$target.$suffix/$unit"
          [ "$quiet" = 1 ] || echo "Created symlink $dir/$target.$suffix/$unit -> $file."
        done
      done
    done;;
  is-enabled)
    unit=${args[1]:-}
    if compgen -G "$dir/*.wants/$unit" >/dev/null || compgen -G "$dir/*.requires/$unit" >/dev/null; then
      echo enabled
    else
      echo disabled; exit 1
    fi;;
  *) echo "lab systemctl: '$verb' is not available on a Swarm lab node (no init system)" >&2; exit 1;;
esac
"""


def node_dir(hostname: str, name: str) -> Path:
    """The folder standing in for one of :data:`PRIVATE_DIRS` on ``hostname``."""
    return paths.HOSTS / hostname / name


def systemctl_path() -> Path:
    """Where the lab ``systemctl`` is written (bound over ``/usr/bin/systemctl`` in every node)."""
    return paths.SHIM_DIR / "node-systemctl"


def prepare(hostname: str) -> list[tuple[str, str]]:
    """Create ``hostname``'s private folders and the lab systemctl; returns (source, target) bind pairs."""
    binds = []
    for target, name in PRIVATE_DIRS:
        source = node_dir(hostname, name)
        source.mkdir(parents=True, exist_ok=True)
        binds.append((str(source), target))
    script = systemctl_path()
    script.parent.mkdir(parents=True, exist_ok=True)
    tmp = script.with_suffix(".tmp")
    tmp.write_text(SYSTEMCTL)
    tmp.chmod(0o755)
    os.replace(tmp, script)
    binds.append((str(script), SYSTEMCTL_TARGET))
    return binds
