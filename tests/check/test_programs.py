"""Which program a service runs, and where a shell's ``-c`` script is (iklim.check.programs)."""

from __future__ import annotations

import pytest

from iklim.check.programs import programs, shell_script_at

SCRIPT_AT = [
    (["sh", "-c", "exec etcd"], 2),
    (["sh", "-ec", "exec etcd"], 2),
    (["bash", "-o", "pipefail", "-c", "exec etcd"], 4),
    (["bash", "--norc", "-c", "exec etcd"], 3),
    (["sh", "/run.sh", "-ec", "x"], None),  # a script file; -ec is its $1
    (["sh", "--", "-c", "x"], None),  # -- ends the options: -c is the script file's name
    (["sh", "-c"], None),
    (["etcd", "-c", "x"], None),
]


@pytest.mark.parametrize(("words", "expected"), SCRIPT_AT, ids=[" ".join(w) for w, _ in SCRIPT_AT])
def test_shell_script_at(words: list[str], expected: int | None) -> None:
    assert shell_script_at(words) == expected


def test_a_script_files_arguments_are_not_a_script() -> None:
    """``sh /run.sh -ec 'etcd ...'`` runs /run.sh; the words after it are not read as a script."""
    assert programs({"command": ["sh", "/run.sh", "-ec", "etcd --x"]}) == [("sh", ["/run.sh", "-ec", "etcd --x"])]
    assert programs({"command": ["sh", "-ec", "etcd --x"]}) == [("etcd", ["--x"])]


WRAPPED = [
    (["timeout", "30", "etcd", "--x"], "etcd"),
    (["timeout", "-s", "KILL", "30", "etcd"], "etcd"),
    (["nice", "-n", "5", "etcd"], "etcd"),
    (["/usr/bin/env", "-u", "HOME", "A=1", "etcd"], "etcd"),
    (["setpriv", "--reuid", "1000", "--regid=1000", "--clear-groups", "etcd"], "etcd"),
    (["s6-setuidgid", "etcd", "/usr/local/bin/etcd"], "etcd"),
    (["chpst", "-u", "nobody", "etcd"], "etcd"),
    (["su-exec", "etcd:etcd", "timeout", "5", "etcd"], "etcd"),
    (["tini", "-p", "SIGTERM", "--", "etcd"], "etcd"),
    (["gosu", "postgres", "patroni", "/p.yml"], "patroni"),
    (["setsid", "etcd"], "etcd"),
    (["numactl", "--interleave=all", "etcd"], "etcd"),
    (["prlimit", "--nofile=65536", "etcd"], "etcd"),
    (["catatonit", "--", "etcd"], "etcd"),
    (["doas", "-u", "etcd", "etcd"], "etcd"),
    (["flock", "/tmp/l", "etcd"], "etcd"),
    (["unshare", "-n", "etcd"], "etcd"),
]


@pytest.mark.parametrize(("words", "program"), WRAPPED, ids=[" ".join(w) for w, _ in WRAPPED])
def test_a_wrappers_options_and_operands_are_not_the_program(words: list[str], program: str) -> None:
    assert [name for name, _ in programs({"command": words})] == [program]


def test_a_script_run_by_a_user_switcher_is_read() -> None:
    """``su-exec etcd sh -c '...'``: the script's commands are the programs."""
    found = programs({"command": ["su-exec", "etcd", "sh", "-ec", "mkdir -p /d; exec etcd --x"]})
    assert found == [("mkdir", ["-p", "/d"]), ("etcd", ["--x"])]


def test_command_v_runs_nothing() -> None:
    """``command -v redis-sentinel`` looks a program up; the script runs only redis-server."""
    found = programs({"command": ["sh", "-c", "command -v redis-sentinel && exec redis-server /r.conf"]})
    assert found == [("redis-server", ["/r.conf"])]
