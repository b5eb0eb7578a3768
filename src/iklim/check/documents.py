"""What ``iklim check`` reads: a repository tree or a list of files, parsed with positions.

This is the only module of the checker that touches the file system besides the policy loader;
rules get the :class:`Documents` it returns.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from iklim.check.findings import InputError
from iklim.check.recognise import kind_of
from iklim.check.yamlload import Pos, YMap
from iklim.model.bounded import Unusable, read_text

if TYPE_CHECKING:
    from iklim.check.hcl import Block

INFRA_STACK = "docker-stack-infra_db-prod.yml"
VAULT_STACK = "docker-stack-vault.yml"
SUPERSEDED = ("docker-stack-infra.prod.yml", "docker-stack-db.prod.yml")
_PRUNE = {"node_modules", "__pycache__", "venv", "build", "dist"}


@dataclass(frozen=True)
class Stack:
    path: str
    role: str  # "infra" (the root infra/DB stack), "vault" or "stack" (any other compose file)
    data: YMap


@dataclass(frozen=True)
class ServiceRef:
    stack: Stack
    name: str
    spec: YMap
    kind: str | None
    key_pos: Pos


@dataclass
class Documents:
    """Everything parsed from the input, by kind; ``texts`` holds every file for suppressions."""

    stacks: list[Stack] = field(default_factory=list)
    configs: list[tuple[str, Any]] = field(default_factory=list)
    confs: list[tuple[str, str]] = field(default_factory=list)
    terraform: list[tuple[str, list[Block]]] = field(default_factory=list)
    scripts: list[tuple[str, str]] = field(default_factory=list)
    others: list[tuple[str, str]] = field(default_factory=list)
    superseded: list[str] = field(default_factory=list)
    missing_stacks: list[str] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)
    relpaths: dict[str, str] = field(default_factory=dict)  # shown path -> path below the given root
    problems: dict[tuple[str, int, str], InputError] = field(default_factory=dict)
    _services: list[ServiceRef] | None = None

    def services(self, roles: tuple[str, ...] = ("infra", "stack", "vault")) -> Iterator[ServiceRef]:
        if self._services is None:
            self._services = []
            for stack in self.stacks:
                services = stack.data.get("services")
                if not isinstance(services, YMap):
                    continue
                for name, spec in services.items():
                    if isinstance(spec, YMap):
                        kind = kind_of(name, spec)
                        self._services.append(ServiceRef(stack, name, spec, kind, services.kpos.get(name, spec.pos)))
        return (ref for ref in self._services if ref.stack.role in roles)

    def relpath(self, shown: str) -> str:
        """The file's path relative to the tree root it was found under ("/"-separated).

        A file given on its own keeps the relative path it was given by (``config/x/conf.yaml``
        from the tree's root), else its base name (an absolute path, or one through ``..``).
        Classify files by this path (and content), never by folder names above the root.
        """
        found = self.relpaths.get(shown)
        if found is not None:
            return found
        given = os.path.normpath(shown).replace(os.sep, "/")
        if os.path.isabs(given) or given == ".." or given.startswith("../"):
            return os.path.basename(shown)
        return given

    def resources(self, rtype: str) -> Iterator[tuple[str, Block]]:
        for path, blocks in self.terraform:
            for block in blocks:
                if block.type == "resource" and block.labels and block.labels[0] == rtype:
                    yield path, block


def display(path: str) -> str:
    """A path as shown in findings: relative to the working directory when inside it."""
    rel = os.path.relpath(path)
    return rel if not rel.startswith("..") else os.path.abspath(path)


def read_input(path: str, shown: str | None = None) -> str:
    """The text of a regular file under the project's bounds (:mod:`iklim.model.bounded`).

    Raises :class:`InputError` for an unreadable, non-regular, oversized or non-UTF-8 file.
    """
    try:
        return read_text(path, shown if shown is not None else display(path))
    except Unusable as exc:
        raise InputError(exc.path, exc.line, exc.message) from None


def problem(docs: Documents, error: InputError) -> None:
    """Record unusable input; the rest of the tree is still checked (exit status 2)."""
    docs.problems.setdefault((error.path, error.line, error.message), error)


def load_file(docs: Documents, path: str, role: str | None = None, root: str | None = None) -> None:
    """Parse one file into ``docs`` by its name and content (and its path below ``root``)."""
    from iklim.check.yamlload import load_yaml

    shown = display(path)
    if root is not None:
        docs.relpaths[shown] = os.path.relpath(path, root).replace(os.sep, "/")
    base = os.path.basename(path)
    if base in SUPERSEDED:
        docs.superseded.append(shown)
        docs.texts[shown] = ""
        return
    text = read_input(path, shown)
    ext = os.path.splitext(base)[1].lower()
    if ext in (".yml", ".yaml") and role == "config":
        docs.configs.append((shown, load_yaml(text, shown)))
    elif ext in (".yml", ".yaml"):
        if role is None and base.startswith(("docker-stack", "docker-compose", "compose")):
            role = "vault" if "vault" in base else "infra" if base == INFRA_STACK else "stack"
        if role is None and "\nservices:" in "\n" + text:
            role = "vault" if "vault" in base else "stack"
        if role is not None:
            data = load_yaml(text, shown, interp=True)
            if data is None:
                data = YMap((1, 1))
            if not isinstance(data, YMap):
                raise InputError(shown, 1, "a compose file must be a mapping")
            services = data.get("services")
            if services is not None and not isinstance(services, YMap):
                raise InputError(shown, data.at("services")[0], "'services' must be a mapping")
            for name, spec in (services or YMap((1, 1))).items():
                if spec is not None and not isinstance(spec, YMap) and isinstance(services, YMap):
                    raise InputError(shown, services.at(name)[0], f"service {name!r} must be a mapping")
            docs.stacks.append(Stack(shown, role, data))
        else:
            docs.configs.append((shown, load_yaml(text, shown)))
    elif ext == ".tf":
        from iklim.check.hcl import load_hcl

        docs.terraform.append((shown, load_hcl(text, shown)))
    elif base.lower().endswith(".tf.json"):
        from iklim.check.hcl_json import load_tf_json

        docs.terraform.append((shown, load_tf_json(text, shown)))
    elif ext == ".sh":
        docs.scripts.append((shown, text))
    elif ext == ".conf":
        docs.confs.append((shown, text))
    else:
        docs.others.append((shown, text))
    docs.texts[shown] = text


def _load_one(docs: Documents, path: str, role: str | None = None, root: str | None = None) -> None:
    try:
        load_file(docs, path, role, root)
    except InputError as exc:
        problem(docs, exc)


def _walk(docs: Documents, root: str) -> Iterator[tuple[str, list[str]]]:
    def unreadable(exc: OSError) -> None:
        where = display(exc.filename) if exc.filename else display(root)
        problem(docs, InputError(where, 0, f"cannot read directory: {exc.strerror or exc}"))

    if os.path.lexists(root) and not os.path.isdir(root):
        problem(docs, InputError(display(root), 0, "not a directory"))
        return
    for folder, dirs, files in os.walk(root, onerror=unreadable):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _PRUNE)
        yield folder, sorted(files)


def load_tree(docs: Documents, root: str) -> None:
    """A repository: root stacks, config/**, runbooks, prod terraform (*.tf and *.tf.json), superseded files.

    Dot-files and dot-folders are skipped: they are hidden state (editor swap files, the
    ``.name.XXXXXXXX`` temporaries a writer leaves when interrupted), not configuration Docker
    reads. Files are classified by their path below ``root`` and their content only.
    """
    for name, role in ((INFRA_STACK, "infra"), (VAULT_STACK, "vault")):
        path = os.path.join(root, name)
        if os.path.lexists(path):
            _load_one(docs, path, role, root)
        else:
            docs.missing_stacks.append(display(path))
    config = os.path.join(root, "config")
    if os.path.lexists(config):
        for folder, files in _walk(docs, config):
            for name in files:
                if not name.startswith("."):  # editors' swap files, a writer's leftover temporaries
                    _load_one(docs, os.path.join(folder, name), "config", root)
    scripts = [os.path.join(root, "init-infra-prod.sh")]
    for folder, ext in (
        (os.path.join(root, "init", "vault"), ".sh"),
        (os.path.join(root, "terraform", "hetzner", "prod"), ".tf"),
    ):
        if os.path.lexists(folder):
            for _, files in _walk(docs, folder):
                wanted = (ext, ".tf.json") if ext == ".tf" else (ext,)  # terraform reads both syntaxes
                scripts += [os.path.join(folder, n) for n in files if n.endswith(wanted) and not n.startswith(".")]
                break
    for path in scripts:
        if os.path.lexists(path):
            _load_one(docs, path, None, root)
    for folder, files in _walk(docs, root):
        for name in files:
            if name in SUPERSEDED:
                docs.superseded.append(display(os.path.join(folder, name)))


def load(paths: list[str]) -> Documents:
    """Load directories (as repository trees) and files.

    A missing, unreadable, non-regular, oversized or unparsable file (or an unreadable directory)
    does not stop the load: it is recorded in ``docs.problems`` and the rest is still read.
    """
    docs = Documents()
    for path in paths:
        if os.path.isdir(path):
            load_tree(docs, path)
        elif os.path.lexists(path):
            _load_one(docs, path)
        else:
            problem(docs, InputError(display(path), 0, "no such file or directory"))
    return docs
