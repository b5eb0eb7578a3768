"""The lab override sets only ``deploy.endpoint_mode: dnsrr`` and, for unavailable images, ``replicas: 0``.

Checked on the real root stack files, and through Docker's own merge (``docker stack config``):
the merged stack equals the real one except for exactly those keys.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from iklim.render.stacks import STACK_FILES
from iklim.swarmlab.override import override_for, stack_documents
from iklim.swarmlab.standins import UNAVAILABLE

REPO = Path(__file__).resolve().parents[2]


def test_override_sets_only_endpoint_mode_and_zero_replicas() -> None:
    documents = stack_documents(REPO)
    assert set(documents) == set(STACK_FILES.values())
    scaled = set()
    for document in documents.values():
        override = override_for(document)
        assert set(override) == {"version", "services"}
        assert override["version"] == document["version"]
        assert set(override["services"]) == set(document["services"])
        for name, entry in override["services"].items():
            assert set(entry) == {"deploy"}
            image = document["services"][name]["image"]
            if image in UNAVAILABLE:
                assert entry["deploy"] == {"endpoint_mode": "dnsrr", "replicas": 0}
                scaled.add(name)
            else:
                assert entry["deploy"] == {"endpoint_mode": "dnsrr"}
    # the list: MongoDB (and its exporters), APISIX, APISIX Dashboard, Grafana
    assert {s.rstrip("-123") for s in scaled} == {
        "mongodb",
        "mongodb-exporter",
        "apisix",
        "apisix-dashboard",
        "grafana",
    }


def _without_lab_keys(service: dict[str, Any]) -> dict[str, Any]:
    service = copy.deepcopy(service)
    deploy = service.get("deploy", {})
    deploy.pop("endpoint_mode", None)
    deploy.pop("replicas", None)
    for key in ("secrets", "configs", "volumes"):  # compose merges these by source/target: order carries no meaning
        if key in service:
            service[key] = sorted(service[key], key=lambda item: (str(item.get("source")), str(item.get("target"))))
    return service


@pytest.mark.parametrize("stack_file", sorted(STACK_FILES.values()))
def test_docker_merge_changes_nothing_else(stack_file: str, tmp_path: Path) -> None:
    docker = shutil.which("docker")
    assert docker is not None, "docker CLI missing: run scripts/install-swarm-lab.sh"
    document = stack_documents(REPO)[stack_file]
    override = tmp_path / "override.yml"
    override.write_text(yaml.safe_dump(override_for(document)))

    def config(*files: Path) -> dict[str, Any]:
        argv = [docker, "stack", "config"]
        for f in files:
            argv += ["-c", str(f)]
        env = {"GRAFANA_DATA_DIR": "/data/grafana", "PATH": "/usr/bin:/bin"}
        out = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=REPO, env=env).stdout
        parsed: dict[str, Any] = yaml.safe_load(out)
        return parsed

    real, merged = config(REPO / stack_file), config(REPO / stack_file, override)
    assert merged.keys() == real.keys()
    for key in real:
        if key != "services":
            assert merged[key] == real[key], key
    for name, service in real["services"].items():
        lab = merged["services"][name]
        assert lab["deploy"]["endpoint_mode"] == "dnsrr"
        if service["image"] in UNAVAILABLE:
            assert lab["deploy"]["replicas"] == 0
        else:
            assert lab["deploy"].get("replicas") == service["deploy"].get("replicas")
        assert _without_lab_keys(lab) == _without_lab_keys(service), name
