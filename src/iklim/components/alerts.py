"""The registry of alerting rules: catalogue key -> the alerts of its rule file.

Every scrape job (:data:`iklim.components.prometheus.JOBS`) has an entry here;
``tests/test_alert_rules.py`` fails when one does not, or when an alert has no promtool unit test.
:func:`rule_files` renders them (``config/prometheus/rules/<key>.yml``) for the stack and the lab.
"""

from __future__ import annotations

from collections.abc import Callable

from iklim.components import alerts_db, alerts_service
from iklim.components.alertrules import Alert, rule_file
from iklim.components.base import header
from iklim.components.yamlout import dump_yaml
from iklim.model.catalogue import CATALOGUE
from iklim.model.schema import Environment

#: Catalogue key -> its alerts, in catalogue order when rendered.
RULES: dict[str, Callable[[Environment], list[Alert]]] = {
    "etcd": alerts_db.etcd,
    "patroni": alerts_db.patroni,
    "mongodb": alerts_db.mongodb,
    "redis": alerts_service.redis,
    "rabbitmq": alerts_service.rabbitmq,
    "apisix": lambda env: alerts_service.down_only(env, "apisix", "APISIX"),
    "swag": lambda env: alerts_service.down_only(env, "swag", "nginx-prometheus-exporter (SWAG)"),
    "prometheus": alerts_service.prometheus,
    "grafana": lambda env: alerts_service.down_only(env, "grafana", "Grafana"),
    "alertmanager": alerts_service.alertmanager,
    "vault": alerts_service.vault,
}


def alerts(env: Environment, keys: frozenset[str] | None = None) -> dict[str, list[Alert]]:
    """Catalogue key -> its alerts, in catalogue order; ``keys`` limits them (the lab's jobs)."""
    return {e.key: RULES[e.key](env) for e in CATALOGUE if e.key in RULES and (keys is None or e.key in keys)}


def rule_files(env: Environment, keys: frozenset[str] | None = None) -> dict[str, str]:
    """Catalogue key -> the text of its rule file (banner, then one group)."""
    return {key: header("#") + dump_yaml(rule_file(key, found)) for key, found in alerts(env, keys).items()}
