"""The seed's components as data: what :mod:`iklim.check.recognise` matches a service against.

:data:`COMPONENTS` (image, program and mounted-config patterns of each seed component, derived
from the component catalogue :mod:`iklim.model.catalogue`),
:data:`COMPANIONS` (images that are never members), :data:`GENERIC_IMAGES` (base images a cert
service script runs on) and the lookups derived from them (:data:`BY_KIND`, :data:`DB_KINDS`,
:data:`SERVICE_KINDS`, :data:`LABELS`).
"""

from __future__ import annotations

from iklim.model.catalogue import CATALOGUE, Kind

#: One recognisable kind (the catalogue's :class:`~iklim.model.catalogue.Kind`).
Component = Kind

#: The seed's kinds, in catalogue (stack) order, DB tier first: each entry's kinds, derived from
#: :data:`iklim.model.catalogue.CATALOGUE` (a component is declared there, once).
COMPONENTS: tuple[Component, ...] = tuple(kind for e in CATALOGUE for kind in e.kinds)

#: Images that are never members: (pattern, what they are). Checked before :data:`COMPONENTS`.
COMPANIONS: tuple[tuple[str, str], ...] = (
    (r".*exporter.*", "exporter"),
    (r"pgadmin4?", "pgAdmin"),
    (r"vaultwarden/server|bitwardenrs/server", "Vaultwarden"),
    (r"redis-?commander|redisinsight|redis-insight", "Redis admin UI"),
    (r"mongo-express|mongoku|adminer|phpmyadmin|pgweb|etcdkeeper", "admin UI"),
    (r"vault-ui|vault-exporter", "Vault UI"),
    (r".*backup.*|pgbackrest|wal-g", "backup job"),
    (r"pgbouncer|pgpool(-ii)?|haproxy", "connection proxy"),
    (r"apisix-ingress-controller", "ingress controller"),
)

#: Generic base images: a cert service is a script on one of these that mounts certificates.
GENERIC_IMAGES = (r"alpine", r"busybox", r"docker", r"debian", r"ubuntu", r"bash", r"curlimages/curl")

BY_KIND = {c.kind: c for c in COMPONENTS}
DB_KINDS = tuple(c.kind for c in COMPONENTS if c.tier == "db")
#: Service-node components of the infra stack (Vault has its own stack).
SERVICE_KINDS = tuple(c.kind for c in COMPONENTS if c.tier == "service" and c.kind != "vault")
LABELS = {c.kind: c.label for c in COMPONENTS}
