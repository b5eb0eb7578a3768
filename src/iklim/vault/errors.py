"""The one error every Vault step raises: a one-line reason an operator can act on."""

from __future__ import annotations


class BootstrapError(Exception):
    """The bootstrap cannot go on; the message says which member and why."""
