"""The errors every Vault step raises: a one-line reason an operator can act on."""

from __future__ import annotations


class BootstrapError(Exception):
    """The bootstrap cannot go on; the message says which member and why. CLI exit code 1."""

    exit_code = 1


class AnswerError(BootstrapError):
    """A member answered something that is not the Vault API; the message names its address.

    Another service on the port, or a proxy's error page: waiting does not help. CLI exit code 2.
    """

    exit_code = 2
