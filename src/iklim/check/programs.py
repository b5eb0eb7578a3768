"""What a compose service runs: the programs of its ``entrypoint`` and ``command``, and the
paths it mounts. Inputs to :mod:`iklim.check.recognise`; no policy here.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from iklim.check.shellscript import commands, split_words

#: Shells whose ``-c`` argument is a script to read for the programs it runs.
SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "ksh", "mksh"})


@dataclass(frozen=True)
class _Wrapper:
    """A word that runs the rest of the command as the program: its options come first (``valued``:
    those whose value is the next word; ``--`` ends them; ``--opt=value`` is one word), then
    ``operands`` words of its own (a user, a duration, a CPU mask), then the program."""

    valued: frozenset[str] = frozenset()
    operands: int = 0
    #: Those of ``valued`` whose value names a variable removed from the program's environment.
    unsets: frozenset[str] = frozenset()
    #: Options with which it runs nothing, only reports (``command -v etcd`` prints a path).
    queries: frozenset[str] = frozenset()


_PLAIN = _Wrapper()
#: Shell keywords, shell built-ins and programs that run their arguments as the program (GNU
#: coreutils, util-linux, busybox, runit's chpst, s6, tini, dumb-init, gosu, su-exec; an official
#: image's ``docker-entrypoint.sh`` execs its arguments the same way). One table: a new wrapper is
#: one line here.
_WRAPPERS: dict[str, _Wrapper] = {
    **dict.fromkeys(("do", "then", "else", "elif", "if", "while", "until", "!", "nohup", "time"), _PLAIN),
    "command": _Wrapper(queries=frozenset({"-v", "-V"})),
    "exec": _Wrapper(frozenset({"-a"})),
    "env": _Wrapper(
        frozenset({"-u", "--unset", "-C", "--chdir", "-S", "--split-string"}), unsets=frozenset({"-u", "--unset"})
    ),
    "nice": _Wrapper(frozenset({"-n", "--adjustment"})),
    "ionice": _Wrapper(frozenset({"-c", "--class", "-n", "--classdata"})),
    "timeout": _Wrapper(frozenset({"-s", "--signal", "-k", "--kill-after"}), operands=1),
    "stdbuf": _Wrapper(frozenset({"-i", "-o", "-e"})),
    "taskset": _Wrapper(operands=1),
    "chroot": _Wrapper(operands=1),
    "setpriv": _Wrapper(
        frozenset({"--reuid", "--regid", "--groups", "--inh-caps", "--ambient-caps", "--bounding-set", "--securebits"})
    ),
    "gosu": _Wrapper(operands=1),
    "su-exec": _Wrapper(operands=1),
    "s6-setuidgid": _Wrapper(operands=1),
    "chpst": _Wrapper(frozenset({"-u", "-U", "-b", "-e", "-/", "-n", "-l", "-L", "-m", "-d", "-o", "-p", "-f", "-c"})),
    "tini": _Wrapper(frozenset({"-p", "-e"})),
    "dumb-init": _Wrapper(frozenset({"-r", "--rewrite"})),
    "docker-entrypoint.sh": _PLAIN,
    "setsid": _PLAIN,
    "catatonit": _PLAIN,
    "unshare": _PLAIN,
    "prlimit": _Wrapper(frozenset({"-p", "--pid"})),
    "numactl": _Wrapper(
        frozenset(
            {"-i", "-m", "-N", "-C", "-p", "--interleave", "--membind", "--cpunodebind", "--physcpubind", "--preferred"}
        )
    ),
    "doas": _Wrapper(frozenset({"-u", "-C"})),
    "flock": _Wrapper(frozenset({"-w", "--timeout", "-E", "--conflict-exit-code"}), operands=1),
    "xargs": _Wrapper(frozenset({"-I", "-n", "-P", "-d", "-E", "-L", "-s", "-a", "--arg-file", "--delimiter"})),
    "busybox": _PLAIN,  # ``busybox sh -c ...``: the applet is the program
    "eval": _PLAIN,  # its words read again as a command (an approximation: no re-splitting)
    "runuser": _Wrapper(
        frozenset({"-u", "--user", "-g", "--group", "-G", "--supp-group", "-w", "--whitelist-environment"})
    ),
    "sudo": _Wrapper(
        frozenset({"-u", "--user", "-g", "--group", "-C", "--close-from", "-D", "--chdir", "-h", "--host", "-p"})
        | frozenset({"--prompt", "-r", "--role", "-t", "--type", "-U", "--other-user", "-T", "--command-timeout"})
    ),
}
#: ``su``'s options whose value is the next word; its ``-c``/``--command`` value is a script its
#: shell runs (util-linux su(1)), wherever it stands among the words.
_SU_VALUED = frozenset({"-s", "--shell", "-g", "--group", "-G", "--supp-group", "-w", "--whitelist-environment"})
#: Scripts read inside one another (``sh -c 'su-exec u sh -c "..."'``) at most this deep.
MAX_NESTING = 4
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
    prefixes (``exec``, ``env``, ``timeout 5``, user switchers: :data:`_WRAPPERS`); None when it
    runs no program. An assignment is ``NAME=value``, or ``NAME`` alone for a variable ``env -u
    NAME`` removes."""
    assignments: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        wrapper = _WRAPPERS.get(posixpath.basename(word))
        if _ASSIGNMENT.match(word):
            assignments.append(word)
            index += 1
        elif wrapper is not None:
            start, index = index + 1, _past_wrapper(words, index + 1, wrapper, assignments)
            if wrapper.queries.intersection(words[start:index]):
                return None  # ``command -v etcd``: runs nothing
        else:
            return assignments, posixpath.basename(word), words[index + 1 :]
    return None


