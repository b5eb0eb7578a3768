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


def test_cleanup_selects_only_unused_objects_of_the_deployed_stacks() -> None:
    from iklim.deploy.cleanup import referenced, unused

    services = [
        {"Spec": {"TaskTemplate": {"ContainerSpec": {
            "Configs": [{"ConfigName": "iklimco_redis.conf_aaaaaaaaaa"}],
            "Secrets": [{"SecretName": "redis_password_bbbbbbbbbb"}]}}}},
    ]  # fmt: skip
    configs, secrets = referenced(services)

    def obj(name: str, labels: dict[str, str] | None = None) -> dict[str, object]:
        return {"ID": f"id-{name}", "Spec": {"Name": name, "Labels": labels or {}}}

    live_configs = [
        obj("iklimco_redis.conf_aaaaaaaaaa", {STACK_LABEL: "iklimco"}),  # in use
        obj("iklimco_redis.conf_cccccccccc", {STACK_LABEL: "iklimco"}),  # an old version
        obj("other_stack.conf", {STACK_LABEL: "other"}),  # another stack's
        obj("iklim-deployed-iklimco-0cf9a8a8f5978dc3", {"org.iklim.deployed": "iklimco"}),  # the runbook's marker
    ]
    mine = {STACK_LABEL: "iklimco"}
    live_secrets = [
        obj("redis_password_bbbbbbbbbb", mine),  # in use
        obj("redis_password_dddddddddd", mine),  # an old version iklim deploy created
        obj("redis_password"),  # the runbook's base secret
        obj("otherapp_api_key_0123456789", {STACK_LABEL: "otherapp"}),  # another app's, version-like name
        obj("unlabelled_key_0123456789"),  # made by hand, version-like name
    ]
    assert unused(live_configs, configs, {"iklimco"}) == [
        ("id-iklimco_redis.conf_cccccccccc", "iklimco_redis.conf_cccccccccc")
    ]
    assert unused(live_secrets, secrets, {"iklimco"}) == [("id-redis_password_dddddddddd", "redis_password_dddddddddd")]
