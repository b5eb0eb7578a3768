"""Grafana's data directory is the StorageBox path given by ``GRAFANA_DATA_DIR``.

Grafana's dashboards, plugins and SQLite database live on the StorageBox so Grafana can move
between service nodes. Its data directory (``/var/lib/grafana``) must be a bind mount of
``${GRAFANA_DATA_DIR}`` (the runbook sets it to ``/mnt/storagebox/grafana/data``) or of that
path itself; a named volume with ``driver_opts`` binding that path also passes.

Failing example::

    services:
      grafana:
        image: grafana/grafana:11.4.0
        volumes: ["grafana-data:/var/lib/grafana"]

Passing example::

    services:
      grafana:
        image: grafana/grafana:11.4.0
        volumes: ["${GRAFANA_DATA_DIR}:/var/lib/grafana"]
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from iklim.check.compose import environment, get_map, mounts
from iklim.check.documents import Documents
from iklim.check.findings import Finding, Severity
from iklim.check.policy import Policy
from iklim.check.rules.base import Rule


def _is_storagebox(source: str, raw: str, policy: Policy) -> bool:
    if re.search(r"\$\{?" + re.escape(policy.grafana_env) + r"\b", raw):
        return True
    return source.rstrip("/") == policy.grafana_path.rstrip("/")


def check(docs: Documents, policy: Policy) -> Iterator[Finding]:
    for ref in docs.services():
        if ref.kind != "grafana":
            continue
        target = policy.grafana_target
        for name, value, _, _pos in environment(ref.spec):
            if name == "GF_PATHS_DATA" and isinstance(value, str) and value:
                target = value
        target = target.rstrip("/")
        found = [m for m in mounts(ref.spec) if m.target.rstrip("/") == target]
        want = f"'${{{policy.grafana_env}}}:{target}'"
        if not found:
            pos = ref.spec.kpos.get("volumes", ref.key_pos)
            yield RULE.on(ref, pos, f"mount Grafana's data directory from the StorageBox: add {want}")
            continue
        mount = found[0]
        if mount.kind == "bind" and _is_storagebox(mount.source, mount.raw_source, policy):
            continue
        if mount.kind == "volume" and mount.source:
            declared = get_map(get_map(ref.stack.data, "volumes"), mount.source)
            opts = get_map(declared, "driver_opts")
            if opts is not None:
                device = opts.get("device")
                if isinstance(device, str) and _is_storagebox(device, opts.raw.get("device", device), policy):
                    continue
        yield RULE.on(
            ref,
            mount.pos,
            f"Grafana's data directory must be the StorageBox path "
            f"{policy.grafana_env} ({policy.grafana_path}): use {want}",
        )


RULE = Rule("grafana-storage", Severity.ERROR, __doc__ or "", check)
