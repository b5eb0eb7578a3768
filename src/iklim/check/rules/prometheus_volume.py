"""Prometheus keeps its TSDB on a local Docker volume, never on the StorageBox.

StorageBox/DAVFS breaks Prometheus' WAL and compaction I/O. The TSDB directory (``/prometheus``,
or ``--storage.tsdb.path``) must be a named volume with the ``local`` driver and no driver
options (no ``type: davfs``/``cifs``/``nfs``, no ``o: bind`` onto a mount): not a bind mount,
not a tmpfs, and not left inside the container.

Failing example::

    services:
      prometheus:
        image: prom/prometheus:v2.55.1
        volumes: ["/mnt/storagebox/prometheus:/prometheus"]

Passing example::

    services:
      prometheus:
        image: prom/prometheus:v2.55.1
        volumes: ["prometheus-data:/prometheus"]
    volumes:
      prometheus-data: {}
"""

from __future__ import annotations

from collections.abc import Iterator

from iklim.check.compose import get_list, get_map, mounts
from iklim.check.documents import Documents
from iklim.check.findings import Finding, Severity
from iklim.check.policy import Policy
from iklim.check.rules.base import Rule


def _tsdb_path(spec: object, default: str) -> str:
    command = get_list(spec, "command")
    items = [str(c) for c in command] if command is not None else []
    if isinstance(spec, dict) and isinstance(spec.get("command"), str):
        items = str(spec["command"]).split()
    for index, arg in enumerate(items):
        if arg.startswith("--storage.tsdb.path="):
            return arg.split("=", 1)[1]
        if arg == "--storage.tsdb.path" and index + 1 < len(items):
            return items[index + 1]
    return default


def check(docs: Documents, policy: Policy) -> Iterator[Finding]:
    for ref in docs.services():
        if ref.kind != "prometheus":
            continue
        target = _tsdb_path(ref.spec, policy.prometheus_target).rstrip("/") or "/"
        found = [m for m in mounts(ref.spec) if m.target.rstrip("/") == target]
        if not found:
            pos = ref.spec.kpos.get("volumes", ref.key_pos)
            yield RULE.on(ref, pos, f"mount a local named volume at {target} for the Prometheus TSDB")
            continue
        mount = found[0]
        if mount.kind != "volume" or not mount.source:
            yield RULE.on(
                ref,
                mount.pos,
                f"the Prometheus TSDB is a {mount.kind} mount: use a local named "
                "volume (StorageBox/DAVFS breaks WAL and compaction I/O)",
            )
            continue
        declared = get_map(ref.stack.data, "volumes")
        spec = get_map(declared, mount.source) if declared is not None else None
        if spec is None:
            continue
        driver = str(spec.get("driver") or "local")
        if driver != "local" or spec.get("external") or "driver_opts" in spec:
            key = "driver_opts" if "driver_opts" in spec else "driver" if "driver" in spec else "external"
            pos = spec.at(key) if key in spec else spec.pos
            yield RULE.on(
                ref,
                pos,
                f"volume {mount.source!r} holds the Prometheus TSDB: use the local driver "
                "without driver options (no StorageBox/DAVFS or bind)",
            )


RULE = Rule("prometheus-volume", Severity.ERROR, __doc__ or "", check)
