"""Fuzz every string field of the model with shell, HCL, nginx and YAML payloads (issue 16).

The string fields are enumerated from the pydantic model (not hand-listed). Two layers are tried:

- through the loader, as an operator would: either the model is refused with one-line
  ``file:line:col`` problems, or the rendered tree is inert (below);
- straight into the renderers, bypassing validation: the escaping alone must keep it inert.

Inert means: the rendered shell scripts, run with stub ``docker``, ``ssh``, ``iptables``,
``openssl`` and ``iklim`` on PATH (stubs that only record their arguments), execute nothing from
the payload (its canary file never appears) and pass model values to the stubs as single,
unchanged arguments; python-hcl2 parses ``network.tf``/``firewall.tf`` to exactly the resources of
the clean render; the SWAG sites have exactly the clean render's directives; every YAML file
parses to the clean render's keys.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from iklim.check.nginx import Directive
from iklim.check.nginx import parse as parse_nginx
from iklim.model.loader import ModelError, parse_environment
from iklim.model.schema import Environment
from iklim.render.tree import Tree, render_tree
from iklim.render.writer import write_tree

PROD_TEXT = (Path(__file__).resolve().parent.parent / "environments" / "prod.yaml").read_text()
CANARY = Path(tempfile.mkdtemp(prefix="iklim-canary-")) / "pwned"
C = str(CANARY)
PAYLOADS = [
    # shell
    f"$(touch {C})",
    f"`touch {C}`",
    f"; touch {C}",
    f"\ntouch {C}\n",
    f"' ; touch {C} ; '",
    f'" ; touch {C} ; "',
    f"$'\\n'touch {C}",
    f"x && touch {C} #",
    f"| touch {C}",
    f"${{IFS}}touch${{IFS}}{C}",
    f"\\'$(touch {C})",
    # HCL
    '"\n}\nresource "hcloud_server" "x" {\n  a = "',
    '${file("/etc/passwd")}',
    "%{ if true }x%{ endif }",
    '\\"',
    "$${x}",
    # nginx
    "x;\nallow all;",
    "x; } server { listen 1;",
    "x # c",
    '"x" ; deny',
    "{",
    # YAML and compose
    "x\n  injected: true",
    "&a x",
    "*a",
    "!!python/object/apply:os.system ['true']",
    "x: y",
    "- x",
    "{x: y}",
    "${HOME}",
    "x}:/etc:${Y",
    "|\n  x",
]
# No shrinking: a failure reports its raw example at once, and the test stays bounded.
PHASES = (Phase.explicit, Phase.reuse, Phase.generate)
EXAMPLES = int(os.environ.get("IKLIM_FUZZ_EXAMPLES", "100"))  # raise it for a longer run
SCRIPTS = ("init-infra-prod.sh", "init/vault/vault-bootstrap.sh")
END = "--end-of-call--"
STUB = f"""#!/bin/sh
# Records its name and arguments, NUL-separated; never runs them.
printf '%s\\0' "${{GRAFANA_DATA_DIR-}}" "${{0##*/}}" "$@" {END} >> "$STUB_LOG"
case "${{0##*/}} $1 $2" in
  "docker network inspect"|"docker secret inspect") exit 1 ;;
  "docker secret create") cat >/dev/null ;;
  "openssl "*) echo c2VjcmV0 ;;
esac
case " $* " in *" ps "*) echo cid0 ;; esac
exit 0
"""
STUBS = ("docker", "ssh", "iptables", "ip6tables", "iptables-restore", "ip6tables-restore", "iptables-save")
STUBS += ("ip6tables-save", "openssl", "iklim", "sleep", "systemctl", "netfilter-persistent")


# --- Every string field of the model, found by walking the production model -------------------


@dataclass(frozen=True)
class Slot:
    """Where a payload goes: ``value`` replaces (or sets) a string, ``key`` renames a dict key,
    ``append`` adds an item to an empty list."""

    loc: tuple[str | int, ...]
    kind: str
    owner: str  # Class.field, for the coverage check
    free: bool = True  # a free-form string, not an enum or a literal choice

    def __str__(self) -> str:
        return f"{self.kind}:{'.'.join(map(str, self.loc))}"


def _admits_str(tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _admits_str(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        return any(_admits_str(a) for a in typing.get_args(tp))
    if origin is typing.Literal:
        return all(isinstance(a, str) for a in typing.get_args(tp))
    if origin in (list, dict):
        return any(_admits_str(a) for a in typing.get_args(tp))
    return isinstance(tp, type) and issubclass(tp, str)


def _free(tp: Any) -> bool:
    """True when ``tp`` admits any string a pattern allows (not only an enum's or literal's)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Annotated, typing.Union, types.UnionType, list, dict):
        return any(_free(a) for a in typing.get_args(tp))
    return tp is str


