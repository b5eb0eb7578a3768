"""The real tools accept the rendered tree: docker, promtool, patroni, nginx, bash, shellcheck, hcl2."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

import hcl2
import pytest
import yaml

from iklim.lab.components.nginx import self_signed_certificate
from iklim.render.stacks import STACK_FILES

SCRIPTS = (
    "init-infra-prod.sh",
    "init/vault/vault-bootstrap.sh",
    "init/hosts/db-docker-user.sh",
    "init/hosts/app-docker-user.sh",
)


def run(*argv: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    tool = shutil.which(argv[0])
    assert tool, f"{argv[0]} is not installed: run scripts/install-deps.sh"
    return subprocess.run([tool, *argv[1:]], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("stack", sorted(STACK_FILES.values()))
def test_docker_stack_config_accepts_stack(rendered_dir: Path, stack: str) -> None:
    environ = {k: v for k, v in os.environ.items() if k != "GRAFANA_DATA_DIR"}
    result = run("docker", "stack", "config", "-c", stack, cwd=rendered_dir, env=environ)
    assert result.returncode == 0, result.stderr
    merged = yaml.safe_load(result.stdout)
    assert merged["services"], "docker stack config printed no services"
    if stack == STACK_FILES["infra"]:
        grafana = merged["services"]["grafana"]["volumes"][0]
        assert grafana["source"] == "/mnt/storagebox/grafana/data", grafana


def test_docker_stack_config_honours_grafana_data_dir(rendered_dir: Path) -> None:
    environ = dict(os.environ, GRAFANA_DATA_DIR="/mnt/storagebox/other")
    result = run("docker", "stack", "config", "-c", STACK_FILES["infra"], cwd=rendered_dir, env=environ)
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout)["services"]["grafana"]["volumes"][0]["source"] == "/mnt/storagebox/other"


def test_promtool_accepts_prometheus_config(rendered_dir: Path, tmp_path: Path) -> None:
    """The config as the container sees it: each ``rule_files`` path is resolved through the stack's
    config mounts of the prometheus service to the rendered file, so a rule file that is listed but
    not mounted fails here; promtool then checks the config and every rule file it names."""
    stack = yaml.safe_load((rendered_dir / STACK_FILES["infra"]).read_text())
    mounted = {c["target"]: stack["configs"][c["source"]]["file"] for c in stack["services"]["prometheus"]["configs"]}
    config = yaml.safe_load((rendered_dir / "config/prometheus/prometheus.yml").read_text())
    assert config["rule_files"], "prometheus.yml lists no rule file"
    config["rule_files"] = [str(rendered_dir / mounted[path]) for path in config["rule_files"]]
    secrets = {s["target"] for s in stack["services"]["prometheus"].get("secrets", [])}
    for job in config["scrape_configs"]:  # the TLS files are Docker secrets: stand-ins at the same names
        tls = job.get("tls_config", {})
        for key in ("ca_file", "cert_file", "key_file"):
            if key in tls:
                assert tls[key] in secrets or tls[key].split("/")[-1] in secrets, (job["job_name"], tls[key])
                tls[key] = str(tmp_path / tls[key].split("/")[-1])
                Path(tls[key]).write_text("stand-in\n")
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    result = run("promtool", "check", "config", str(tmp_path / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr
    assert (result.stdout + result.stderr).count("rules found") == len(config["rule_files"])


def _local_postgres_bindir() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    assert found, "no PostgreSQL server binaries: run scripts/install-deps.sh"
    return str(Path(found[-1]).parent)


@pytest.mark.parametrize("member", ["patroni-1", "patroni-2", "patroni-3"])
def test_patroni_validates_member_config(rendered_dir: Path, tmp_path: Path, etcd_endpoint: str, member: str) -> None:
    """`patroni --validate-config` resolves the etcd hosts and looks for the PostgreSQL binaries, so
    the two host-specific facts are pointed at this machine: a real etcd on loopback for the overlay
    names, and the local PostgreSQL bin_dir for the image's. Everything else is validated as rendered."""
    config = yaml.safe_load((rendered_dir / f"config/patroni/{member}.yml").read_text())
    assert config["etcd3"]["hosts"] == "etcd-01:2379,etcd-02:2379,etcd-03:2379"
    config["etcd3"]["hosts"] = etcd_endpoint
    config["postgresql"]["bin_dir"] = _local_postgres_bindir()
    path = tmp_path / f"{member}.yml"
    path.write_text(yaml.safe_dump(config))
    result = run("patroni", "--validate-config", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_patroni_validator_rejects_a_broken_config(tmp_path: Path, etcd_endpoint: str) -> None:
    """The validator used above really validates: a config without postgresql.listen fails."""
    path = tmp_path / "broken.yml"
    path.write_text(yaml.safe_dump({"scope": "x", "name": "n", "etcd3": {"hosts": etcd_endpoint}, "postgresql": {}}))
    assert run("patroni", "--validate-config", str(path)).returncode != 0


def _nginx_sandbox(rendered_dir: Path, tmp_path: Path) -> Path:
    """A minimal nginx.conf around the SWAG site, with SWAG's /config includes stubbed in tmp_path."""
    conf = tmp_path / "config"
    (conf / "nginx").mkdir(parents=True)
    key, cert = conf / "key.pem", conf / "cert.pem"
    self_signed_certificate(key, cert, "test")
    (conf / "nginx/ssl.conf").write_text(f"ssl_certificate {cert};\nssl_certificate_key {key};\n")
    (conf / "nginx/proxy.conf").write_text("proxy_set_header Host $host;\n")
    (conf / "nginx/resolver.conf").write_text("resolver 127.0.0.11 valid=30s;\n")
    site = (rendered_dir / "config/swag/rabbitmq.subdomain.conf").read_text()
    (tmp_path / "site.conf").write_text(site.replace("/config/", f"{conf}/"))
    status = (rendered_dir / "config/swag/stub-status.conf").read_text()
    (tmp_path / "status.conf").write_text(status)
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  include {tmp_path}/site.conf;\n  include {tmp_path}/status.conf;\n}}\n"
    )
    return main


