"""Hostile input under a 1 GiB address-space limit and a timeout: exit 2 and a message naming the file.

``iklim check`` and ``iklim render`` run as subprocesses (``RLIMIT_AS`` = 1 GiB set in
``preexec_fn``, 30 s timeout) on each input of issue 16's resource-exhaustion list and the
tracebacks list: 25,000 levels of nesting, a 700-byte alias bomb, 8,000 merge keys into 8,000
services, 600 KB of unterminated ``/*``, a FIFO and a link to ``/dev/zero`` named ``*.yml``,
invalid UTF-8, a NUL byte, a 5,000-digit integer, and a file and a directory nobody may read.
As root, unreadability is real: the child drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from
its bounding set before exec, so mode 000 applies to it.
"""

from __future__ import annotations

import ctypes
import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
LIMIT = 1 << 30
TIMEOUT = 30


def _alias_bomb() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    prev = "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
        prev = name
    return "\n".join(lines) + "\n"


def _merge_bomb() -> str:
    lines = ["x-base: &base"] + [f"  k{i}: v" for i in range(8000)] + ["services:"]
    for i in range(8000):
        lines += [f"  s{i}:", "    <<: *base"]
    return "\n".join(lines) + "\n"


def _write(text: str | bytes) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        path.write_bytes(text.encode() if isinstance(text, str) else text)

    return make


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


# name -> (file name, maker, words expected in the message)
HOSTILE: dict[str, tuple[str, Callable[[Path], None], str]] = {
    "deep-nesting": ("deep.yml", _write("a: " + "[" * 25000 + "]" * 25000 + "\n"), "nested more than"),
    "alias-bomb": ("bomb.yml", _write(_alias_bomb()), "expands to more than"),
    "merge-keys": ("merge.yml", _write(_merge_bomb()), "expands to more than"),
    "fifo": ("fifo.yml", _fifo, "not a regular file"),
    "dev-zero": ("zero.yml", _zero, "not a regular file"),
    "invalid-utf8": ("utf8.yml", _write(b"services:\n  a:\n    image: \xff\xfe\n"), "invalid UTF-8"),
    "nul-byte": ("nul.yml", _write(b"services:\n  a:\n    image: a\x00b\n"), "control character"),
    "big-integer": ("int.yml", _write("services:\n  a:\n    replicas: " + "9" * 5000 + "\n"), "too large"),
}
HCL_COMMENT = ("comment.tf", _write("/* " * 200_000), "never closed")


def _is_root() -> bool:
    return os.geteuid() == 0


def _bounded() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))
    if _is_root():  # make mode 000 apply to root: no DAC override in the child
        libc = ctypes.CDLL(None, use_errno=True)
        for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
            if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def iklim(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``iklim ARGS`` from this worktree's sources, bounded in memory and time."""
    env = dict(os.environ, PYTHONPATH=str(SRC))
    code = "import sys; from iklim.cli import main; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=TIMEOUT,
        preexec_fn=_bounded,
        check=False,
    )


def _one_line_error(proc: subprocess.CompletedProcess[str], name: str, words: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-500:])
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr[-500:]
    lines = [line for line in proc.stderr.splitlines() if name in line]
    assert lines and any(words in line for line in lines), proc.stderr[-500:]


@pytest.mark.parametrize("case", sorted(HOSTILE) + ["hcl-comment"])
def test_check_on_a_hostile_file(tmp_path: Path, case: str) -> None:
    name, make, words = HCL_COMMENT if case == "hcl-comment" else HOSTILE[case]
    make(tmp_path / name)
    _one_line_error(iklim("check", name, cwd=tmp_path), name, words)


@pytest.mark.parametrize("case", sorted(HOSTILE) + ["hcl-comment"])
def test_check_on_a_tree_holding_a_hostile_file(tmp_path: Path, case: str) -> None:
    name, make, words = HCL_COMMENT if case == "hcl-comment" else HOSTILE[case]
    folder = tmp_path / ("terraform/hetzner/prod" if name.endswith(".tf") else "config/hostile")
    folder.mkdir(parents=True)
    make(folder / name)
    (tmp_path / "config" / "ok.yml").parent.mkdir(exist_ok=True)
    (tmp_path / "config" / "ok.yml").write_text("a: 1\n")
    proc = iklim("check", ".", cwd=tmp_path)
    _one_line_error(proc, name, words)
    assert "error unusable-input" in proc.stdout and "in 1 file(s)" in proc.stdout  # the rest was read


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_render_on_a_hostile_model(tmp_path: Path, case: str) -> None:
    name, make, words = HOSTILE[case]
    make(tmp_path / name)
    out = tmp_path / "out"
    _one_line_error(iklim("render", "--env", name, "--out", str(out), cwd=tmp_path), name, words)
    assert not out.exists() or not any(out.iterdir())


def _production_tree(root: Path) -> None:
    for name in ("docker-stack-infra_db-prod.yml", "docker-stack-vault.yml", "init-infra-prod.sh"):
        shutil.copy(REPO / name, root / name)
    for folder in ("config", "init", "terraform", "environments"):
        shutil.copytree(REPO / folder, root / folder)


def test_unreadable_directory_is_an_error_finding_and_the_rest_is_checked(tmp_path: Path) -> None:
    _production_tree(tmp_path)
    assert iklim("check", ".", cwd=tmp_path).returncode == 0
    locked = tmp_path / "config" / "patroni"
    locked.chmod(0)
    try:
        proc = iklim("check", ".", "--format", "json", cwd=tmp_path)
    finally:
        locked.chmod(0o755)
    assert proc.returncode == 2, proc.stderr
    assert "config/patroni" in proc.stderr and "Permission denied" in proc.stderr
    import json

    data = json.loads(proc.stdout)
    assert [f["path"] for f in data["findings"] if f["rule"] == "unusable-input"] == ["config/patroni"]
    assert data["summary"]["files"] > 20  # the rest of the tree was read


def test_unreadable_file_and_model(tmp_path: Path) -> None:
    _production_tree(tmp_path)
    stack = tmp_path / "docker-stack-vault.yml"
    model = tmp_path / "environments" / "prod.yaml"
    stack.chmod(0)
    try:
        proc = iklim("check", ".", cwd=tmp_path)
        _one_line_error(proc, "docker-stack-vault.yml", "Permission denied")
        assert "error unusable-input" in proc.stdout
        stack.chmod(0o644)
        model.chmod(0)
        _one_line_error(iklim("check", ".", cwd=tmp_path), "prod.yaml", "Permission denied")
        proc = iklim("render", "--env", "environments/prod.yaml", "--out", "out", cwd=tmp_path)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert "prod.yaml" in proc.stderr and ("Permission denied" in proc.stderr or "not readable" in proc.stderr)
        assert not (tmp_path / "out").exists()
    finally:
        stack.chmod(0o644)
        model.chmod(0o644)