def _models(tp: Any) -> Iterator[type[BaseModel]]:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        yield tp
    for arg in typing.get_args(tp):
        yield from _models(arg)


def string_fields(model: type[BaseModel], seen: set[type[BaseModel]] | None = None) -> set[str]:
    """``Class.field`` of every field of ``model`` (recursively) that holds strings."""
    seen = set() if seen is None else seen
    found: set[str] = set()
    if model in seen:
        return found
    seen.add(model)
    for name, info in model.model_fields.items():
        if _admits_str(info.annotation):
            found.add(f"{model.__name__}.{name}")
        for sub in _models(info.annotation):
            found |= string_fields(sub, seen)
    return found


def slots(model: BaseModel, here: tuple[str | int, ...] = ()) -> Iterator[Slot]:
    """One slot per string value of ``model`` (and per empty string list, unset string, dict key)."""
    for name, info in type(model).model_fields.items():
        value, loc, owner = getattr(model, name), here + (name,), f"{type(model).__name__}.{name}"
        free = _free(info.annotation)
        if isinstance(value, BaseModel):
            yield from slots(value, loc)
        elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
            for i, item in enumerate(value):
                yield from slots(item, loc + (i,))
        elif not _admits_str(info.annotation):
            continue
        elif isinstance(value, list):
            yield Slot(loc + (0,), "value" if value else "append", owner, free)
        elif isinstance(value, dict):
            key = sorted(value)[0] if value else "fuzz"
            yield Slot(loc + (key,), "value", owner, free)
            if value:
                yield Slot(loc + (key,), "key", owner, free)
        else:
            yield Slot(loc, "value", owner, free)


PROD_ENV = parse_environment(PROD_TEXT, "prod.yaml")
SLOTS = sorted(slots(PROD_ENV), key=str)


def _put(container: Any, slot: Slot, payload: str) -> Any:
    """``container`` (plain data or a model, not changed) with ``payload`` at ``slot``."""

    def go(node: Any, loc: tuple[str | int, ...]) -> Any:
        head, rest = loc[0], loc[1:]
        if isinstance(node, BaseModel):
            child = getattr(node, str(head))
            return node.model_copy(update={str(head): go(child, rest) if rest else payload})
        if isinstance(node, list):
            items = list(node)
            if not rest:
                return [payload] if slot.kind == "append" else items[:head] + [payload] + items[head + 1 :]  # type: ignore[operator]
            items[head] = go(items[head], rest)  # type: ignore[index]
            return items
        data = dict(node or {})
        if rest:
            data[head] = go(data.get(head, [] if isinstance(rest[0], int) else {}), rest)
        elif slot.kind == "key":
            data = {(payload if k == head else k): v for k, v in data.items()}
        else:
            data[head] = payload
        return data

    return go(container, slot.loc)


def _rename_references(env: Environment, slot: Slot, payload: str) -> Environment:
    """When a node is renamed, its placements follow (so the bypass render is about quoting)."""
    if slot.loc[0] != "nodes" or slot.loc[-1] != "name":
        return env
    old = PROD_ENV.nodes[int(slot.loc[1])].name
    for other in slots(env):
        if other.owner.endswith(".nodes") and other.kind == "value":
            for i, value in enumerate(_get(env, other.loc[:-1])):
                if value == old:
                    env = _put(env, Slot(other.loc[:-1] + (i,), "value", other.owner), payload)
    return env


def _keep_port_names(env: Environment, slot: Slot) -> Environment:
    """A port's name is a reference the builders look up (``iklim.model.ports.port_of``): when the
    payload renames one, the original entry stays beside it, so the bypass render is about quoting."""
    if slot.owner != "PortSpec.name":
        return env
    services, component = env.services, str(slot.loc[1])
    spec = getattr(services, component)
    original = _get(PROD_ENV, slot.loc[:-1])
    changed = spec.model_copy(update={"ports": [*spec.ports, original]})
    return env.model_copy(update={"services": services.model_copy(update={component: changed})})


