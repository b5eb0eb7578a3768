"""Helpers for the render write tests: a real ``iklim render`` process, a tree snapshot, models."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import iklim

REPO = Path(__file__).resolve().parents[2]
PROD_MODEL = REPO / "environments" / "prod.yaml"
#: The iklim sources the tests import, so the subprocesses run the same code.
SOURCES = str(Path(iklim.__file__).resolve().parents[1])
#: Run the CLI; with a line on stdin first when the first argument is ``--wait``, after importing
#: everything a render needs (so a kill can land in the render itself, not in Python's start-up).
CLI = (
    "import sys\n"
    "from iklim.cli import main\n"
    "if sys.argv[1] == '--wait':\n"
    "    import iklim.render.commands, iklim.model.loader\n"
    "    del sys.argv[1]\n"
    "    print('ready', flush=True)\n"
    "    sys.stdin.readline()\n"
    "main()\n"
)
#: Drop root's permission overrides, so permission checks really apply (tests run as root).
AS_USER = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner,-linux_immutable", "--"]


def cli_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": SOURCES}


def iklim_cmd(*args: str) -> list[str]:
    """The argv of a real ``iklim`` process running these sources."""
    return [sys.executable, "-c", CLI, *args]


def run_render(*args: str, as_user: bool = True, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """``iklim render ARGS`` in a subprocess, without root's permission overrides when ``as_user``."""
    wrapper = AS_USER if as_user and os.geteuid() == 0 else []
    return subprocess.run(
        [*prefix, *wrapper, *iklim_cmd("render", *args)],
        capture_output=True,
        text=True,
        timeout=60,
        env=cli_env(),
    )


def subnet_variant(tmp: Path, subnet: str) -> Path:
    """The production model with another overlay subnet (the runbook and host rules change)."""
    text = PROD_MODEL.read_text()
    assert "subnet: 10.20.0.0/16" in text
    path = tmp / f"model-{subnet.replace('/', '_')}.yaml"
    path.write_text(text.replace("subnet: 10.20.0.0/16", f"subnet: {subnet}"))
    return path


def snapshot(root: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every entry under ``root`` (dot-files too): path -> (type and mode, bytes for files)."""
    found: dict[str, tuple[int, bytes | None]] = {}
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(folder, name)
            st = os.lstat(path)
            content = path.read_bytes() if stat.S_ISREG(st.st_mode) else None
            found[path.relative_to(root).as_posix()] = (st.st_mode, content)
    return found


#: A real process that imports the renderer once, then forks one child per ``iklim`` command it
#: reads (a JSON argv per line), prints the child's pid, and prints ``done`` once it has reaped
#: it: the child is a real process a test can SIGKILL anywhere in the render, without paying
#: Python's start-up each time.
FORK_SERVER = """
import json, os, sys
import iklim.render.commands, iklim.model.loader
from iklim.cli import main
print("ready", flush=True)
for line in sys.stdin:
    pid = os.fork()
    if pid == 0:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        code = 0
        try:
            main(json.loads(line))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            os._exit(code)
    print(pid, flush=True)
    os.waitpid(pid, 0)
    print("done", flush=True)
"""


class ForkServer:
    """Start :data:`FORK_SERVER`; :meth:`start` forks a child running ``iklim ARGV``."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", FORK_SERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=cli_env(),
        )
        assert self.proc.stdin and self.proc.stdout
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        assert self.stdout.readline() == "ready\n"

    def start(self, argv: list[str]) -> int:
        """Fork a child running ``iklim ARGV``; its pid."""
        self.stdin.write(json.dumps(argv) + "\n")
        self.stdin.flush()
        return int(self.stdout.readline())

    def reaped(self) -> None:
        """Wait until the server has reaped the child (killed or exited)."""
        assert self.stdout.readline() == "done\n"

    def close(self) -> None:
        self.stdin.close()
        self.proc.wait(timeout=10)
        self.stdout.close()
