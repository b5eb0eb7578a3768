"""``iklim drill``: faults on a live cluster, with a client workload, measured recovery time and
Jepsen-style acknowledged-write accounting.

Layers inside the package, lowest first: ``history`` (the operation record), ``accounting`` and
``recovery`` (pure checkers over a history), ``journal`` (the fault journal), ``driver`` (the seam a
target implements), ``workloads`` (one client per cluster), ``runner`` (one drill), ``report`` and
``commands`` (the CLI).
"""
