"""The policy rules, one per module, listed explicitly in :data:`RULES` (errors first)."""

from __future__ import annotations

from iklim.check.rules import (
    apisix_interpolation,
    compose_syntax,
    db_host_mode,
    db_placement,
    etcd_aliases,
    etcd_prefix,
    firewall_etcd_client,
    firewall_host_ports,
    firewall_no_redis,
    grafana_storage,
    healthcheck,
    healthcheck_quorum,
    image_pinned,
    literal_secret,
    overlay_only,
    plaintext_listener,
    prometheus_volume,
    rabbitmq_mgmt_ip,
    replica_count,
    runbook_docker_user,
    service_placement,
    spread,
    stack_split,
    stateful_update,
    superseded_overlay,
    swarm_constraint,
    terraform_unevaluated,
)
from iklim.check.rules.base import Rule

RULES: tuple[Rule, ...] = (
    stack_split.RULE,
    superseded_overlay.RULE,
    db_placement.RULE,
    service_placement.RULE,
    swarm_constraint.RULE,
    compose_syntax.RULE,
    overlay_only.RULE,
    db_host_mode.RULE,
    replica_count.RULE,
    etcd_prefix.RULE,
    etcd_aliases.RULE,
    healthcheck_quorum.RULE,
    prometheus_volume.RULE,
    grafana_storage.RULE,
    firewall_etcd_client.RULE,
    firewall_host_ports.RULE,
    firewall_no_redis.RULE,
    rabbitmq_mgmt_ip.RULE,
    runbook_docker_user.RULE,
    plaintext_listener.RULE,
    literal_secret.RULE,
    image_pinned.RULE,
    healthcheck.RULE,
    stateful_update.RULE,
    spread.RULE,
    terraform_unevaluated.RULE,
    apisix_interpolation.RULE,
)


def by_id(rule_id: str) -> Rule | None:
    return next((rule for rule in RULES if rule.id == rule_id), None)
