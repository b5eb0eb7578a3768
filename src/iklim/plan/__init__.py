"""``iklim plan``: what a deploy of the rendered stacks would change on a running Swarm, and pre-flight checks.

Layers inside the package, lowest first: :mod:`.durations`, :mod:`.interpolate` and :mod:`.compose` (the rendered
stacks as the service specs ``docker stack deploy`` would send), :mod:`.live` (a manager's
snapshot through the Engine API, normalised to the same shape), :mod:`.diff` (pure: two
snapshots -> per-service actions), :mod:`.preflight` (pure checks over the snapshots),
:mod:`.output`, :mod:`.targets` and :mod:`.commands` (the CLI).
"""
