"""The rendered healthchecks pass before their cluster has quorum (issue 9, finding F1).

Swarm publishes a task's DNS names only after its healthcheck has passed once, and the etcd
members find each other by those names; a healthcheck that needs quorum deadlocks the cluster.
These tests run the rendered etcd healthcheck, word for word, against a real etcd member whose
peers do not exist (their names do not resolve, as on a Swarm before any member is healthy),
inside a private network namespace so ``127.0.0.1:<peer port>`` is the member's own.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from iklim.cli import cli
from iklim.components import etcd as etcd_component
from iklim.model.loader import parse_environment

ROOT = Path(__file__).resolve().parent.parent
STACK = ROOT / "docker-stack-infra_db-prod.yml"
PROD_MODEL = ROOT / "environments" / "prod.yaml"

# Runs inside `unshare --net`: one etcd member of a 3-member cluster whose peers never appear,
# then the rendered healthcheck (argv from the stack), the quorum-needing check, and the
# healthcheck again after the member is killed. Prints one JSON line of exit codes.
SCRIPT = r"""
set -u
ip link set lo up
env_file=$1; data=$2; shift 2
set -a; . "$env_file"; set +a
etcd > "$data.log" 2>&1 &
pid=$!
ok=1
for i in $(seq 1 "$TRIES"); do "$@" >/dev/null 2>&1 && { ok=0; break; }; sleep 0.2; done
timeout 6 etcdctl --endpoints=$CLIENT_SCHEME://127.0.0.1:$CLIENT_PORT $CLIENT_TLS \
  --command-timeout=3s endpoint health >/dev/null 2>&1
quorum=$?
kill -9 $pid; wait $pid 2>/dev/null
"$@" >/dev/null 2>&1
dead=$?
printf '{"alive": %s, "quorum_check": %s, "dead": %s}\n' $ok $quorum $dead
"""


def _service(name: str) -> dict[str, object]:
    doc = yaml.safe_load(STACK.read_text())
    service: dict[str, object] = doc["services"][name]
    return service


def _plaintext_member() -> dict[str, object]:
    """etcd-1's service as rendered from the production model with etcd kept plaintext."""
    text = PROD_MODEL.read_text()
    assert "etcd: {mode: tls}" in text
    env = parse_environment(text.replace("etcd: {mode: tls}", 'etcd: {mode: plaintext, reason: "a test"}', 1), "p.yaml")
    service: dict[str, object] = etcd_component.contribute(env).services["etcd-1"]
    return service


