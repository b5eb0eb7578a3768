"""Every config the tree's services reference has a source file whose content is the planned one."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from iklim.deploy.objects import config_sources
from iklim.model.loader import load_environment
from iklim.plan.compose import config_hashes, desired_state
from iklim.plan.spec import STACK_LABEL
from iklim.plan.targets import lab_overrides, stack_documents

ROOT = Path(__file__).resolve().parents[2]


def test_each_planned_config_has_its_file_and_stack() -> None:
    env = load_environment(ROOT / "environments" / "prod.yaml")
    documents = stack_documents(ROOT, env)
    overrides = lab_overrides(documents)
    desired = desired_state(documents, config_hashes(ROOT, documents), os.environ, overrides)
    sources = config_sources(ROOT, documents, os.environ, overrides)
    assert set(sources) == set(desired.configs)
    for name, source in sources.items():
        assert hashlib.sha256(source.path.read_bytes()).hexdigest() == desired.configs[name], name
        users = [s for s in desired.services.values() if any(r["name"] == name for r in s["configs"])]
        assert all(s["labels"][STACK_LABEL] == source.stack for s in users), name
