"""The policy gate of ``iklim render``: the checker's verdict on a rendered tree before it is written.

The tree is written into a private temporary folder (``mkdtemp``: mode 0700, removed afterwards),
never into ``--out``, and checked there as ``iklim check`` checks a repository: the same loader
and rules, the ``.iklim-check.yaml`` found from ``--out`` upward, and the policy parameters of
the model being rendered (not of an ``environments/prod.yaml`` that happens to sit above
``--out``). Layering: render calls check; check never imports render.

Each finding is reported at the path its file will have below ``--out``, followed by the model
key that produced it where the file tells: a stack service (``redis-sentinel-2``) or a config
file (``config/redis/redis-sentinel-2.conf``, else its folder ``config/redis``) names its
component, which is ``services.<name>`` in the model (``services.redis.sentinel`` for Sentinel,
``services.<name>.exporter_image`` for an exporter); ``network.tf`` is ``network``. Findings in
the firewall, the runbooks and ``stack-split``-style findings without a service are printed
without a model line: several model keys feed them.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iklim.check.commands import CHECK_SECONDS
from iklim.check.config import CONFIG_FILE, CheckConfig, load_config
from iklim.check.documents import display, load
from iklim.check.engine import run
from iklim.check.findings import InputError, Severity
from iklim.check.output import plain
from iklim.check.policyfile import resolve
from iklim.check.rules import RULES
from iklim.check.yamlload import load_yaml
from iklim.model.bounded import TimeLimitExceeded, read_text, time_limit
from iklim.render.tree import Tree

Loc = tuple[str, ...]
_MEMBER = re.compile(r"-\d+$")


@dataclass(frozen=True)
class Verdict:
    """What the checker said about a rendered tree: one printable line per finding.

    ``errors`` block the render; ``warnings`` are printed and do not. ``unusable`` holds a line
    when the check itself could not run (a bad ``.iklim-check.yaml``, a checker fault): that
    blocks the render too."""

    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    unusable: str | None = None


def _component(name: str, services: set[str]) -> Loc | None:
    """The model key of a stack service or config file stem (``redis-sentinel-1``), if any."""
    base = _MEMBER.sub("", name)
    if base == "redis-sentinel":
        return ("services", "redis", "sentinel")
    key = base.replace("-", "_")
    if key in services:
        return ("services", key)
    if key.endswith("_exporter") and key.removesuffix("_exporter") in services:
        return ("services", key.removesuffix("_exporter"), "exporter_image")
    return None


def model_key(rel: str, service: str | None, services: set[str]) -> Loc | None:
    """The model key behind a finding in file ``rel`` (below ``--out``) about stack ``service``."""
    if service:
        return _component(service, services)
    parts = rel.split("/")
    if parts[0] == "config" and len(parts) >= 3:
        return _component(os.path.splitext(parts[-1])[0], services) or _component(parts[1], services)
    if rel.endswith("/network.tf"):
        return ("network",)
    return None


def _position(model: Any, loc: Loc) -> tuple[int, int] | None:
    """Line and column of the last key of ``loc`` in the model (a parsed ``YMap``)."""
    node, pos = model, None
    for key in loc:
        kpos = getattr(node, "kpos", None)
        if not isinstance(node, dict) or kpos is None or key not in node:
            return pos
        node, pos = node[key], kpos[key]
    return pos


def _write(tree: Tree, root: Path) -> None:
    for rel, file in tree.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(file.content)
        path.chmod(0o700 if file.executable else 0o600)


def check_tree(tree: Tree, env_path: str, out_dir: str) -> Verdict:
    """Run every active policy rule on ``tree`` as it would be written below ``out_dir``.

    ``env_path`` is the model the tree was rendered from: the policy parameters and the model
    lines come from it. Never raises for a finding; a check that cannot run is ``unusable``."""
    try:
        with tempfile.TemporaryDirectory(prefix="iklim-render-check-") as tmp, time_limit(CHECK_SECONDS):
            _write(tree, Path(tmp))
            config = tree_config(out_dir)
            docs = load([tmp])
            policy = resolve([tmp], docs, None, config, model=env_path)
            result = run(docs, policy, config.active(RULES), False, config.severities())
            model = load_yaml(read_text(env_path, env_path), env_path) if result.findings else None
    except InputError as exc:
        return Verdict(unusable=plain(f"error: {exc}"))
    except TimeLimitExceeded:
        return Verdict(unusable=f"error: the policy check took longer than {CHECK_SECONDS:g} s")
    except Exception as exc:  # a checker fault blocks the render in one line, not a traceback
        message = " ".join(str(exc).split())[:300]
        return Verdict(unusable=plain(f"error: policy check: internal error: {type(exc).__name__}: {message}"))
    services = set(model.get("services", {})) if isinstance(model, dict) else set()
    errors: list[str] = []
    warnings: list[str] = []
    for f in result.findings:
        rel = docs.relpaths.get(f.path, "")
        shown = display(os.path.join(out_dir, rel)) if rel else f.path
        line = f"{f.severity.value}: {shown}:{f.line}:{f.column}: {f.rule}: {f.message}"
        line += f" [{f.service}]" if f.service else ""
        loc = model_key(rel, f.service, services)
        where = _position(model, loc) if loc is not None else None
        if loc is not None and where is not None:
            line += f" (model: {env_path}:{where[0]}:{where[1]}: {'.'.join(loc)})"
        (errors if f.severity is Severity.ERROR else warnings).append(plain(line))
    return Verdict(tuple(errors), tuple(config_notes(config) + warnings))


def tree_config(out_dir: str) -> CheckConfig:
    """The tree's own ``.iklim-check.yaml`` (directly in ``out_dir``), else none.

    Unlike ``iklim check``, render never looks above its output: a stray config in a parent
    folder (``/tmp/.iklim-check.yaml``) must not switch off the safety check of every render
    below it. Raises InputError for a bad file."""
    own = os.path.join(out_dir, CONFIG_FILE)
    return load_config(own, RULES) if os.path.isfile(own) else CheckConfig()


def config_notes(config: CheckConfig) -> list[str]:
    """One line naming the config the check used and what it relaxes (disabled or downgraded
    error rules), so a render that passes because of it says so."""
    if config.path is None:
        return []
    relaxed = [
        f"{rule.id} {'disabled' if not setting.enabled else 'as warning'}"
        for rule in RULES
        if rule.severity is Severity.ERROR
        and (setting := config.rules.get(rule.id)) is not None
        and (not setting.enabled or setting.severity is Severity.WARNING)
    ]
    tail = f"; it relaxes {', '.join(relaxed)}" if relaxed else ""
    return [plain(f"note: the policy check used {config.path}{tail}")]
