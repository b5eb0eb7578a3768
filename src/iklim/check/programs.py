"""What a compose service runs: the programs of its ``entrypoint`` and ``command``, and the
paths it mounts. Inputs to :mod:`iklim.check.recognise`; no policy here.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from typing import Any

#: Shells whose ``-c`` argument is a script to read for the programs it runs.
SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "busybox"})
#: Words that precede the program of a simple shell command.
_PREFIXES = frozenset(
    {"exec", "do", "then", "else", "elif", "if", "while", "until", "!", "nohup", "env", "time", "command"}
)
#: Programs that run their next non-option word as the program (after a user argument for gosu and
#: su-exec); an official image's ``docker-entrypoint.sh`` execs its arguments the same way.
_SWITCH_USER = frozenset({"gosu", "su-exec", "chpst", "tini", "dumb-init", "docker-entrypoint.sh"})
_SEPARATORS = re.compile(r"&&|\|\||\$\(|[;&|\n(){}`]")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
#: Bound on the script text read per service (characters): a program name is near the start.
_SCRIPT_LIMIT = 20_000
#: A shell word: quoted parts and bare characters, joined (``a"b c"d`` is one word).
_WORD = re.compile(r"""(?:'[^']*'|"(?:\\.|[^"\\])*"|[^\s'"]+)+""")
_QUOTED = re.compile(r''''([^']*)'|"((?:\\.|[^"\\])*)"''')


def _split(text: str) -> list[str]:
    """Shell words of ``text``, quotes removed; linear time, never raises (unbalanced quotes
    end a word). Faster than :func:`shlex.split`, which matters: every service is read."""
    return [_QUOTED.sub(lambda m: m.group(1) if m.group(1) is not None else m.group(2), w) for w in _WORD.findall(text)]


def _words(value: Any) -> list[str] | None:
    """A command as Docker reads it: a list of words, or a string split like a shell would."""
    if isinstance(value, list):
        return [str(v) for v in value if v is not None]
    if isinstance(value, str):
        return _split(value[:_SCRIPT_LIMIT])
    return None


def _simple(words: list[str]) -> tuple[str, list[str]] | None:
    """(program basename, arguments) of one simple command, past assignments and prefixes."""
    index = 0
    while index < len(words):
        word = words[index]
        if _ASSIGNMENT.match(word) or word in _PREFIXES:
            index += 1
        elif posixpath.basename(word) in _SWITCH_USER:
            index += 1
            while index < len(words) and words[index].startswith("-"):
                index += 1
            if posixpath.basename(word) in ("gosu", "su-exec") and index < len(words):
                index += 1  # the user
        else:
            return posixpath.basename(word), words[index + 1 :]
    return None


def script_programs(text: str) -> Iterator[tuple[str, list[str]]]:
    """(basename, arguments) of each simple command of a shell script (its first 20,000
    characters): split at ``;``, ``&&``, ``||``, pipes, newlines, subshells and substitutions."""
    for part in _SEPARATORS.split(text[:_SCRIPT_LIMIT]):
        found = _simple(_split(part))
        if found is not None:
            yield found


def shell_script_at(words: list[str]) -> int | None:
    """The index in ``words`` of the script a shell runs (``sh -c SCRIPT``, past assignments,
    prefixes and user switchers), None when ``words`` do not run a shell's ``-c``."""
    found = _simple(words)
    if found is None or found[0] not in SHELLS or "-c" not in found[1]:
        return None
    at = len(words) - len(found[1]) + found[1].index("-c") + 1
    return at if at < len(words) else None


def _run(words: list[str]) -> Iterator[tuple[str, list[str]]]:
    found = _simple(words)
    if found is None:
        return
    at = shell_script_at(words)
    if at is not None:
        yield from script_programs(words[at])
        return
    if found[0] in SHELLS and "-c" in found[1]:
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