def test_nginx_accepts_swag_sites(rendered_dir: Path, tmp_path: Path) -> None:
    main = _nginx_sandbox(rendered_dir, tmp_path)
    result = run("nginx", "-t", "-q", "-e", str(tmp_path / "error.log"), "-p", str(tmp_path), "-c", str(main))
    assert result.returncode == 0, result.stderr + (tmp_path / "error.log").read_text()


def test_nginx_rejects_a_broken_site(rendered_dir: Path, tmp_path: Path) -> None:
    main = _nginx_sandbox(rendered_dir, tmp_path)
    site = tmp_path / "site.conf"
    site.write_text(site.read_text().replace("deny all;", "deny all"))
    result = run("nginx", "-t", "-q", "-e", str(tmp_path / "error.log"), "-p", str(tmp_path), "-c", str(main))
    assert result.returncode != 0


def test_nginx_rejects_a_broken_status_site(rendered_dir: Path, tmp_path: Path) -> None:
    main = _nginx_sandbox(rendered_dir, tmp_path)
    status = tmp_path / "status.conf"
    status.write_text(status.read_text().replace("stub_status;", "stub_status_typo;"))
    result = run("nginx", "-t", "-q", "-e", str(tmp_path / "error.log"), "-p", str(tmp_path), "-c", str(main))
    assert result.returncode != 0 and "stub_status_typo" in result.stderr + (tmp_path / "error.log").read_text()


def test_node_parses_the_mongosh_init_script(rendered_dir: Path, tmp_path: Path) -> None:
    script = rendered_dir / "config/mongodb/rs-init.js"
    result = run("node", "--check", str(script))
    assert result.returncode == 0, result.stderr
    broken = tmp_path / "rs-init.js"
    broken.write_text(script.read_text().replace("} else {", "} else {{", 1))
    assert run("node", "--check", str(broken)).returncode != 0


@pytest.mark.parametrize("script", SCRIPTS)
def test_bash_parses_script(rendered_dir: Path, script: str) -> None:
    result = run("bash", "-n", script, cwd=rendered_dir)
    assert result.returncode == 0, result.stderr
    assert os.access(rendered_dir / script, os.X_OK)


@pytest.mark.parametrize("script", SCRIPTS)
def test_shellcheck_is_clean(rendered_dir: Path, script: str) -> None:
    result = run("shellcheck", "--severity=style", script, cwd=rendered_dir)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("tf", ["network.tf", "firewall.tf"])
def test_hcl2_parses_terraform(rendered_dir: Path, tf: str) -> None:
    with (rendered_dir / "terraform/hetzner/prod" / tf).open() as handle:
        parsed = hcl2.load(handle)
    assert parsed["resource"], f"{tf} has no resources"
