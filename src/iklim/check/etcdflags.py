"""An etcd member's effective settings, read from its compose service as etcd reads them:
``ETCD_*`` variables, overridden by command-line flags (``-name`` or ``--name``, ``=value`` or
the next word; a boolean flag takes only ``=value``). The flags are the words of the
``entrypoint`` followed by the ``command`` (Docker runs them as one argument list, so a flag in
one and its value in the other still pair), or, when those run a shell's ``-c`` script, the
arguments of each ``etcd`` command in the script (``"$@"`` being the words after the script's
``$0``) and the ``ETCD_*`` variables the script exports or puts in front of ``etcd``. Used by
``plaintext-listener``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

from iklim.check.compose import environment, get_list
from iklim.check.programs import MAX_NESTING, script_commands, shell_script_at, split_command
from iklim.check.shellscript import split_words
from iklim.check.yamlload import Pos, YMap

#: Go's ``strconv.ParseBool`` words for true (etcd's boolean flags and variables).
GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
#: etcd's boolean flags (v3.4-3.5, ``server/etcdmain/config.go`` ``fs.BoolVar``, and Go's own
#: ``-h``/``-help``): bare, each is true and the next word is not its value. Every other flag
#: without ``=value`` takes the next word as its value, whatever it is (Go's ``flag`` package:
#: ``--initial-cluster-token --client-cert-auth`` sets the token and leaves client-cert-auth off).
BOOLEAN_FLAGS = frozenset(
    {
        "client-cert-auth",
        "peer-client-cert-auth",
        "auto-tls",
        "peer-auto-tls",
        "experimental-peer-skip-client-san-verification",
        "initial-election-tick-advance",
        "socket-reuse-port",
        "socket-reuse-address",
        "strict-reconfig-check",
        "pre-vote",
        "enable-v2",
        "enable-log-rotation",
        "enable-pprof",
        "enable-grpc-gateway",
        "experimental-enable-distributed-tracing",
        "experimental-initial-corrupt-check",
        "experimental-enable-lease-checkpoint",
        "experimental-enable-lease-checkpoint-persist",
        "experimental-compact-hash-check-enabled",
        "experimental-memory-mlock",
        "experimental-txn-mode-write-with-shared-buffer",
        "experimental-stop-grpc-service-on-defrag",
        "unsafe-no-fsync",
        "force-new-cluster",
        "debug",
        "version",
        "h",
        "help",
    }
)


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
    return [(w, spec.at(key)) for w in split_words(raw)]


@dataclass(frozen=True)
class Members:
    """What :func:`member_settings` found: ``settings``, one dict per etcd the service may run;
    ``partial`` when more than :data:`MAX_VARIANTS` were asked for and only part were judged (the
    last etcd command always is: the one a script execs)."""

    settings: list[dict[str, Setting]]
    partial: bool = False


def member_settings(spec: YMap) -> Members:
    """The effective settings of each etcd the service may run, by flag name: one for a plain
    command; one per ``etcd`` command of a ``-c`` script (``if ...; then exec etcd A; else exec
    etcd B; fi`` runs one of them: each is judged alone), each with the variables the script
    has exported by then; one with the service's variables alone when the script runs none.

    Each: the service's ``ETCD_*`` variables, then the script's (a variable the service sets
    is exported already, so a plain ``NAME=value`` in the script replaces it; ``unset NAME``
    removes it; ``declare -x`` exports), then the command-line flags, which win (etcd:
    "command-line flags take precedence over environment variables"). Flags as Go's ``flag``
    package reads them: ``-name`` or ``--name``, ``=value`` or the next word, except a boolean
    flag, which takes only ``=value`` (bare: true). Control flow is not followed: where an
    exported variable was given other values before an etcd command (in another branch, or
    overwritten), each of them gives one more settings dict for that command, so a plaintext
    branch is judged too. Not read: variable expansion (``--x=$URL``), shell functions, a
    subshell's own scope (an export inside ``( ... )`` counts after it), ``env -i``,
    ``env_file``, and ``--config-file`` (with which etcd ignores its flags and variables). An
    ``etcd --version`` or ``--help`` (as Go's flag package reads the words) serves nothing and is
    no member; at most :data:`MAX_VARIANTS` settings are judged per service, and ``partial`` says
    when that bound left some out."""
    service: dict[str, Setting] = {}
    for name, value, _, pos in environment(spec):
        if name.startswith("ETCD_") and value is not None and not isinstance(value, YMap):
            text = str(value).lower() if isinstance(value, bool) else str(value)
            service[_flag(name)] = Setting(text, pos, name)
    words, script = _script(spec)
    inherited = {name for name, *_ in environment(spec)}
    if script is None:  # one command (``env -u NAME A=B etcd ...``), or flags for the image's etcd
        runs = _etcd_runs([words], words[0][1] if words else spec.pos, inherited)
        if not runs:
            return Members([_with_flags(service, words)])
    else:
        runs = _etcd_runs(_commands(*script), script[1], inherited)
    if not runs:
        return Members([dict(service)])
    found: list[dict[str, Setting]] = []
    seen: set[tuple[object, ...]] = set()
    partial = False
    for index, (variables, arguments, others) in enumerate(runs):
        key = (tuple(variables), tuple(w for w, _ in arguments), tuple(others))
        if key in seen:
            continue  # the same etcd command with the same variables: judged once
        seen.add(key)
        if len(found) >= MAX_VARIANTS and index < len(runs) - 1:
            partial = True  # the bound: but the last etcd command (the one exec'd) is still judged
            continue
        settings = _with_variables(service, variables)
        found.append(_with_flags(settings, arguments))
        room = max(0, MAX_VARIANTS - len(found))
        partial = partial or len(others) > room
        for other in others[:room]:
            found.append(_with_flags(_with_variables(settings, [other]), arguments))
    return Members(found, partial)


#: Settings judged per service at most (etcd commands times the other values their variables may
#: hold): a bound on the work a long generated script can ask for.
MAX_VARIANTS = 256


def _with_variables(settings: dict[str, Setting], variables: Variables) -> dict[str, Setting]:
    """``settings`` with ``variables`` on top (a new dict; a None value removes the setting)."""
    found = dict(settings)
    for name, value, pos in variables:
        if value is None:
            found.pop(_flag(name), None)
        else:
            found[_flag(name)] = Setting(value, pos, name)
    return found


def _with_flags(settings: dict[str, Setting], words: Words) -> dict[str, Setting]:
    """``settings`` with the flags among ``words`` on top (a new dict)."""
    found = dict(settings)
    index = 0
    while index < len(words):
        word, pos = words[index]
        index += 1
        if not word.startswith("-") or word in ("-", "--") or word.startswith("---"):
            continue  # Go's flag package refuses ``---name`` (bad flag syntax): etcd would not start
        name, eq, value = word.lstrip("-").partition("=")
        if not eq and name in BOOLEAN_FLAGS:
            value = "true"
        elif not eq:
            value = words[index][0] if index < len(words) else ""
            index += 1  # the value, even when it looks like a flag
        found[name] = Setting(value, pos, f"--{name}")
    return found


#: A script's words that stand for its positional parameters (``"$@"``; ``$$`` is compose's ``$``).
POSITIONAL = frozenset({"$@", "$*", "${@}", "${*}", "$$@", "$$*", "$${@}", "$${*}"})

Words = list[tuple[str, Pos]]
#: ``ETCD_*`` variables (value None: unset), each with where it is written.
Variables = list[tuple[str, str | None, Pos]]
#: One etcd command of a script: the ``ETCD_*`` variables it gets (value None: unset), its
#: arguments, and the other values those variables may hold there (:func:`_etcd_runs`).
Run = tuple[Variables, Words, Variables]


def _etcd_runs(commands: list[Words], pos: Pos, inherited: set[str]) -> list[Run]:
    """Each ``etcd`` command among a script's ``commands``: the ``ETCD_*`` variables exported by
    then (``export NAME=value``, ``declare -x``/``typeset -x``; ``NAME=value`` then ``export
    NAME``; any assignment after ``set -a`` or to a name in ``inherited``, the service's
    variables; ``unset NAME``) and those in front of it (``NAME=value etcd``, ``env NAME=value
    etcd``, ``env -u NAME etcd``), its arguments, and every other value an exported variable was
    given before it (control flow is not followed: ``if ...; then export A=x; else export A=y;
    fi`` may leave either). A variable assigned without being exported is the shell's own: etcd
    never sees it. A shell's ``-c`` script among the commands is read in place (its commands
    inherit the exports)."""
    shell: dict[str, str] = {}
    exported: dict[str, str | None] = {}
    history: dict[str, list[str | None]] = {}
    names = set(inherited)
    all_export = False
    runs: list[Run] = []

    def export(name: str, value: str | None) -> None:
        exported[name] = value
        values = history.setdefault(name, [])
        if value not in values:
            values.append(value)

    for command in _nested(commands, 0):
        words = [w for w, _ in command]
        parts = split_command(words)
        if parts is None:  # assignments only
            for name, _, value in (w.partition("=") for w in words if "=" in w):
                shell[name] = value
                if all_export or name in names:
                    export(name, value)
            continue
        assignments, program, args = parts
        declared = [a for a in args if not a.startswith(("-", "+"))]
        if program == "export" and "-n" in args:  # bash: NAME stays the shell's, unexported
            for name, eq, value in (a.partition("=") for a in declared):
                if eq:  # ``export -n NAME=value`` still assigns: a later ``export NAME`` passes it on
                    shell[name] = value
                names.discard(name)
                exported[name] = None
                history[name] = [None]  # its earlier values are no longer etcd's either
        elif program == "export" or program in ("declare", "typeset", "local") and _declares_export(args):
            for arg in declared:
                name, eq, value = arg.partition("=")
                names.add(name)
                if eq:
                    shell[name] = value
                    export(name, value)
                elif name in shell:
                    export(name, shell[name])
        elif program in ("declare", "typeset", "local", "readonly"):
            for name, eq, value in (a.partition("=") for a in declared):
                if eq:
                    shell[name] = value
                    if all_export or name in names:
                        export(name, value)
        elif program == "unset":
            for name in declared:
                shell.pop(name, None)
                export(name, None)
        elif program == "set":
            all_export = _all_export(args, all_export)
        elif program == "etcd" and not _reports(command[len(command) - len(args) :]):
            prefix = {n: (v if eq else None) for n, eq, v in (a.partition("=") for a in assignments)}
            variables = [(n, v, pos) for n, v in {**exported, **prefix}.items() if n.startswith("ETCD_")]
            alternatives = (
                (n, v, pos)
                for n, values in history.items()
                if n.startswith("ETCD_") and n not in prefix
                for v in values
                if v != exported.get(n)
            )
            # one more than the bound: member_settings then knows some were left out
            runs.append((variables, command[len(command) - len(args) :], list(islice(alternatives, MAX_VARIANTS + 1))))
    return runs


def _reports(arguments: Words) -> bool:
    """Whether etcd with ``arguments`` only prints and exits (``--version`` true, ``-h``,
    ``--help``), the words read as Go's flag package reads them: ``--name -h`` names the member
    ``-h`` and serves."""
    flags = _with_flags({}, arguments)
    version = flags.get("version")
    return "help" in flags or "h" in flags or version is not None and version.value in GO_TRUE


def _declares_export(args: list[str]) -> bool:
    """Whether ``declare``/``typeset`` options export (``-x``, ``-rx``; ``+x`` removes it)."""
    return any(a.startswith("-") and not a.startswith("--") and "x" in a for a in args)


def _nested(commands: list[Words], depth: int) -> Iterator[Words]:
    """``commands``, a shell's ``-c`` script among them replaced by its own commands (its
    ``"$@"`` the words after its ``$0``), :data:`~iklim.check.programs.MAX_NESTING` deep."""
    for command in commands:
        at = shell_script_at([w for w, _ in command]) if depth < MAX_NESTING else None
        if at is None:
            yield command
        else:
            inner = _commands(command[at][0], command[at][1], command[at + 2 :])
            yield from _nested(inner, depth + 1)


def _flag(variable: str) -> str:
    """The flag an ``ETCD_*`` variable stands for: ``ETCD_CLIENT_CERT_AUTH`` -> ``client-cert-auth``."""
    return variable[5:].lower().replace("_", "-")


def _all_export(args: list[str], now: bool) -> bool:
    """Whether ``set ARGS`` leaves the shell exporting every assignment (``-a``, ``-o
    allexport``; ``+a``, ``+o allexport`` turn it off)."""
    for index, arg in enumerate(args):
        named = args[index + 1] if index + 1 < len(args) else ""
        if arg[:1] in "-+" and arg[1:2] != "-" and ("a" in arg[1:] or arg[1:] == "o" and named == "allexport"):
            now = arg.startswith("-")
    return now


def _commands(text: str, pos: Pos, positional: Words) -> list[Words]:
    """The words of each simple command of a script, each with its position: the script's,
    except the words ``"$@"`` stands for, which keep their own."""
    return [
        list(islice((p for word in command for p in (positional if word in POSITIONAL else [(word, pos)])), MAX_WORDS))
        for command in script_commands(text)
    ]


#: Words of one command read at most (``"$@"`` repeated may multiply a service's words).
MAX_WORDS = 10_000


def _script(spec: YMap) -> tuple[Words, tuple[str, Pos, Words] | None]:
    """The entrypoint and command words, and the ``-c`` script they run with its position and
    its positional parameters (the words after its ``$0``), None when they run no script."""
    words = command_words(spec, "entrypoint") + command_words(spec, "command")
    at = shell_script_at([w for w, _ in words])
    if at is None:
        return words, None
    script, pos = words[at]
    return words, (script, pos, words[at + 2 :])
