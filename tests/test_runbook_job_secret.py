"""The runbook's ``ensure_job_secret`` (the tool's etcd client certificate, which no service
mounts), run by bash against a FAKE ``docker`` that keeps secrets as files: imported once, kept
while the file is unchanged, replaced at once when ``iklim pki issue`` re-issued it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from iklim.model.paths import TOOL_ETCD_CLIENT_SECRETS

REPO = Path(__file__).resolve().parent.parent
RUNBOOK = (REPO / "init-infra-prod.sh").read_text()

FAKE_DOCKER = r"""#!/bin/bash
# FAKE docker: `secret inspect [-f FMT] NAME`, `secret rm NAME`, `secret create --label K=V NAME FILE`
set -u
store=$SECRETS_STORE
case "$1 $2" in
  "secret inspect")
    shift 2; fmt=""; if [ "$1" = -f ]; then fmt=$2; shift 2; fi
    [ -f "$store/$1" ] || exit 1
    if [ -n "$fmt" ]; then cat "$store/$1.label"; fi ;;
  "secret rm") rm -f "$store/$3" "$store/$3.label"; echo "rm $3" >> "$store/log" ;;
  "secret create")
    label=${4#org.iklim.sha256=}; cp "$6" "$store/$5"; echo "$label" > "$store/$5.label"
    echo "create $5" >> "$store/log" ;;
  *) exit 3 ;;
esac
"""


def _run(tmp_path: Path, name: str) -> str:
    functions = RUNBOOK[RUNBOOK.index("log() {") : RUNBOOK.index("\n}\n", RUNBOOK.index("ensure_job_secret() {")) + 3]
    start = functions.index("ensure_file_secret() {")
    script = (
        "set -euo pipefail\n"
        + functions[: functions.index("\n", 0) + 1]
        + functions[start:]
        + f"ensure_job_secret {name}\n"
    )
    env = {
        **os.environ,
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "SECRETS_STORE": str(tmp_path / "store"),
        "PKI_DIR": str(tmp_path / "pki"),
    }
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_the_tool_certificate_is_replaced_when_re_issued(tmp_path: Path) -> None:
    name = TOOL_ETCD_CLIENT_SECRETS[0]
    assert f"  ensure_job_secret {name}\n" in RUNBOOK and f"  ensure_file_secret {name}\n" not in RUNBOOK
    (tmp_path / "bin").mkdir()
    (tmp_path / "store").mkdir()
    (tmp_path / "pki").mkdir()
    fake = tmp_path / "bin" / "docker"
    fake.write_text(FAKE_DOCKER)
    fake.chmod(0o755)
    (tmp_path / "pki" / name).write_text("first certificate\n")
    assert "imported" in _run(tmp_path, name)
    assert "replaces" not in _run(tmp_path, name)  # unchanged: kept
    (tmp_path / "pki" / name).write_text("re-issued certificate\n")
    assert "replaces it" in _run(tmp_path, name)
    assert (tmp_path / "store" / name).read_text() == "re-issued certificate\n"
    assert (tmp_path / "store" / "log").read_text().split("\n")[:-1] == [
        f"create {name}",
        f"rm {name}",
        f"create {name}",
    ]
