"""``iklim status --on-overlay`` without a Swarm: the pinned tool image and the one-line refusals.

The job itself runs on a real (private) Swarm in tests/swarmlab/test_status_overlay.py.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from iklim.model.schema import Environment
from iklim.status.overlay import OverlayJobError, manager_client

ROOT = Path(__file__).resolve().parents[2]


def test_the_model_pins_the_tool_image_at_the_package_version(prod_env: Environment) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    repository, _, tag = prod_env.tooling.image.rpartition(":")
    assert repository == "ghcr.io/iklimco/iklim"
    assert tag == version, "bump environments/prod.yaml tooling.image with the package version"
    assert (ROOT / "images/iklim/Dockerfile").is_file()


def test_no_engine_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(OverlayJobError) as caught:
        manager_client({"DOCKER_HOST": f"unix://{tmp_path}/none.sock"})
    message = str(caught.value)
    assert message.startswith(f"no Docker engine at unix://{tmp_path}/none.sock")
    assert "\n" not in message


def _status(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "iklim", "status", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60
    )


def test_on_overlay_needs_prod_and_no_watch() -> None:
    for args in (["--on-overlay"], ["--target", "prod", "--on-overlay", "--watch", "1"]):
        done = _status(*args)
        assert done.returncode == 2
        assert "--on-overlay needs --target prod" in done.stderr
        assert done.stdout == ""


def test_on_overlay_without_an_engine_exits_2_with_one_line(tmp_path: Path) -> None:
    import os

    env = dict(os.environ, DOCKER_HOST=f"unix://{tmp_path}/none.sock", PYTHONPATH=str(ROOT / "src"))
    done = _status("--target", "prod", "--on-overlay", "-c", "redis", env=env)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith("error: no Docker engine at unix://")
