"""The lab nodes are the model's nodes: names, addresses, roles, hostnames, namespaces, one Swarm."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import docker

from iklim.model.loader import load_environment
from iklim.swarmlab import paths
from iklim.swarmlab.nodes import LabNode
from iklim.swarmlab.swarm import engine, first_manager

REPO = Path(__file__).resolve().parents[2]


def _iklim(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    return subprocess.run([sys.executable, "-m", "iklim", *args], capture_output=True, text=True, env=env, cwd=REPO)


def test_swarm_nodes_are_the_models_nodes(swarm_nodes: list[LabNode]) -> None:
    env = load_environment(REPO / "environments" / "prod.yaml")
    with engine(first_manager(swarm_nodes)) as client:
        listed = {n.attrs["Description"]["Hostname"]: n.attrs for n in client.nodes.list()}
    assert sorted(listed) == sorted(n.name for n in env.nodes)
    for model_node in env.nodes:
        attrs = listed[model_node.name]
        assert attrs["Status"]["Addr"] == str(model_node.private_ip)
        assert attrs["Status"]["State"] == "ready"
        assert attrs["Spec"]["Role"] == model_node.swarm_role
    roles = sorted(a["Spec"]["Role"] for a in listed.values())
    assert roles == ["manager"] * 3 + ["worker"] * 3
    managers = {h for h, a in listed.items() if a["Spec"]["Role"] == "manager"}
    assert managers == {"iklim-app-01", "iklim-app-02", "iklim-app-03"}
    for host in managers:
        assert env.node(host).private_ip in env.network.app_subnet
    for host in set(listed) - managers:
        assert env.node(host).private_ip in env.network.db_subnet


def test_each_engine_is_its_own_node(swarm_nodes: list[LabNode]) -> None:
    for node in swarm_nodes:
        client = docker.DockerClient(base_url=node.docker_host)
        try:
            info = client.info()
        finally:
            client.close()
        assert info["Name"] == node.hostname
        assert info["Swarm"]["NodeAddr"] == node.ip
        assert info["DockerRootDir"] == str(paths.data_root(node.hostname))


def test_shell_runs_a_command_in_the_nodes_namespace(swarm_nodes: list[LabNode]) -> None:
    script = "hostname; docker info -f '{{.Name}}'; ip -4 -o addr show eth0"
    proc = _iklim("swarm-lab", "shell", "iklim-db-02", "--", "sh", "-c", script)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split("\n")
    assert lines[:2] == ["iklim-db-02", "iklim-db-02"]
    assert "inet 10.0.2.12/16" in proc.stdout


def test_shell_by_address_and_unknown_node(swarm_nodes: list[LabNode]) -> None:
    proc = _iklim("swarm-lab", "shell", "10.0.1.13", "--", "hostname")
    assert (proc.returncode, proc.stdout.strip()) == (0, "iklim-app-03")
    proc = _iklim("swarm-lab", "shell", "iklim-web-01", "--", "hostname")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("error: no lab node 'iklim-web-01'")


def test_host_has_no_production_address_and_no_new_route(swarm_nodes: list[LabNode]) -> None:
    addrs = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, check=True).stdout
    routes = subprocess.run(["ip", "route"], capture_output=True, text=True, check=True).stdout
    for node in swarm_nodes:
        assert f" {node.ip}/" not in addrs
    assert "10.0." not in routes
    assert "docker0" not in subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout


def test_nodes_reach_each_other_across_subnets(swarm_nodes: list[LabNode]) -> None:
    app, db = swarm_nodes[-1], swarm_nodes[0]
    # the Swarm gossip port (7946) listens on every node
    proc = _iklim("swarm-lab", "shell", app.hostname, "--", "bash", "-c", f"echo > /dev/tcp/{db.ip}/7946")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ssh_shim_enters_the_node(swarm_nodes: list[LabNode]) -> None:
    from iklim.swarmlab.shims import write_shims

    shim = write_shims(swarm_nodes) / "ssh"
    proc = subprocess.run(
        [str(shim), "-o", "BatchMode=yes", "root@10.0.2.13", "hostname; docker info -f '{{.Swarm.NodeAddr}}'"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["iklim-db-03", "10.0.2.13"]
    proc = subprocess.run([str(shim), "root@10.0.9.9", "true"], capture_output=True, text=True)
    assert proc.returncode == 255
    proc = subprocess.run([str(shim), "root@10.0.1.11", "bash -s"], input="hostname\n", capture_output=True, text=True)
    assert proc.stdout.strip() == "iklim-app-01"


def test_firewall_step_writes_into_the_node_not_the_host(swarm_nodes: list[LabNode]) -> None:
    """The runbook's per-node step (``ssh root@IP 'bash -s' < init/hosts/db-docker-user.sh``) lands in the
    node: its iptables, its own /etc/systemd/system and /usr/local/sbin; the host's stay untouched."""
    from iklim.swarmlab.nodefs import node_dir
    from iklim.swarmlab.shims import write_shims

    shim = write_shims(swarm_nodes) / "ssh"
    script = (REPO / "init" / "hosts" / "db-docker-user.sh").read_text()
    proc = subprocess.run([str(shim), "-o", "BatchMode=yes", "root@10.0.2.12", "bash -s"], input=script,
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert not Path("/etc/systemd/system/iklim-docker-user.service").exists()
    assert not Path("/usr/local/sbin/iklim-docker-user").exists()
    units = node_dir("iklim-db-02", "etc-systemd-system")
    assert (units / "iklim-docker-user.service").is_file()
    assert (units / "docker.service.requires" / "iklim-docker-user.service").is_symlink()
    assert (node_dir("iklim-db-02", "usr-local-sbin") / "iklim-docker-user").is_file()
    rules = _iklim("swarm-lab", "shell", "iklim-db-02", "--", "iptables", "-S", "IKLIM-DB")
    assert "-A IKLIM-DB -s 10.0.1.0/24 -p tcp" in rules.stdout, rules.stderr
    host_rules = subprocess.run(["iptables", "-S"], capture_output=True, text=True).stdout
    assert "IKLIM" not in host_rules and "DOCKER" not in host_rules