def _below_the_storagebox(slot: Slot, payload: str) -> str:
    """Grafana's data path is refused by the runbook outside the StorageBox (a check, not escaping):
    the payload goes below ``/mnt/storagebox`` so the run reaches the places that quote it."""
    return f"/mnt/storagebox/{payload}" if slot.loc == ("services", "grafana", "volume", "path") else payload


def _get(node: Any, loc: tuple[str | int, ...]) -> Any:
    for part in loc:
        node = node[part] if isinstance(node, list | dict) else getattr(node, str(part))
    return node


# --- What "inert" means ------------------------------------------------------------------------

CLEAN = render_tree(PROD_ENV)


def _resources(text: str) -> set[tuple[str, str]]:
    parsed = hcl2.loads(text)
    return {
        (kind.strip('"'), name.strip('"'))
        for block in parsed.get("resource", [])
        for kind, named in block.items()
        for name in named
    }


def _shape(directives: tuple[Directive, ...]) -> list[Any]:
    return [(d.name, len(d.args), None if d.block is None else _shape(d.block)) for d in directives]


def _keys(data: Any, named: dict[str, str]) -> Any:
    """The key structure of ``data``; keys that are model strings (``named``) by their role."""
    if isinstance(data, dict):
        return {named.get(k, k): _keys(v, named) for k, v in data.items()}
    return type(data).__name__


def _calls(log: Path) -> list[tuple[str, list[str]]]:
    """Each stub call: (its GRAFANA_DATA_DIR, [its name, *its arguments])."""
    fields = log.read_bytes().decode(errors="surrogateescape").split("\0") if log.exists() else []
    calls: list[tuple[str, list[str]]] = []
    current: list[str] = []
    for field in fields:
        if field == END:
            calls.append((current[0], current[1:]))
            current = []
        else:
            current.append(field)
    return calls


def _pki_placeholders(tree: Tree, folder: Path) -> Path:
    """``folder`` holding an empty file for every ``ensure_file_secret``/``ensure_job_secret`` of the runbook."""
    folder.mkdir(mode=0o700)
    runbook = tree["init-infra-prod.sh"].content.decode()
    for name in re.findall(r"^  ensure_(?:file|job)_secret (\w+)$", runbook, re.M):
        (folder / name).write_text("")
    return folder


def run_scripts(tree: Tree, work: Path) -> list[tuple[str, list[str]]]:
    """Write ``tree`` under ``work`` and run its changed scripts with stubs; return the stub calls."""
    root, bin_dir, log = work / "tree", work / "bin", work / "calls"
    write_tree(root, tree)
    bin_dir.mkdir()
    for name in STUBS:
        (bin_dir / name).write_text(STUB)
        (bin_dir / name).chmod(0o755)
    environ = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(work),
        "STUB_LOG": str(log),
        "SECRETS_DIR": str(work / "no-secrets"),
        # The stubbed `iklim pki issue` writes nothing: the certificate files the runbook imports
        # are placeholders here.
        "PKI_DIR": str(_pki_placeholders(tree, work / "pki")),
        "LANG": "C.UTF-8",
        # The DOCKER-USER scripts install their applier and boot unit under this root, never
        # into this machine's /usr/local/sbin and /etc/systemd/system.
        "IKLIM_FIREWALL_ROOT": str(work / "root"),
    }
    for script in (*SCRIPTS, *(p for p, f in tree.items() if f.executable and p not in SCRIPTS)):
        if script not in SCRIPTS and tree[script] == CLEAN[script]:
            continue  # no model string reached it
        done = subprocess.run(
            ["bash", str(root / script)], env=environ, cwd=work, capture_output=True, timeout=60, check=False
        )
        assert done.returncode == 0, (script, done.stderr.decode(errors="replace")[-2000:])
    return _calls(log)


@functools.cache
def _clean_reading(path: str) -> Any:
    return _reading(path, CLEAN[path].content.decode(), PROD_ENV)


def _reading(path: str, text: str, env: Environment) -> Any:
    """What a file means, for comparison: resources, directive shape, key shape (else its text)."""
    if path.endswith(".tf"):
        return _resources(text)
    if path.endswith(".hcl"):
        return _keys(hcl2.loads(text), {})
    if path.endswith(".conf") and "/swag/" in path:
        return _shape(parse_nginx(text, path))
    if path.endswith((".yml", ".yaml")):
        return _keys(yaml.load(text, Loader=yaml.CSafeLoader), {env.overlay.name: "<overlay>"})
    return None


