"""Literal secrets on a command line: ``command``, ``entrypoint`` and ``healthcheck.test``.

Both compose forms are read: a list is the exec form; a string is split into words as Compose
does (no shell). A shell started with ``-c`` (``sh -c``, ``bash -ec``...) has its script split
into simple commands (``;``, ``&&``, ``|``, newlines), each read the same way, nested shells
included. A secret is found

- after a flag whose name holds a secret (:func:`iklim.check.secret_names.is_secret_name`:
  ``--requirepass``, ``--masterauth``, ``--password``, ``--auth``, ``--mongodb.password``...),
  as ``--flag value`` or ``--flag=value``; ``--keyFile``, ``--password-file`` name files;
- after a program's own short flag (:data:`SHORT`: ``redis-cli -a``, ``mongosh -p``,
  ``mysql -pX``, ``curl -u user:pass``);
- in an assignment (``export REDIS_PASSWORD=x``, ``PGPASSWORD=x psql``, ``password=x``);
- as a positional (``rabbitmqctl add_user u x``, ``vault login x``);
- in a redis config line written by the script (``echo "requirepass x" > redis.conf``);
- as the password of a URL (``mongodb://u:x@host``).

A value is literal per :func:`iklim.check.secret_names.is_literal` (``"$(cat /run/secrets/x)"``
and ``$VAR`` are not). Every scan is linear in the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from iklim.check.secret_names import DEFAULTS, closing, is_literal, is_secret_name, userinfo_password

SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "ksh", "busybox"})
_PREFIXES = frozenset({"exec", "export", "env", "nohup", "command", "time", "sudo", "gosu", "su-exec", "tini", "--"})
_MONGO = ("mongo", "mongosh", "mongodump", "mongorestore", "mongoexport", "mongoimport", "mongostat", "mongotop")
_MYSQL = ("mysql", "mysqladmin", "mysqldump", "mariadb", "mariadb-admin", "mariadb-dump")

#: program -> its one-letter flags that take a password ("u" takes user:password).
SHORT: dict[str, str] = {
    "redis-cli": "a",
    "redis-benchmark": "a",
    "valkey-cli": "a",
    "curl": "u",
    **{name: "p" for name in _MONGO},
}
#: (program, flag) pairs that take no secret: switches, and etcd's token type (simple, jwt,...).
SWITCHES = frozenset({("mongod", "auth"), ("mongos", "auth"), ("redis-cli", "askpass"), ("etcd", "auth-token")})
_CONFIG_LINE = re.compile(r"^[ \t]*(requirepass|masterauth)[ \t]+([^\s'\"]+)", re.MULTILINE)
_SENTINEL_LINE = re.compile(r"^[ \t]*sentinel[ \t]+auth-pass[ \t]+[^\s'\"]+[ \t]+([^\s'\"]+)", re.MULTILINE)
_OPERATORS = ";&|()<>"
_ASSIGN = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*=")
_MAX_DEPTH = 4


@dataclass(frozen=True)
class Hit:
    """A literal secret: ``label`` names what carries it (a flag, a variable, a config line);
    ``index`` is the list item holding it (-1 when the command is a string); ``variable``: the
    label is a variable assigned on the command line."""

    label: str
    index: int
    variable: bool = False


Token = tuple[str, int]


def _split(text: str, shell: bool) -> list[tuple[str, bool]]:
    """Words of ``text`` as a POSIX shell splits them (quotes, backslashes), each with whether it
    is a control operator (``;``, ``&&``, ``|``, ``(``, a newline...: only when ``shell``); a
    ``#`` starting a word comments out the line. An unclosed quote ends the last word. Linear."""
    out: list[tuple[str, bool]] = []
    word: list[str] = []
    started = False
    quote = ""
    unclosed = -1
    i, size = 0, len(text)
    while i < size:
        char = text[i]
        if quote:
            if char == quote:
                quote = ""
            elif char == "\\" and quote == '"' and i + 1 < size and text[i + 1] in '"\\$`':
                word.append(text[i + 1])
                i += 1
            else:
                word.append(char)
        elif char in "'\"":
            quote, started = char, True
        elif char == "\\" and i + 1 < size:
            if text[i + 1] != "\n":
                word.append(text[i + 1])
                started = True
            i += 1
        elif shell and unclosed < 0 and (text.startswith("$(", i) or char == "`"):
            # a command substitution is one word: $(cat /run/secrets/x), `cat /run/secrets/x`
            end = closing(text, i + 2) if char == "$" else text.find("`", i + 1)
            if end < 0:
                unclosed = i  # none after this one is looked for again: linear time
                continue
            word.append(text[i : end + 1])
            started = True
            i = end
        elif char.isspace() or (shell and char in _OPERATORS):
            if started:
                out.append(("".join(word), False))
                word, started = [], False
            if shell and (char in _OPERATORS or char == "\n"):
                out.append((char, True))
        elif shell and char == "#" and not started:
            end = text.find("\n", i)
            i = size if end < 0 else end
            continue
        else:
            word.append(char)
            started = True
        i += 1
    if started:
        out.append(("".join(word), False))
    return out


def _base(word: str) -> str:
    return word.rsplit("/", 1)[-1].lower()


def _script(text: str, index: int, depth: int, options: Mapping[str, Any]) -> Iterator[Hit]:
    command: list[Token] = []
    for word, operator in [*_split(text, True), (";", True)]:
        if operator:
            yield from _command(command, depth + 1, options)
            command = []
        else:
            command.append((word, index))


def _value(tokens: list[Token], at: int, attached: str | None) -> tuple[str, int] | None:
    """The value of the flag at ``at``: attached (``--f=v``) or the next word if not a flag."""
    if attached is not None:
        return attached, tokens[at][1]
    if at + 1 < len(tokens) and not tokens[at + 1][0].startswith("-"):
        return tokens[at + 1]
    return None


def _positional(program: str, args: list[Token], options: Mapping[str, Any]) -> Iterator[Hit]:
    plain = [(w, i) for w, i in args if not w.startswith("-")]
    verbs = ("add_user", "change_password", "authenticate_user")
    if program == "rabbitmqctl" and len(plain) >= 3 and plain[0][0] in verbs and is_literal(plain[2][0], options):
        yield Hit(f"rabbitmqctl {plain[0][0]}", plain[2][1])
    login = program == "vault" and len(plain) >= 2 and plain[0][0] == "login" and "=" not in plain[1][0]
    if login and is_literal(plain[1][0], options):
        yield Hit("vault login", plain[1][1])


def _command(tokens: list[Token], depth: int, options: Mapping[str, Any]) -> Iterator[Hit]:
    """One simple command: leading assignments and wrappers, then a program and its words."""
    start = 0
    while start < len(tokens):
        word = tokens[start][0]
        if _ASSIGN.match(word) and not word.startswith("-"):
            yield from _assignment(tokens[start], options)
            if userinfo_password(word) is not None:
                yield Hit(f"{word.partition('=')[0]} (a URL with a password)", tokens[start][1])
        elif word not in _PREFIXES and not (start and word.startswith("-")):
            break
        start += 1
    if start >= len(tokens):
        return
    if tokens[start][0].startswith("-"):  # arguments to the image's own entrypoint
        program, args = "", tokens[start:]
    else:
        program, args = _base(tokens[start][0]), tokens[start + 1 :]
    if program in SHELLS and depth < _MAX_DEPTH:
        for at, (word, _) in enumerate(args):
            if word.startswith("-") and not word.startswith("--") and "c" in word and at + 1 < len(args):
                yield from _script(args[at + 1][0], args[at + 1][1], depth, options)
                return
        return
    yield from _positional(program, args, options)
    yield from _args(program, args, options)


def _assignment(token: Token, options: Mapping[str, Any]) -> Iterator[Hit]:
    name, _, value = token[0].partition("=")
    if is_secret_name(name, options) and is_literal(value, options):
        yield Hit(name, token[1], True)


def _args(program: str, tokens: list[Token], options: Mapping[str, Any]) -> Iterator[Hit]:
    for at, (word, index) in enumerate(tokens):
        if _base(word) in SHORT or _base(word) in _MYSQL:
            program = _base(word)  # a wrapper's argument starts another program
        if userinfo_password(word) is not None:
            yield Hit("a URL with a password", index)
        for match in _CONFIG_LINE.finditer(word.replace("\\n", "\n")):
            if is_literal(match.group(2), options) and "%" not in match.group(2):
                yield Hit(f"redis '{match.group(1)}'", index)
        for match in _SENTINEL_LINE.finditer(word.replace("\\n", "\n")):
            if is_literal(match.group(1), options) and "%" not in match.group(1):
                yield Hit("redis 'sentinel auth-pass'", index)
        if not word.startswith("-") or word in ("-", "--"):
            if _ASSIGN.match(word):
                yield from _assignment((word, index), options)
            continue
        name, eq, attached = word.lstrip("-").partition("=")
        if program in _MYSQL and word.startswith("-p") and not word.startswith("--") and len(word) > 2:
            if is_literal(word[2:], options):
                yield Hit("-p", index)
            continue
        short = SHORT.get(program, "")
        if program == "curl" and not word.startswith("--") and name.isalpha() and name[-1] in short:
            name = name[-1]  # curl clusters switches: -fsu user:password
        if len(name) == 1 and not word.startswith("--"):
            if name in short:
                found = _value(tokens, at, attached if eq else None)
                if found is not None:
                    secret = found[0].partition(":")[2] if name == "u" else found[0]
                    if secret and is_literal(secret, options):
                        yield Hit(f"-{name}", found[1])
            continue
        if (program, name.lower()) in SWITCHES:
            continue
        if name.lower() == "user" and program == "curl":
            found = _value(tokens, at, attached if eq else None)
            if found is not None and is_literal(found[0].partition(":")[2], options):
                yield Hit("--user", found[1])
            continue
        if is_secret_name(name, options):
            found = _value(tokens, at, attached if eq else None)
            if found is not None and is_literal(found[0], options):
                yield Hit(word.partition("=")[0], found[1])


def scan(value: Any, options: Mapping[str, Any] = DEFAULTS) -> Iterator[Hit]:
    """Literal secrets in a ``command`` or ``entrypoint`` value (list or string form)."""
    if isinstance(value, str):
        yield from _command([(w, -1) for w, _ in _split(value, False)], 0, options)
    elif isinstance(value, list):
        tokens = [(str(item), index) for index, item in enumerate(value) if isinstance(item, str | int | float)]
        yield from _command(tokens, 0, options)


def scan_healthcheck(test: Any, options: Mapping[str, Any] = DEFAULTS) -> Iterator[Hit]:
    """Literal secrets in ``healthcheck.test``: ``[CMD, ...]``, ``[CMD-SHELL, script]`` or a script."""
    if isinstance(test, str):
        yield from _script(test, -1, 0, options)
    elif isinstance(test, list) and test and isinstance(test[0], str):
        head = test[0].upper()
        if head == "CMD":
            tokens = [(str(item), index) for index, item in enumerate(test) if index and isinstance(item, str | int)]
            yield from _command(tokens, 0, options)
        elif head == "CMD-SHELL" and len(test) > 1 and isinstance(test[1], str):
            yield from _script(test[1], 1, 0, options)
