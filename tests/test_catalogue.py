"""Completeness of the component catalogue (issue 13): every entry has each facet or says why not.

Each facet lives in one registry keyed by the catalogue's key: the config builder
(``components.BUILDERS``), the scrape job (``components.prometheus.JOBS``), the lab runners
(``lab.registry.RUNNERS``), the status probe (``status.probes.REGISTRY``) and the endpoints it asks
(``status.planbuild.PROBED``), the Grafana dashboard (``components.dashboard_edge.PANELS``, excused
with the scrape job: no metrics, no dashboard); ``check``'s recognition is the entry's own ``kinds``. An entry
without a facet must give a reason in ``absent``; a registry key outside the catalogue is
dangling. :func:`problems` is the rule; the tests run it on the real catalogue and on copies with
one entry (or one registry key) removed, and each removal must be reported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from iklim.check import kinds as check_kinds
from iklim.check.recognise import recognise
from iklim.components import BUILDERS
from iklim.components.dashboard_edge import PANELS
from iklim.components.prometheus import JOBS
from iklim.components.target import entry_of, section_of
from iklim.lab.registry import RUNNERS, runners
from iklim.model import catalogue as cat
from iklim.model.catalogue import CATALOGUE, FACETS, Entry, upstream_images
from iklim.model.loader import load_environment
from iklim.model.schema import Services
from iklim.render.tree import render_tree
from iklim.status.planbuild import PROBED
from iklim.status.probes import PROBES, REGISTRY

REPO = Path(__file__).resolve().parent.parent
ENV = load_environment(REPO / "environments" / "prod.yaml")

Registries = Mapping[str, Mapping[str, Any]]
REAL: Registries = {
    "builder": BUILDERS,
    "scrape": JOBS,
    "dashboard": PANELS,
    "lab": RUNNERS,
    "probe": REGISTRY,
    "probe endpoints": PROBED,
}
#: Registry -> the ``absent`` facet that excuses a missing key (None: every entry needs one).
EXCUSE = {
    "builder": None,
    "scrape": "scrape",
    "dashboard": "scrape",
    "lab": "lab",
    "probe": "probe",
    "probe endpoints": "probe",
}


def problems(catalogue: tuple[Entry, ...], registries: Registries, kinds: tuple[Any, ...]) -> list[str]:
    """Every way ``catalogue`` and the registries disagree, one line each (empty when complete)."""
    found: list[str] = []
    keys = [e.key for e in catalogue]
    if len(set(keys)) != len(keys):
        found.append(f"a key is declared twice: {keys}")
    owned = [s for e in catalogue for s in e.sections if "." not in s]
    for field in Services.model_fields:
        if owned.count(field) != 1:
            found.append(f"model section services.{field} belongs to {owned.count(field)} catalogue entries")
    kind_names = {k.kind for k in kinds}
    for e in catalogue:
        if not e.kinds or not {k.kind for k in e.kinds} <= kind_names:
            found.append(f"{e.key}: no recognition for `iklim check`")
        for facet in e.absent:
            if facet not in FACETS or not e.absent[facet].strip():
                found.append(f"{e.key}: absent[{facet!r}] is not a facet with a reason")
        for name, registry in registries.items():
            excuse = EXCUSE[name]
            has = e.key in registry
            if not has and (excuse is None or e.has(excuse)):
                found.append(f"{e.key}: no {name} (and no absent[{excuse!r}] reason)")
            if has and excuse is not None and not e.has(excuse):
                found.append(f"{e.key}: has a {name} but declares absent[{excuse!r}]")
    for name, registry in registries.items():
        for key in registry:
            if key not in keys:
                found.append(f"{name} registry holds {key!r}, which is not in the catalogue (dangling)")
    for kind in kinds:
        if not any(kind in e.kinds for e in catalogue):
            found.append(f"check recognises {kind.kind!r}, which no catalogue entry declares (dangling)")
    return found


def test_the_catalogue_is_complete() -> None:
    assert problems(CATALOGUE, REAL, check_kinds.COMPONENTS) == []


@pytest.mark.parametrize("key", [e.key for e in CATALOGUE])
def test_removing_an_entry_leaves_its_registrations_dangling(key: str) -> None:
    copy = tuple(e for e in CATALOGUE if e.key != key)
    found = problems(copy, REAL, check_kinds.COMPONENTS)
    assert any(f"{key!r}, which is not in the catalogue" in p for p in found), found
    assert any("belongs to 0 catalogue entries" in p for p in found), found


@pytest.mark.parametrize(("registry", "key"), [(r, k) for r, reg in REAL.items() for k in reg])
def test_removing_a_registration_is_reported(registry: str, key: str) -> None:
    reduced = {
        name: ({k: v for k, v in reg.items() if k != key} if name == registry else reg) for name, reg in REAL.items()
    }
    found = problems(CATALOGUE, reduced, check_kinds.COMPONENTS)
    assert any(p.startswith(f"{key}: no {registry}") for p in found), found


def test_an_absent_reason_with_a_registration_is_a_contradiction() -> None:
    etcd = cat.BY_KEY["etcd"]
    patched = tuple(Entry(**{**e.__dict__, "absent": {"lab": "because"}}) if e is etcd else e for e in CATALOGUE)
    assert "etcd: has a lab but declares absent['lab']" in problems(patched, REAL, check_kinds.COMPONENTS)


def test_derived_tables_follow_the_catalogue(monkeypatch: pytest.MonkeyPatch) -> None:
    """check's kinds, the required port names and the placement/quorum sections are the catalogue's."""
    assert tuple(k for e in CATALOGUE for k in e.kinds) == check_kinds.COMPONENTS
    assert cat.required_ports() == {
        "etcd": ("client", "peer"),
        "patroni": ("postgres", "patroni-api"),
        "mongodb": ("mongod",),
        "swag": ("http", "https"),
        "vault": ("api",),
    }
    assert cat.sections("db") == ("etcd", "patroni", "mongodb")
    assert cat.sections(quorum=True) == ("etcd", "patroni", "mongodb", "rabbitmq", "vault")
    monkeypatch.setattr(cat, "CATALOGUE", tuple(e for e in CATALOGUE if e.key != "mongodb"))
    assert "mongodb" not in cat.sections("db") and "mongodb" not in cat.required_ports()


def test_every_lab_registration_answers_under_its_key() -> None:
    """``status --target lab`` finds a component by its key among the runners ``lab up`` recorded."""
    names = {c.name for c in runners()}
    assert set(RUNNERS) <= names
    assert {e.key for e in CATALOGUE if not e.has("lab")} <= names  # reported, with the reason
    assert [p.name for p in PROBES] == [
        k for k in (e.key for e in CATALOGUE) if k in REGISTRY and k != "prometheus"
    ] + ["prometheus"]


def test_the_runbook_creates_exactly_the_secrets_the_components_declare() -> None:
    """``Contribution.secrets`` is the one list: the runbook creates it, the stacks mount only it."""
    declared = {name for build in BUILDERS.values() for name in build(ENV).secrets}
    tree = render_tree(ENV)
    runbook = tree["init-infra-prod.sh"].content.decode()
    created = set(re.findall(r"^  ensure_secret (\S+) \d+$", runbook, re.M))
    assert created == declared
    assert "  ensure_secret mongodb_keyfile 756" in runbook
    imported = set(re.findall(r"^  ensure_(?:file|job)_secret (\w+)$", runbook, re.M))
    files = {name for build in BUILDERS.values() for name in build(ENV).file_secrets}
    assert imported == files | {"tls_ca_crt"}  # certificates and keys: imported from PKI_DIR, never generated
    assert not imported & created
    for name in ("docker-stack-infra_db-prod.yml", "docker-stack-vault.yml"):
        stacks = tree[name].content.decode()
        mounted = set(re.findall(r"^  (\w+):\n    external: true", stacks, re.M))
        assert mounted and mounted <= declared | imported


@pytest.mark.parametrize("entry", CATALOGUE, ids=lambda e: e.key)
def test_upstream_images_are_model_values_check_recognises(entry: Entry) -> None:
    """The Swarm lab maps each entry's upstream images; the first is the component's own image,
    and ``iklim check`` recognises it as one of the entry's kinds (or, for the cert services'
    generic base images, by what they mount)."""
    images = upstream_images(ENV, entry)
    assert images and all(":" in i for i in images)
    found = recognise({"image": images[0]})
    if any(k.images for k in entry.kinds):
        assert found.kind in {k.kind for k in entry.kinds}, (images[0], found)


@pytest.mark.parametrize("entry", CATALOGUE, ids=lambda e: e.key)
def test_each_section_and_member_family_maps_back_to_its_entry(entry: Entry) -> None:
    for section in entry.sections:
        family = section.replace("_", "-").replace("redis.sentinel", "redis-sentinel")
        assert entry_of(family) is entry
        assert section_of(ENV, family) is not None


@pytest.mark.parametrize("entry", CATALOGUE, ids=lambda e: e.key)
def test_every_upstream_image_has_a_swarm_lab_stand_in_or_a_reason(entry: Entry) -> None:
    """The Swarm-lab image facet: each image an entry runs is built by the Swarm lab
    (``swarmlab.standins.STANDINS``) or declared unavailable there with a reason; an image in
    neither makes ``swarm-lab up`` fail loudly, and this test first."""
    from iklim.swarmlab.standins import STANDINS, UNAVAILABLE, classify

    for image in upstream_images(ENV, entry):
        assert image in STANDINS or UNAVAILABLE.get(image, "").startswith("image not available here"), image
    built, unavailable = classify(upstream_images(ENV, entry))
    assert {s.ref for s in built} | set(unavailable) == set(upstream_images(ENV, entry))


def test_a_new_image_without_a_stand_in_is_refused() -> None:
    from iklim.swarmlab.standins import UnknownImageError, classify

    with pytest.raises(UnknownImageError, match="kafka"):
        classify(["quay.io/coreos/etcd:v3.5.17", "apache/kafka:3.9.0"])