def _run_member(tmp_path: Path, service: dict[str, object], alone: bool, tries: int) -> dict[str, int]:
    """Start one etcd member with ``service``'s environment inside a private network namespace and
    run its rendered healthcheck (``tries`` times at most while it starts, then after SIGKILL).
    ``alone``: the member is a one-member cluster (it has quorum at once); else its two peers
    never appear. The member's Docker secrets are real certificates from the production
    certificate code, in a folder standing for /run/secrets."""
    test = service["healthcheck"]["test"]  # type: ignore[index]
    assert test[0] == "CMD"
    secrets = tmp_path / "secrets"
    model = ["--env", str(PROD_MODEL), "--dir", str(secrets)]
    assert CliRunner().invoke(cli, ["pki", "init", *model]).exit_code == 0
    assert CliRunner().invoke(cli, ["pki", "issue", *model, "--all"]).exit_code == 0
    environment = {k: str(v).replace("/run/secrets", str(secrets)) for k, v in service["environment"].items()}  # type: ignore[attr-defined]
    argv = [str(word).replace("/run/secrets", str(secrets)) for word in test]
    environment["ETCD_DATA_DIR"] = str(tmp_path / "data")
    # The stack listens on 0.0.0.0; inside the private namespace that is the same as loopback.
    scheme, _, rest = environment["ETCD_LISTEN_CLIENT_URLS"].partition("://")
    client = rest.rsplit(":", 1)[1]
    if alone:
        own = f"{scheme}://127.0.0.1:{environment['ETCD_LISTEN_PEER_URLS'].rsplit(':', 1)[1]}"
        environment["ETCD_INITIAL_ADVERTISE_PEER_URLS"] = own
        environment["ETCD_INITIAL_CLUSTER"] = f"{environment['ETCD_NAME']}={own}"
    tls = ""  # the quorum check presents the member's own certificate, as the healthcheck does
    if scheme == "https":
        tls = " ".join(w for w in argv if w.startswith(("--cacert=", "--cert=", "--key=")))
        assert tls.count("--") == 3, argv
    env_file = tmp_path / "etcd.env"
    env_file.write_text(
        "".join(f"{k}={shlex.quote(str(v))}\n" for k, v in environment.items())
        + f"CLIENT_PORT={client}\nCLIENT_SCHEME={scheme}\nCLIENT_TLS={shlex.quote(tls)}\nTRIES={tries}\n"
    )
    run = subprocess.run(
        ["unshare", "--net", "bash", "-c", SCRIPT, "check", str(env_file), str(tmp_path / "m"), *argv[1:]],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    result: dict[str, int] = json.loads(run.stdout.strip().splitlines()[-1])
    result["log"] = (tmp_path / "m.log").read_text()[-2000:]  # type: ignore[assignment]
    return result


@pytest.mark.skipif(sys.platform != "linux", reason="network namespaces are Linux-only")
def test_plaintext_etcd_healthcheck_passes_without_quorum_and_fails_when_dead(tmp_path: Path) -> None:
    """Plaintext members find each other by name, so the check must pass before quorum."""
    assert shutil.which("etcd") and shutil.which("unshare"), "install-deps.sh installs etcd-server"
    result = _run_member(tmp_path, _plaintext_member(), alone=False, tries=50)
    assert result["alive"] == 0, f"the rendered healthcheck failed on a live member without quorum:\n{result['log']}"
    assert result["quorum_check"] != 0, "the member unexpectedly had quorum: the test proves nothing"
    assert result["dead"] != 0, "the rendered healthcheck passed with the member killed"


@pytest.mark.skipif(sys.platform != "linux", reason="network namespaces are Linux-only")
def test_tls_etcd_healthcheck_passes_on_a_member_with_quorum_and_fails_when_dead(tmp_path: Path) -> None:
    """Production (TLS): the check asks the client port with the member's own certificate; the
    peers address each other by node address, so it may wait for quorum."""
    assert shutil.which("etcd") and shutil.which("unshare"), "install-deps.sh installs etcd-server"
    service = _service("etcd-1")
    assert "https://127.0.0.1:2379" in " ".join(service["healthcheck"]["test"])  # type: ignore[index]
    result = _run_member(tmp_path, service, alone=True, tries=50)
    assert result["alive"] == 0, f"the rendered healthcheck failed on a live TLS member:\n{result['log']}"
    assert result["quorum_check"] == 0, "the member's own certificate did not pass the client listener"
    assert result["dead"] != 0, "the rendered healthcheck passed with the member killed"


@pytest.mark.skipif(sys.platform != "linux", reason="network namespaces are Linux-only")
def test_tls_etcd_healthcheck_waits_for_quorum(tmp_path: Path) -> None:
    """The flip side of asking the client port: a member whose peers never appear stays unhealthy
    (which is why the TLS peers are addressed by node address, not by Swarm-published names)."""
    result = _run_member(tmp_path, _service("etcd-1"), alone=False, tries=3)
    assert result["alive"] != 0 and result["quorum_check"] != 0, result["log"]


def test_no_rendered_healthcheck_asks_for_cluster_health() -> None:
    """No service's healthcheck depends on quorum or on its peers (``endpoint health``, ``--cluster``)."""
    doc = yaml.safe_load(STACK.read_text())
    for name, service in doc["services"].items():
        test = " ".join(str(w) for w in (service.get("healthcheck") or {}).get("test") or [])
        assert "endpoint health" not in test and "--cluster" not in test, name


def test_apisix_healthcheck_uses_an_endpoint_of_the_pinned_version() -> None:
    """APISIX 3.11 has no status server (:7085 /status/ready arrived in 3.13): the control API."""
    service = _service("apisix")
    assert str(service["image"]).startswith("apache/apisix:3.11.")
    test = " ".join(service["healthcheck"]["test"])  # type: ignore[index]
    assert "7085" not in test and "/status/ready" not in test
    config = yaml.safe_load((ROOT / "config/apisix/config.yaml").read_text())
    control = config["apisix"]["control"]
    assert config["apisix"]["enable_control"] is True
    assert f"http://127.0.0.1:{control['port']}/v1/schema" in test


def _seconds(value: object) -> int:
    text = str(value)
    assert text.endswith("s") and text[:-1].isdigit(), text
    return int(text[:-1])


@pytest.mark.parametrize("name", ["rabbitmq-2", "rabbitmq-3"])
def test_a_blank_rabbitmq_members_seed_wait_fits_its_healthcheck_window(name: str) -> None:
    """The wait for the seed (a deadline in the start command, overrun by at most one 5 s ping and
    one 5 s sleep) plus a boot of 30 s ends before Swarm would call the waiting task unhealthy
    (start_period + retries x interval) and replace it."""
    service = _service(name)
    command = " ".join(str(part) for part in service["command"])  # type: ignore[attr-defined]
    found = re.search(r"end=\$\$\(\(\$\$\(date \+%s\)\+(\d+)\)\)", command)
    assert found, command
    assert "-t 5" in command and "-n rabbit@rabbitmq-1 ping" in command
    health = service["healthcheck"]
    assert isinstance(health, dict)
    window = _seconds(health["start_period"]) + int(health["retries"]) * _seconds(health["interval"])
    assert int(found.group(1)) + 10 + 30 <= window, (found.group(1), window)
    assert "mnesia" not in " ".join(str(p) for p in _service("rabbitmq-1")["command"])  # type: ignore[attr-defined]