def assert_inert(env: Environment, tree: Tree, work: Path) -> None:
    """The rendered ``tree`` of ``env`` runs, parses and reads as the clean one, with the values
    of ``env`` passed as data. Files equal to the clean render's are not read again."""
    CANARY.unlink(missing_ok=True)
    assert set(tree) == set(CLEAN)  # no model string chooses a path
    changed = sorted(path for path in tree if tree[path] != CLEAN[path])
    for path in changed:
        assert _reading(path, tree[path].content.decode(), env) == _clean_reading(path), path
    if not any(tree[path].executable for path in changed):
        return
    calls = run_scripts(tree, work)
    assert not CANARY.exists(), "a payload ran as shell"
    labels = {(c[-1], c[c.index("--label-add") + 1]) for _, c in calls if c[:3] == ["docker", "node", "update"]}
    wanted = {(n.name, f"{k}={v}") for n in env.nodes for k, v in n.labels.items()}
    assert labels == wanted  # fresh stub nodes carry no label: every one is added, unchanged
    bootstraps = [c for _, c in calls if c[:3] == ["iklim", "vault", "bootstrap"]]  # runbook, then alone
    assert len(bootstraps) == 2
    pki = [c for _, c in calls if c[:2] == ["iklim", "pki"]]  # the placeholder CA folder has no ca.key
    assert [c[2] for c in pki] == ["init", "issue"] and all(c[c.index("--dir") + 1].endswith("/pki") for c in pki)
    assert all(c[c.index("--keys-file") + 1] == env.services.vault.keys_file for c in bootstraps)
    volume = env.services.grafana.volume
    deploys = [grafana for grafana, c in calls if c[:3] == ["docker", "stack", "deploy"]]
    assert volume is not None and deploys and all(grafana == volume.path for grafana in deploys)


payloads = st.one_of(
    st.sampled_from(PAYLOADS),
    st.builds(
        lambda a, p, b: a + p + b,
        st.sampled_from(["", "iklim", "/mnt/x", "a.b"]),
        st.sampled_from(PAYLOADS),
        st.text(max_size=8),
    ),
    st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=30),
)


def test_every_string_field_of_the_model_is_fuzzed() -> None:
    assert string_fields(Environment) == {s.owner for s in SLOTS}
    assert len(SLOTS) > 100


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow], phases=PHASES)
@given(slot=st.sampled_from(SLOTS), payload=payloads)
def test_a_hostile_string_is_refused_with_its_line_or_renders_inert(slot: Slot, payload: str) -> None:
    data = _put(yaml.safe_load(PROD_TEXT), slot, payload)
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    try:
        env = parse_environment(text, "prod.yaml")
    except ModelError as exc:
        assert exc.problems
        for problem in exc.problems:
            line = str(problem)
            assert "\n" not in line and line.startswith("prod.yaml:") and problem.line >= 1 and problem.column >= 1
        return
    with tempfile.TemporaryDirectory() as work:
        assert_inert(env, render_tree(env), Path(work))


bypass_payloads = st.one_of(
    st.sampled_from(PAYLOADS),
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\0"), min_size=1, max_size=30),
)
# Free-form strings only (an enum's value is its meaning), and no placement lists: a member placed
# on an unknown node is a semantic error, not a quoting question (renamed nodes take theirs along).
FREE_SLOTS = [s for s in SLOTS if s.free and not s.owner.endswith(".nodes")]


@settings(max_examples=EXAMPLES // 2, deadline=None, suppress_health_check=[HealthCheck.too_slow], phases=PHASES)
@given(slot=st.sampled_from(FREE_SLOTS), payload=bypass_payloads)
def test_escaping_alone_keeps_a_hostile_string_inert(slot: Slot, payload: str) -> None:
    """Bypassing the model's patterns, the renderers' escaping keeps every payload data."""
    payload = _below_the_storagebox(slot, payload)
    env = _keep_port_names(_rename_references(_put(PROD_ENV, slot, payload), slot, payload), slot)
    try:
        tree = render_tree(env)
    except ValidationError:
        return  # a renderer that builds a model (an exporter's Component) validates the value itself
    with tempfile.TemporaryDirectory() as work:
        assert_inert(env, tree, Path(work))


@pytest.fixture(scope="module", autouse=True)
def _canary_dir() -> Iterator[None]:
    yield
    shutil.rmtree(CANARY.parent, ignore_errors=True)
