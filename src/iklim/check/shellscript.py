"""The simple commands of a shell script (a compose ``sh -c`` argument), as text a rule can read.

Not a shell: enough of POSIX ``sh`` grammar (XCU 2.3, 2.6.3, 2.7.4) to find where each simple
command starts and ends. A command ends at ``;``, ``&``, ``&&``, ``||``, ``|``, a newline, a
subshell's or a group's parenthesis or brace, outside quotes and outside ``$(...)``, ``${...}``
and backquotes; a backslash-newline joins two lines; a ``#`` that begins a word starts a comment
to the line's end; a here-document's body (``<<WORD`` to the line ``WORD``) is no command; a
redirection (``2>&1``, ``>/dev/null``, ``&>log``) and its target (substitutions in it
included: ``2>/log/$(date +%s).log``) are left out of the command's words. The body of a
command substitution is a script of its own (its commands come out too), and inside the word
that holds it the substitution stays one word, blanks removed.
Substitutions nest :data:`MAX_DEPTH` deep at most (deeper openers are text), so the time stays
linear in the text's length; never raises: an unterminated quote or substitution runs to the
end of the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: Tokens, in the order tried: quoted strings (unterminated: to the end), an escaped character,
#: substitution and expansion openers, a here-document, redirections, operators, a comment sign,
#: blanks, anything else.
_TOKEN = re.compile(
    r"""'[^']*'?|"(?:\\.|[^"\\])*"?|\\.|\$\(|\$\{|`|<<<|<<-?|\d*[<>]&\d*-?|&>>?|\d*(?:>>|>\||<>|[<>])"""
    r"""|&&|\|\||[;&|\n(){}]|\#|[ \t\r\f\v]+|[^'"\\$`;&|\n(){}\#<>\s]+|.""",
    re.S,
)
#: Substitutions read inside one another at most (deeper openers are text): a bound on the work,
#: which grows with the square of the depth (each closing joins its text into its parent's).
MAX_DEPTH = 16
_SEPARATORS = frozenset({"&&", "||", ";", "&", "|", "\n", "(", ")", "{", "}"})
#: A redirection complete in itself (``2>&1``, ``<&-``): no target word follows.
_DUPLICATION = re.compile(r"\d*[<>]&\d*-?")
_REDIRECTION = re.compile(r"<<<|&>>?|\d*(?:>>|>\||<>|[<>])")
_REDIRECTION_START = frozenset("<>&0123456789")
_BLANK = re.compile(r"\s+")
#: One piece of a shell word: single-quoted, double-quoted (both may be unterminated: to the
#: end), an escaped character, blanks (between words), bare characters.
_PIECE = re.compile(r"""'([^']*)'?|"((?:\\.|[^"\\])*)"?|\\(.)|(\s+)|([^\s'"\\]+)|(\\)$""", re.S)
_ESCAPED_IN_DOUBLE = re.compile(r"""\\([$`"\\\n])""")


def split_words(text: str) -> list[str]:
    """Shell words of ``text``: quotes and escaping backslashes removed, no expansion; linear
    time, never raises (an unterminated quote runs to the end). Faster than
    :func:`shlex.split`, which matters: every service is read."""
    words: list[str] = []
    current: list[str] | None = None
    for single, double, escaped, blank, bare, trailing in _PIECE.findall(text):
        if blank:
            if current is not None:
                words.append("".join(current))
            current = None
            continue
        if current is None:
            current = []
        if double:
            current.append(_ESCAPED_IN_DOUBLE.sub(r"\1", double))
        else:
            current.append(single or escaped or bare or trailing)
    if current is not None:
        words.append("".join(current))
    return words


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
    substitution's commands before the command that holds them), comments, here-document
    bodies and redirections left out."""
    text = text.replace("\\\n", " ")
    found: list[str] = []
    stack = [_Frame("")]
    heredocs: list[tuple[str, bool]] = []  # (delimiter, tabs stripped) waiting for the newline
    target: _Target | None = None  # a redirection's target word being read (then dropped)
    at = 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        assert match is not None  # the last alternative matches any character
        token, top = match.group(), stack[-1]
        at = match.end()
        if target is not None and len(stack) == target.level:
            ends = token in _SEPARATORS or token.isspace() and target.started
            target.started = target.started or not token.isspace()
            if ends:
                target.drop(top)
                target = None
        if top.opener == "${":
            if token == "}":
                _close(stack, found)
            else:
                top.raw.append(token)
        elif token == "`" and top.opener == "`" or token == ")" and top.opener == "$(" and top.depth == 0:
            _close(stack, found)
        elif token in ("$(", "${", "`") and len(stack) <= MAX_DEPTH:
            stack.append(_Frame(token))
        elif token == "#" and (not top.current or top.current[-1].isspace()):
            newline = text.find("\n", at)
            at = len(text) if newline < 0 else newline
        elif token in ("<<", "<<-"):
            delimiter = _TOKEN.match(text, at)
            while delimiter is not None and delimiter.group().isspace() and delimiter.group() != "\n":
                delimiter = _TOKEN.match(text, delimiter.end())
            if delimiter is not None and delimiter.group() not in _SEPARATORS:
                word = split_words(delimiter.group())
                heredocs.append((word[0] if word else "", token == "<<-"))
                at = delimiter.end()
        elif token[0] in _REDIRECTION_START and _DUPLICATION.fullmatch(token):
            continue
        elif token[0] in _REDIRECTION_START and _REDIRECTION.fullmatch(token):
            target = _Target(len(stack), len(top.current), len(top.raw))
        elif token in _SEPARATORS:
            if top.opener == "$(":
                top.depth += {"(": 1, ")": -1}.get(token, 0)
            top.raw.append(token)
            _flush(top, found)
            if token == "\n" and heredocs:
                at = _past_bodies(text, at, heredocs)
                heredocs = []
        else:
            top.current.append(token)
            top.raw.append(token)
    while True:
        if target is not None and len(stack) == target.level:
            target.drop(stack[-1])
            target = None
        if len(stack) == 1:
            break
        _close(stack, found)
    _flush(stack[0], found)
    return found


@dataclass
class _Target:
    """A redirection's target word: the frame it is read in (its depth in the stack) and that
    frame's lengths when the word began; its tokens, substitutions included, are read as any
    word's (so a ``$(...)`` in it closes where it should), then dropped."""

    level: int
    current: int
    raw: int
    started: bool = False

    def drop(self, frame: _Frame) -> None:
        """Remove the target's text from ``frame``."""
        del frame.current[self.current :]
        del frame.raw[self.raw :]


def _past_bodies(text: str, at: int, heredocs: list[tuple[str, bool]]) -> int:
    """Where the script goes on after the bodies of ``heredocs``, which start at ``at``."""
    for delimiter, strip_tabs in heredocs:
        while at < len(text):
            newline = text.find("\n", at)
            end = len(text) if newline < 0 else newline
            line = text[at:end]
            at = end + 1
            if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                break
    return min(at, len(text))


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