def _past_wrapper(words: list[str], index: int, wrapper: _Wrapper, unset: list[str]) -> int:
    """The index of the first word after ``wrapper``'s options and operands, from ``index``; the
    names its unsetting options remove (``env -u NAME``, ``--unset=NAME``) go to ``unset``."""
    while index < len(words) and words[index].startswith("-"):
        word = words[index]
        if word == "--":
            index += 1
            break
        option, eq, value = word.partition("=")
        if option in wrapper.unsets:
            unset.extend([value] if eq else words[index + 1 : index + 2])
        elif word[:2] in wrapper.unsets and not word.startswith("--"):  # -uNAME
            unset.append(word[2:])
        index += 2 if word in wrapper.valued else 1
    return index + wrapper.operands


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
    yield from _script_programs(text, 1)


def _script_programs(text: str, depth: int) -> Iterator[tuple[str, list[str]]]:
    for words in script_commands(text):
        yield from _run(words, depth)


def _dash_c(args: list[str]) -> int | None:
    """The index in a shell's ``args`` of its option word that includes ``c``, None without one.

    Only the options before the first operand count (``sh /run.sh -ec x`` runs a script file
    with ``-ec`` as its ``$1``); ``--`` ends the options (sh(1), XCU "sh": OPTIONS, OPERANDS)."""
    value = False  # the word is the value of ``-o``/``-O`` (``sh -o pipefail -c ...``)
    for index, word in enumerate(args):
        if value:
            value = False
            continue
        if word == "--" or not word.startswith(("-", "+")) or word in ("-", "+"):
            return None
        if _DASH_C.fullmatch(word):
            return index
        value = word in ("--rcfile", "--init-file") or (not word.startswith("--") and word[-1] in "oO")
    return None


def shell_script_at(words: list[str]) -> int | None:
    """The index in ``words`` of the script a shell runs (``sh -c SCRIPT``, past assignments,
    prefixes and user switchers), None when ``words`` do not run a shell's ``-c``."""
    found = _simple(words)
    if found is None:
        return None
    option = _dash_c(found[1]) if found[0] in SHELLS else _su_command(found[1]) if found[0] == "su" else None
    if option is None:
        return None
    at = len(words) - len(found[1]) + option + 1
    return at if at < len(words) else None


def _su_command(args: list[str]) -> int | None:
    """The index in ``su``'s ``args`` of its ``-c``/``--command`` option (the script follows)."""
    index = 0
    while index < len(args):
        if args[index] in ("-c", "--command"):
            return index
        index += 2 if args[index] in _SU_VALUED else 1
    return None


def _run(words: list[str], depth: int = 0) -> Iterator[tuple[str, list[str]]]:
    """The programs ``words`` run: a shell's ``-c`` script read for its own (``depth``: scripts
    read around this command; past :data:`MAX_NESTING` a shell is one program)."""
    found = _simple(words)
    if found is None:
        return
    at = shell_script_at(words) if depth < MAX_NESTING else None
    if at is not None:
        yield from _script_programs(words[at], depth + 1)
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
