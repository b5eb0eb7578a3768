"""The production gate of ``iklim drill run --target prod``: a drill takes a production cluster's
leader down, so it is refused unless the operator says ``--i-accept-downtime`` **and** ``iklim
status --target prod`` says every cluster is healthy (a drill on a degraded cluster could turn
lost redundancy into an outage).

:func:`prod_refusal` decides from an injected status reading (tests give it one; nothing here
contacts production unless :func:`prod_status` is called, which the CLI does only when the flag
is given). Passing the gate does not make a drill possible: no production driver exists yet, and
the CLI says so (exit 2).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

#: The flag that admits a production drill (with a healthy status).
ACCEPT_FLAG = "--i-accept-downtime"


class Health(Protocol):
    """One component's verdict, as :class:`iklim.status.report.Report` gives it."""

    @property
    def component(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def reason(self) -> str: ...


def prod_refusal(accept_downtime: bool, read_status: Callable[[], Sequence[Health]]) -> str | None:
    """Why a production drill is refused (one line), or None when the gate lets it through.

    ``read_status`` is called only when ``accept_downtime`` is true; an OSError from it (production
    unreachable) refuses, as do no components at all and any component not ``healthy``.
    """
    if not accept_downtime:
        return f"--target prod is refused without {ACCEPT_FLAG}: a drill takes production leaders down"
    try:
        reports = list(read_status())
    except OSError as exc:
        return f"--target prod is refused: `iklim status --target prod` could not be read: {exc}"
    if not reports:
        return "--target prod is refused: `iklim status --target prod` reported no component"
    bad = [r for r in reports if r.status != "healthy"]
    if bad:
        named = "; ".join(f"{r.component} {r.status} ({r.reason})" for r in bad)
        return f"--target prod is refused: `iklim status --target prod` is not healthy: {named}"
    return None


def prod_status(env_path: str, timeout: float = 2.0) -> Sequence[Health]:
    """``iklim status --target prod``'s reports (contacts production: run it only from where the
    operator runs status, never from a test). Raises OSError when the model cannot be read."""
    from iklim.status.plancache import load_plan
    from iklim.status.runner import run_probes
    from iklim.status.secrets import EnvironmentSecrets
    from iklim.status.transport import NetTransport

    try:
        plan = load_plan(env_path, "prod")
    except OSError:
        raise
    except Exception as exc:  # the model loader's ModelError: the gate refuses, naming it
        raise OSError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    return run_probes(list(plan.components), NetTransport(), EnvironmentSecrets(), timeout)
