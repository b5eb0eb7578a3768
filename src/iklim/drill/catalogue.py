"""What ``iklim drill list`` says: per target, its clusters, its faults and each cluster's workload
(the first sentence of its workload module's docstring), and the clusters that cannot be drilled
here with the reason (MongoDB joins when a ``mongod`` is available; none is installed here, the
lab's MongoDB then does not run)."""

from __future__ import annotations

import importlib
import re

from iklim.drill.driver import FAULTS
from iklim.drill.gate import ACCEPT_FLAG


def workload_words(cluster: str) -> str:
    """The first sentence of ``iklim.drill.workloads.<cluster>``'s docstring, without markup
    (at most 120 characters); "" when there is no such module."""
    try:
        module = importlib.import_module(f"iklim.drill.workloads.{cluster}")
    except ImportError:
        return ""
    text = " ".join((module.__doc__ or "").split()).replace("``", "")
    first = re.split(r"(?<=[.;])\s|,\s+(?:as|which)\s", text, maxsplit=1)[0].rstrip(".;")
    return first if len(first) <= 120 else first[:117].rstrip() + "..."


def mongodb_note() -> str:
    """Why MongoDB is not drilled here (its lab runner's missing binaries), or what it waits for."""
    from iklim.lab.components.mongodb import MongoDBLab

    missing = MongoDBLab().missing()
    if missing:
        return f"not drilled: {missing}; it joins when a mongod is available"
    return "not drilled yet: a mongod is installed, but no drill seam exists for it"


def listing() -> str:
    """The text of ``iklim drill list`` (one line per target, then one per cluster)."""
    from iklim.drill.driver import UNSAFE_CLUSTERS
    from iklim.drill.labdriver import LAB_SEAMS, LabDriver

    lines = [f"lab: clusters {', '.join(LAB_SEAMS)}; faults {', '.join(FAULTS)}"]
    width = max(len(c) for c in (*LAB_SEAMS, "mongodb"))
    lines += [f"  {cluster:<{width}}  {workload_words(cluster)}" for cluster in LAB_SEAMS]
    lines.append(f"  {'mongodb':<{width}}  {mongodb_note()}")
    for cluster in LAB_SEAMS:
        faults = LabDriver.faults(LabDriver.__new__(LabDriver), cluster)  # a table: no lab context
        lines.append(f"lab: {cluster}: faults {', '.join(faults)}")
    lines.append(f"lab: --unsafe-config: --fault isolate on {', '.join(UNSAFE_CLUSTERS)}")
    from iklim.drill.labseams import SEAMS
    from iklim.drill.swarmdriver import SWARM_FAULTS

    swarm = f"clusters {', '.join(SEAMS)}; faults {', '.join(SWARM_FAULTS)}"
    lines.append(f"swarm-lab: {swarm} (from a seat on the overlay)")
    lines.append(f"prod: refused unless {ACCEPT_FLAG} and `iklim status --target prod` is healthy; no driver yet")
    return "\n".join(lines) + "\n"
