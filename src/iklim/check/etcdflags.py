"""An etcd member's effective settings, read from its compose service as etcd reads them:
``ETCD_*`` variables, overridden by command-line flags (``-name`` or ``--name``, ``=value`` or
the next word; a boolean flag takes only ``=value``). The flags are the words of the
``entrypoint`` followed by the ``command`` (Docker runs them as one argument list, so a flag in
one and its value in the other still pair), or, when those run a shell's ``-c`` script, the
arguments of each ``etcd`` command in the script. Used by ``plaintext-listener``.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from iklim.check.compose import environment, get_list
from iklim.check.programs import script_programs, shell_script_at
from iklim.check.yamlload import Pos, YMap

#: Go's ``strconv.ParseBool`` words for true (etcd's boolean flags and variables).
GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
#: The boolean flags the rule reads (a bare ``--client-cert-auth`` is true; the next word is not
#: its value).
BOOLEAN_FLAGS = frozenset({"client-cert-auth", "peer-client-cert-auth"})


@dataclass(frozen=True)
class Setting:
    """One effective setting: its ``value`` as text, where it is written (``pos``), and how
    (``shown``: ``ETCD_CLIENT_CERT_AUTH`` or ``--client-cert-auth``)."""

    value: str
    pos: Pos
    shown: str


def command_words(spec: YMap, key: str) -> list[tuple[str, Pos]]:
    """The words of ``command``/``entrypoint`` (a list, or one string split as a shell would),
    each with its position (a string's words share the key's)."""
    args = get_list(spec, key)
    if args is not None:
        return [(a if isinstance(a, str) else "", args.at(i)) for i, a in enumerate(args)]
    raw = spec.get(key)
    if not isinstance(raw, str):
        return []
    try:
        words = shlex.split(raw)
    except ValueError:
        words = raw.split()
    return [(w, spec.at(key)) for w in words]


def effective_settings(spec: YMap) -> dict[str, Setting]:
    """One etcd member's effective settings by flag name: its ``ETCD_*`` variables, then its
    command-line flags, which win (etcd: "command-line flags take precedence over environment
    variables"). Flags as Go's ``flag`` package reads them: ``-name`` or ``--name``, ``=value``
    or the next word, except a boolean flag, which takes only ``=value`` (bare: true)."""
    found: dict[str, Setting] = {}
    for name, value, _, pos in environment(spec):
        if name.startswith("ETCD_") and value is not None and not isinstance(value, YMap):
            text = str(value).lower() if isinstance(value, bool) else str(value)
            found[name[5:].lower().replace("_", "-")] = Setting(text, pos, name)
    words = flag_words(spec)
    for index, (word, pos) in enumerate(words):
        if not word.startswith("-") or word in ("-", "--") or word.startswith("---"):
            continue  # Go's flag package refuses ``---name`` (bad flag syntax): etcd would not start
        name, eq, value = word.lstrip("-").partition("=")
        if not eq:
            following = words[index + 1][0] if index + 1 < len(words) else ""
            value = "true" if name in BOOLEAN_FLAGS else ("" if following.startswith("-") else following)
        found[name] = Setting(value, pos, f"--{name}")
    return found


def flag_words(spec: YMap) -> list[tuple[str, Pos]]:
    """The words etcd reads as its flags, each with its position: the ``entrypoint`` words, then
    the ``command`` words; when they run a shell's ``-c`` script, the arguments of every ``etcd``
    command in it, in order (a later one wins as the last flag does), at the script's position."""
    words = command_words(spec, "entrypoint") + command_words(spec, "command")
    at = shell_script_at([w for w, _ in words])
    if at is None:
        return words
    script, pos = words[at]
    return [(arg, pos) for program, args in script_programs(script) if program == "etcd" for arg in args]
