"""What Vault's ``/v1/sys/health`` says about a member, defined once for every reader.

The bootstrap (:mod:`iklim.vault.snapshot`, through hvac) asks it to answer 200 in every state
and reads the JSON body; ``iklim status`` (its own light transport, no hvac) reads the status
code of a plain ``GET``. Both name the member's state with the words below. This module imports
nothing, so the status hot path may use it.
"""

from __future__ import annotations

HEALTH_PATH = "/v1/sys/health"

#: The status code of a plain ``GET HEALTH_PATH`` (Vault's documented defaults) -> the state.
HEALTH_CODES = {
    200: "active",
    429: "standby",
    472: "dr-secondary",
    473: "performance-standby",
    501: "uninitialised",
    503: "sealed",
}


def health_state(initialized: bool, sealed: bool, standby: bool) -> str:
    """The state (a :data:`HEALTH_CODES` word) of a member from the body's three booleans."""
    if not initialized:
        return "uninitialised"
    if sealed:
        return "sealed"
    return "standby" if standby else "active"
