"""Where the model is by default, relative to the repository root.

One definition for every command's ``--env`` default, the checker's model search and the
rendered files' "generated from" lines. This module imports nothing, so a command that must start
fast (``iklim status``, ``iklim check``) can name the default without loading pydantic.
"""

from __future__ import annotations

#: The production model, relative to the repository root (POSIX separators).
DEFAULT_ENV = "environments/prod.yaml"
