"""``iklim status``: one quorum-aware health view of every cluster, in well under a second.

Layers, each small and separately testable:

- :mod:`.plan`: where each component's members are and what the model expects of them (limits,
  names); :mod:`.planbuild` derives it from the model, :mod:`.plancache` keeps it as plain JSON
  so the hot path never imports pydantic.
- :mod:`.transport`: the only code that opens sockets (HTTP JSON, a Redis-protocol command, a
  MongoDB command). Probes talk to a :class:`~.transport.Transport`, so tests can substitute one.
- :mod:`.probes`: one module per component. ``observe`` turns answers into an immutable snapshot;
  ``evaluate`` turns a snapshot into a :class:`~.report.Report` (healthy / degraded / down + why).
- :mod:`.runner`: every probe in its own thread with its own deadline.
- :mod:`.output`: text, JSON (schema in :data:`.output.JSON_SCHEMA`) and Prometheus exposition.
"""
