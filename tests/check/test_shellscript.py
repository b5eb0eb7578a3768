"""Where the simple commands of a ``sh -c`` script start and end (iklim.check.shellscript)."""

from __future__ import annotations

import pytest

from iklim.check.shellscript import commands

CASES = [
    ("a; b && c || d | e & f", [["a"], ["b"], ["c"], ["d"], ["e"], ["f"]]),
    ("exec etcd \\\n  --name a \\\n  --x y", [["exec", "etcd", "--name", "a", "--x", "y"]]),
    ("etcd --name 'a;b' --t \"c && d\"", [["etcd", "--name", "a;b", "--t", "c && d"]]),
    (
        "etcd --name ${HOST:-x} --u http://$(hostname -s):1",
        [["hostname", "-s"], ["etcd", "--name", "${HOST:-x}", "--u", "http://$(hostname-s):1"]],
    ),
    ("a `b c` d", [["b", "c"], ["a", "`bc`", "d"]]),
    ("# all comment\netcd --a # --b\nx#y", [["etcd", "--a"], ["x#y"]]),
    ("{ a; }; (b)", [["a"], ["b"]]),
    ("$(a (b) c) d", [["a"], ["b"], ["c"], ["$(a(b)c)", "d"]]),
    ("etcd 'unterminated --x", [["etcd", "unterminated --x"]]),  # the quote runs to the end
    ("# etcd's data\netcd --a", [["etcd", "--a"]]),
    ("cat >/f <<'EOF'\nit's; x\nEOF\netcd --a", [["cat"], ["etcd", "--a"]]),
    ("cat <<-END; b\n\tbody\n\tEND\nc", [["cat"], ["b"], ["c"]]),
    ("etcd --a 2>&1 --b >/dev/null --c &>log --d", [["etcd", "--a", "--b", "--c", "--d"]]),
    ("exec 2>&1 etcd --a", [["exec", "etcd", "--a"]]),
    ("cat <<< 'it''s' ; d", [["cat"], ["d"]]),
    ('echo a\\ b \\" c', [["echo", "a b", '"', "c"]]),
    ("etcd $(unterminated", [["unterminated"], ["etcd", "$(unterminated)"]]),
    (
        "exec 2>/var/log/etcd-$(date +%s).log etcd --listen-client-urls http://e:2379",
        [["date", "+%s"], ["exec", "etcd", "--listen-client-urls", "http://e:2379"]],
    ),
    ("pg_dump db > /backup/$(date +%F).sql; echo ok", [["date", "+%F"], ["pg_dump", "db"], ["echo", "ok"]]),
    ("x=$(cat 2>/dev/null /f) && exec etcd", [["cat", "/f"], ["x=$(cat/f)"], ["exec", "etcd"]]),
    ("exec > ${LOG:-/x}/y etcd --z", [["exec", "etcd", "--z"]]),
    ('a 2>"$(d e)"f g', [["a", "g"]]),  # a double-quoted substitution is text here
    ("exec 2>$(date", [["date"], ["exec"]]),
    ("", []),
]


@pytest.mark.parametrize(("script", "expected"), CASES, ids=[c[0] for c in CASES])
def test_commands(script: str, expected: list[list[str]]) -> None:
    assert commands(script) == expected


def test_deep_nesting_is_bounded() -> None:
    """Openers past MAX_DEPTH are text: 10,000 nested ``$(`` give at most MAX_DEPTH + 1 commands
    (without the bound, each closing re-joins its parent's text: seconds of work)."""
    from iklim.check.shellscript import MAX_DEPTH

    found = commands("$(a " * 10_000)
    assert 1 <= len(found) <= MAX_DEPTH + 1
