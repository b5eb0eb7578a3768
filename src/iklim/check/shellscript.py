"""The simple commands of a shell script (a compose ``sh -c`` argument), as text a rule can read.

Not a shell: enough of POSIX ``sh`` grammar (XCU 2.3, 2.6.3) to find where each simple command
starts and ends. A command ends at ``;``, ``&``, ``&&``, ``||``, ``|``, a newline, a subshell's or
a group's parenthesis or brace, outside quotes and outside ``$(...)``, ``${...}`` and backquotes;
a backslash-newline joins two lines; a ``#`` that begins a word starts a comment to the line's
end. The body of a command substitution is a script of its own (its commands come out too), and
inside the word that holds it the substitution stays one word, blanks removed. Substitutions
nest :data:`MAX_DEPTH` deep at most (deeper openers are text), so the time stays linear in the
text's length; never raises: an unterminated quote or substitution runs to the end of the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: Tokens, in the order tried: quoted strings (unterminated: to the end), an escaped character,
#: substitution and expansion openers, operators, a comment sign, blanks, anything else.
_TOKEN = re.compile(
    r"""'[^']*'?|"(?:\\.|[^"\\])*"?|\\.|\$\(|\$\{|`|&&|\|\||[;&|\n(){}]|\#|[ \t\r\f\v]+|[^'"\\$`;&|\n(){}\#\s]+|.""",
    re.S,
)
#: Substitutions read inside one another at most (deeper openers are text): a bound on the work,
#: which grows with the square of the depth (each closing joins its text into its parent's).
MAX_DEPTH = 16
_SEPARATORS = frozenset({"&&", "||", ";", "&", "|", "\n", "(", ")", "{", "}"})
_BLANK = re.compile(r"\s+")
#: A shell word: quoted parts and bare characters, joined (``a"b c"d`` is one word).
_WORD = re.compile(r"""(?:'[^']*'|"(?:\\.|[^"\\])*"|[^\s'"]+)+""")
_QUOTED = re.compile(r''''([^']*)'|"((?:\\.|[^"\\])*)"''')


def split_words(text: str) -> list[str]:
    """Shell words of ``text``, quotes removed; linear time, never raises (unbalanced quotes end a
    word). Faster than :func:`shlex.split`, which matters: every service is read."""
    return [_QUOTED.sub(lambda m: m.group(1) if m.group(1) is not None else m.group(2), w) for w in _WORD.findall(text)]


@dataclass
class _Frame:
    """The script, or one substitution or expansion being read (``opener``: ``""``, ``$(``,
    ``${`` or a backquote): the text of its current command and all of its text."""

    opener: str
    current: list[str] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    depth: int = 0  # parentheses opened inside a ``$(``


def command_texts(text: str) -> list[str]:
    """The text of each simple command of ``text``, in the order their ends are read (a
    substitution's commands before the command that holds them), comments left out."""
    found: list[str] = []
    stack = [_Frame("")]
    tokens = _TOKEN.findall(text.replace("\\\n", " "))
    index = 0
    while index < len(tokens):
        token, top = tokens[index], stack[-1]
        index += 1
        if top.opener == "${":
            if token == "}":
                _close(stack, found)
            else:
                top.raw.append(token)
            continue
        if token == "`" and top.opener == "`" or token == ")" and top.opener == "$(" and top.depth == 0:
            _close(stack, found)
        elif token in ("$(", "${", "`") and len(stack) <= MAX_DEPTH:
            stack.append(_Frame(token))
        elif token == "#" and (not top.current or top.current[-1].isspace()):
            while index < len(tokens) and tokens[index] != "\n":
                index += 1
        elif token in _SEPARATORS:
            if top.opener == "$(":
                top.depth += {"(": 1, ")": -1}.get(token, 0)
            top.raw.append(token)
            _flush(top, found)
        else:
            top.current.append(token)
            top.raw.append(token)
    while len(stack) > 1:
        _close(stack, found)
    _flush(stack[0], found)
    return found


def _flush(frame: _Frame, found: list[str]) -> None:
    command = "".join(frame.current).strip()
    if command:
        found.append(command)
    frame.current.clear()


def _close(stack: list[_Frame], found: list[str]) -> None:
    """End the innermost substitution: its last command out, itself one word of its parent's."""
    frame = stack.pop()
    if frame.opener != "${":
        _flush(frame, found)
    closer = {"$(": ")", "${": "}", "`": "`"}[frame.opener]
    word = frame.opener + _BLANK.sub("", "".join(frame.raw)) + closer
    stack[-1].current.append(word)
    stack[-1].raw.append(word)


def commands(text: str) -> list[list[str]]:
    """The words of each simple command of ``text`` (quotes removed), as :func:`command_texts`."""
    return [words for words in map(split_words, command_texts(text)) if words]
