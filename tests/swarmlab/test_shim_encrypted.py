"""The Swarm lab's ``docker`` shim (run by bash against a FAKE ``docker`` that records its
arguments): ``network create`` loses ``--opt encrypted`` (this kernel has no ESP transform), every
other argument and every other command passes unchanged."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from iklim.swarmlab.shims import docker_shim


@pytest.fixture()
def shim(tmp_path: Path) -> Path:
    real = tmp_path / "real-docker"
    real.write_text('#!/bin/bash\nprintf "%s\\n" "$@"\n')
    real.chmod(0o755)
    path = tmp_path / "docker"
    path.write_text(docker_shim(str(real)))
    path.chmod(0o755)
    return path


def _run(shim: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(shim), *argv], capture_output=True, text=True, check=True)


@pytest.mark.parametrize("opt", [["--opt", "encrypted"], ["--opt=encrypted"]])
def test_network_create_drops_encrypted_only(shim: Path, opt: list[str]) -> None:
    argv = ["network", "create", "--driver", "overlay", *opt, "--opt", "com.docker.network.driver.mtu=1400", "net"]
    done = _run(shim, *argv)
    assert done.stdout.split("\n")[:-1] == [
        "network", "create", "--driver", "overlay", "--opt", "com.docker.network.driver.mtu=1400", "net"
    ]  # fmt: skip
    assert "--opt encrypted dropped" in done.stderr


def test_other_commands_pass_unchanged(shim: Path) -> None:
    argv = ["network", "inspect", "--opt", "encrypted"]
    assert _run(shim, *argv).stdout.split("\n")[:-1] == argv
    assert _run(shim, "service", "ls").stdout.split("\n")[:-1] == ["service", "ls"]
