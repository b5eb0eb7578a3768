"""What a compose service runs: the programs of its ``entrypoint`` and ``command``, and the
paths it mounts. Inputs to :mod:`iklim.check.recognise`; no policy here.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from typing import Any

from iklim.check.shellscript import commands, split_words

#: Shells whose ``-c`` argument is a script to read for the programs it runs.
SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "busybox"})
#: Words that precede the program of a simple shell command.
_PREFIXES = frozenset(
    {"exec", "do", "then", "else", "elif", "if", "while", "until", "!", "nohup", "env", "time", "command"}
)
#: Programs that run their next non-option word as the program (after a user argument for gosu and
#: su-exec); an official image's ``docker-entrypoint.sh`` execs its arguments the same way.
_SWITCH_USER = frozenset({"gosu", "su-exec", "chpst", "tini", "dumb-init", "docker-entrypoint.sh"})
#: Prefixes whose options come before the program, with the options whose value is the next
#: word (``env``: GNU coreutils and busybox; ``exec``: bash).
_OPTIONS_VALUED = {
    "env": frozenset({"-u", "--unset", "-C", "--chdir", "-S", "--split-string"}),
    "exec": frozenset({"-a"}),
}
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
#: Bound on the script text read per service (characters): a program name is near the start.
_SCRIPT_LIMIT = 20_000
#: A shell option word that includes ``-c`` (``-c``, ``-ec``, ``-lc``, ``-euxc``).
_DASH_C = re.compile(r"-[A-Za-z]*c[A-Za-z]*")


def _words(value: Any) -> list[str] | None:
    """A command as Docker reads it: a list of words, or a string split like a shell would."""
    if isinstance(value, list):
        return [str(v) for v in value if v is not None]
    if isinstance(value, str):
        return split_words(value[:_SCRIPT_LIMIT])
    return None


def split_command(words: list[str]) -> tuple[list[str], str, list[str]] | None:
    """(variable assignments, program basename, arguments) of one simple command, past
    prefixes (``exec``, ``env``, user switchers); None when it runs no program."""
    assignments: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        if _ASSIGNMENT.match(word):
            assignments.append(word)
            index += 1
        elif word in _PREFIXES:
            index += 1
            valued = _OPTIONS_VALUED.get(word)
            while valued is not None and index < len(words) and words[index].startswith("-"):
                index += 2 if words[index] in valued else 1  # env -i, env -u NAME, exec -a NAME
        elif posixpath.basename(word) in _SWITCH_USER:
            index += 1
            while index < len(words) and words[index].startswith("-"):
                index += 1
            if posixpath.basename(word) in ("gosu", "su-exec") and index < len(words):
                index += 1  # the user
        else:
            return assignments, posixpath.basename(word), words[index + 1 :]
    return None


def _simple(words: list[str]) -> tuple[str, list[str]] | None:
    """(program basename, arguments) of one simple command, past assignments and prefixes."""
    found = split_command(words)
    return None if found is None else (found[1], found[2])


def script_commands(text: str) -> list[list[str]]:
    """The words of each simple command of a shell script (its first 20,000 characters), as
    :func:`iklim.check.shellscript.commands` reads them."""
    return commands(text[:_SCRIPT_LIMIT])


def script_programs(text: str) -> Iterator[tuple[str, list[str]]]:
    """(basename, arguments) of each simple command of a shell script (its first 20,000
    characters): split at ``;``, ``&&``, ``||``, pipes, newlines, subshells and substitutions
    outside quotes (:mod:`iklim.check.shellscript`)."""
    for words in script_commands(text):
        found = _simple(words)
        if found is not None:
            yield found


def _dash_c(args: list[str]) -> int | None:
    """The index in a shell's ``args`` of its option word that includes ``c``, None without one."""
    for index, word in enumerate(args):
        if _DASH_C.fullmatch(word):
            return index
    return None


def shell_script_at(words: list[str]) -> int | None:
    """The index in ``words`` of the script a shell runs (``sh -c SCRIPT``, past assignments,
    prefixes and user switchers), None when ``words`` do not run a shell's ``-c``."""
    found = _simple(words)
    option = None if found is None or found[0] not in SHELLS else _dash_c(found[1])
    if found is None or option is None:
        return None
    at = len(words) - len(found[1]) + option + 1
    return at if at < len(words) else None


def _run(words: list[str]) -> Iterator[tuple[str, list[str]]]:
    found = _simple(words)
    if found is None:
        return
    at = shell_script_at(words)
    if at is not None:
        yield from script_programs(words[at])
        return
    if found[0] in SHELLS and _dash_c(found[1]) is not None:
        return  # ``sh -c`` with no script
    yield found


def programs(service: Any) -> list[tuple[str, list[str]]]:
    """(basename, arguments) of every program the service's entrypoint and command run.

    As Docker runs them: the ``entrypoint`` with the ``command`` as its arguments, a list or a
    string split like a shell; a shell's ``-c`` script (``entrypoint: [sh, -c]`` with the script
    as ``command`` included) yields the program of each of its simple commands. A command made
    of options only (``["--config.file=..."]``) runs the image's own program and yields nothing.
    """
    if not isinstance(service, dict):
        return []
    entrypoint = _words(service.get("entrypoint")) or []
    command = _words(service.get("command")) or []
    words = entrypoint + command
    if not words or words[0].startswith("-"):
        return []
    return list(_run(words))


def arguments(service: Any) -> list[str]:
    """Every word of the entrypoint and command, scripts included (for flags like ``--sentinel``)."""
    words: list[str] = []
    for program, args in programs(service):
        words.append(program)
        words.extend(args)
    if isinstance(service, dict) and not words:
        words = (_words(service.get("entrypoint")) or []) + (_words(service.get("command")) or [])
    return words


def mounted_paths(service: Any) -> list[str]:
    """Sources and targets of the service's volumes and configs, as written."""
    if not isinstance(service, dict):
        return []
    paths: list[str] = []
    volumes = service.get("volumes")
    for item in volumes if isinstance(volumes, list) else []:
        if isinstance(item, dict):
            paths += [str(item[k]) for k in ("source", "target") if isinstance(item.get(k), str)]
        elif isinstance(item, str):
            paths += [p for p in item.split(":") if p.startswith(("/", ".", "~", "$"))]
    configs = service.get("configs")
    for item in configs if isinstance(configs, list) else []:
        if isinstance(item, dict):
            paths += [str(item[k]) for k in ("source", "target") if isinstance(item.get(k), str)]
        elif isinstance(item, str):
            paths.append("/" + item)
    return paths
