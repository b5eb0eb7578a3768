"""Build the Swarm lab's images on the builder engine, copy them to the nodes, report what they are.

- :func:`ensure_images` builds every :data:`~iklim.swarmlab.standins.STANDINS` entry under the
  exact reference the stack uses, only when its build context changed: a stamp per image under
  ``IMAGE_CACHE/stamps`` records the context hash (file names, modes and contents of the build
  directory), the base image id and the resulting image id.
- After a build, the version the image really contains (``/etc/iklim-lab/contains``, written by a
  build step) becomes its ``org.iklim.lab.contains`` label (a metadata-only commit).
- :func:`load_into` copies images to a node's engine (``docker save | docker load``), skipping an
  image the node already has with the same id.
- :func:`real_versions` reads those labels back from any engine (for ``swarm-lab status``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from iklim.swarmlab.base_image import ensure_base
from iklim.swarmlab.builder import Progress, builder_client, builder_in_use, start_builder
from iklim.swarmlab.paths import BUILDER_SOCKET, IMAGE_CACHE
from iklim.swarmlab.standins import LAB_BASE, STANDINS, StandIn

STANDS_FOR = "org.iklim.lab.stands-for"
CONTAINS = "org.iklim.lab.contains"
STAMPS = IMAGE_CACHE / "stamps"
#: The repository root (the build contexts' ``images/`` lives there).
REPO_ROOT = Path(__file__).resolve().parents[3]
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class ImageBuildError(RuntimeError):
    """A build or a copy failed; the message names the image and ends with the failing step's log."""


@dataclass(frozen=True)
class BuiltImage:
    """One lab image on the builder: ``ref`` (the stack's reference), ``image_id``, ``contains``
    (the real software and version), ``size`` (bytes, uncompressed), ``built`` (False when the
    cache was current) and ``seconds`` (build time, 0 when cached)."""

    ref: str
    image_id: str
    contains: str
    size: int
    built: bool
    seconds: float


def _quiet(_: str) -> None:
    return None


def context_hash(build_dir: Path, include: Iterable[str] = ()) -> str:
    """sha256 over the build directory's relative paths, file modes and contents (sorted).

    ``include``: paths relative to ``build_dir`` (files or folders) to hash instead of all of it;
    ``__pycache__`` folders never count.
    """
    digest = hashlib.sha256()
    roots = [build_dir / i for i in include] or [build_dir]
    files = {p for r in roots for p in ([r] if r.is_file() else r.rglob("*")) if p.is_file()}
    for path in sorted(p for p in files if "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(build_dir)).encode() + b"\0")
        digest.update(oct(path.stat().st_mode & 0o777).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _split_ref(ref: str) -> tuple[str, str]:
    """``(repository, tag)`` of ``ref``. Raises ImageBuildError for a digest reference: an image
    built here has its own digest, so it can only stand in under a tag."""
    if "@" in ref:
        raise ImageBuildError(f"{ref}: the lab builds images under a tag, not a digest: pin a tag in the model")
    head, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        return ref, "latest"
    return head, tag


def _stamp_path(standin: StandIn) -> Path:
    return STAMPS / f"{standin.name}.json"


def _read_stamp(standin: StandIn) -> dict[str, str]:
    try:
        data = json.loads(_stamp_path(standin).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _write_stamp(standin: StandIn, stamp: Mapping[str, str]) -> None:
    STAMPS.mkdir(parents=True, exist_ok=True)
    tmp = _stamp_path(standin).with_suffix(".tmp")
    tmp.write_text(json.dumps(dict(stamp), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, _stamp_path(standin))


def _image_id(client: docker.DockerClient, ref: str) -> str | None:
    try:
        return str(client.images.get(ref).id)
    except docker.errors.ImageNotFound:
        return None


def _build(client: docker.DockerClient, standin: StandIn, progress: Progress) -> str:
    """Run the Dockerfile build; return the (unlabelled) image id. Raises ImageBuildError."""
    tail: list[str] = []
    image_id = ""
    stream = client.api.build(
        path=str(REPO_ROOT / standin.build_dir),
        dockerfile=standin.dockerfile,
        buildargs={"BASE": LAB_BASE},
        network_mode="host",
        rm=True,
        forcerm=True,
        pull=False,
        decode=True,
    )
    for chunk in stream:
        if "error" in chunk:
            last = " | ".join(line.strip() for line in tail[-4:] if line.strip())
            error = _ANSI.sub("", str(chunk["error"])).strip()
            raise ImageBuildError(f"{standin.ref}: build of {standin.build_dir} failed: {error} [{last}]")
        text = _ANSI.sub("", str(chunk.get("stream", "")))
        for line in text.splitlines():
            tail = (tail + [line])[-20:]
            if line.startswith("Step "):
                progress(f"  {standin.name}: {line[:110]}")
        aux = chunk.get("aux")
        if isinstance(aux, dict) and "ID" in aux:
            image_id = str(aux["ID"])
    if not image_id:
        raise ImageBuildError(f"{standin.ref}: the build of {standin.build_dir} returned no image id")
    return image_id


def _label_and_tag(client: docker.DockerClient, standin: StandIn, image_id: str) -> str:
    """Commit ``image_id`` with the detected ``contains`` label under ``standin.ref``; return it."""
    container = client.containers.create(image_id, network_mode="none")  # never started
    try:
        try:
            chunks, _ = container.get_archive("/etc/iklim-lab/contains")
            with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
                member = tar.extractfile("contains")
                contains = member.read().decode().strip() if member else standin.contains
        except docker.errors.NotFound:
            contains = standin.contains
        changes = [f"LABEL {CONTAINS}={json.dumps(contains)}"]
        repo, tag = _split_ref(standin.ref)
        container.commit(repository=repo, tag=tag, changes=changes, pause=False)
    finally:
        container.remove(force=True)
    return contains


def ensure_images(progress: Progress | None = None, extra: Iterable[StandIn] = ()) -> list[BuiltImage]:
    """Build every stand-in and project image whose build context or base changed.

    Starts the builder engine (and makes the base image) if needed. Returns one
    :class:`BuiltImage` per entry of ``STANDINS`` and of ``extra`` (e.g. the tool image).
    Raises ImageBuildError (or BuilderError, BaseImageError) with a one-line reason.
    """
    say = progress or _quiet
    with builder_in_use(say):
        return _ensure(say, tuple(extra))


def _ensure(say: Progress, extra: tuple[StandIn, ...] = ()) -> list[BuiltImage]:
    start_builder(say)
    client = builder_client()
    try:
        base_id = ensure_base(client, say)
        results: list[BuiltImage] = []
        rebuilt = False
        for standin in (*STANDINS.values(), *extra):
            context = context_hash(REPO_ROOT / standin.build_dir, standin.context)
            stamp = {"ref": standin.ref, "context": context, "base": base_id}
            old = _read_stamp(standin)
            current = _image_id(client, standin.ref)
            t0 = time.monotonic()
            built = not (current and all(old.get(k) == v for k, v in stamp.items()) and old.get("image") == current)
            if built:
                say(f"building {standin.ref} from {standin.build_dir}")
                contains = _label_and_tag(client, standin, _build(client, standin, say))
                current = _image_id(client, standin.ref)
                _write_stamp(standin, {**stamp, "image": str(current), "contains": contains})
                rebuilt = True
            image = client.images.get(standin.ref)
            labels = image.labels or {}
            results.append(
                BuiltImage(
                    ref=standin.ref,
                    image_id=str(image.id),
                    contains=str(labels.get(CONTAINS, standin.contains)),
                    size=int(image.attrs.get("Size", 0)),
                    built=built,
                    seconds=round(time.monotonic() - t0, 1) if built else 0.0,
                )
            )
            if built:
                say(f"built {standin.ref} in {results[-1].seconds}s: {results[-1].contains}")
        if rebuilt:
            try:  # best effort: what an interrupted build left (stopped containers), replaced images
                client.containers.prune(filters={"until": "10m"})
                client.images.prune(filters={"dangling": True})
            except docker.errors.APIError as exc:
                say(f"old images not pruned: {exc.explanation or exc}")
        return results
    finally:
        client.close()


def _docker_cli() -> str:
    cli = shutil.which("docker")
    if cli is None:
        raise ImageBuildError("the docker client is missing: run scripts/install-swarm-lab.sh")
    return cli


def load_into(socket: Path | str, refs: Iterable[str], progress: Progress | None = None) -> list[str]:
    """Copy ``refs`` from the builder into the engine at ``socket``; return the refs copied.

    An image the node already has with the same id is skipped. One ``docker save`` of all missing
    refs streams into ``docker load`` (shared layers cross once). Raises ImageBuildError naming
    the refs and the client's error line.
    """
    say = progress or _quiet
    with builder_in_use(say):
        return _load(socket, refs, say)


def _load(socket: Path | str, refs: Iterable[str], say: Progress) -> list[str]:
    builder = builder_client()
    node = docker.DockerClient(base_url=f"unix://{socket}", timeout=600)
    try:
        missing = []
        for ref in dict.fromkeys(refs):
            wanted = _image_id(builder, ref)
            if wanted is None:
                raise ImageBuildError(f"{ref} is not on the builder engine: run ensure_images first")
            if _image_id(node, ref) != wanted:
                missing.append(ref)
    finally:
        builder.close()
        node.close()
    if not missing:
        return []
    say(f"copying {len(missing)} image(s) to {socket}: {', '.join(missing)}")
    cli = _docker_cli()
    save = subprocess.Popen(
        [cli, "-H", f"unix://{BUILDER_SOCKET}", "save", *missing], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    load = subprocess.run(
        [cli, "-H", f"unix://{socket}", "load", "-q"], stdin=save.stdout, capture_output=True, text=True, check=False
    )
    if save.stdout:
        save.stdout.close()
    save_err = save.stderr.read().decode(errors="replace").strip() if save.stderr else ""
    if save.wait() != 0 or load.returncode != 0:
        reason = (save_err or load.stderr.strip()).splitlines()[-1:] or ["unknown error"]
        raise ImageBuildError(f"copying {', '.join(missing)} to {socket} failed: {reason[0]}")
    return missing


def real_versions(socket: Path | str = BUILDER_SOCKET) -> dict[str, str]:
    """What each lab image on the engine at ``socket`` really contains: ``{ref: contains label}``.

    Only images carrying the ``org.iklim.lab.stands-for`` label are listed, under every tag
    they have.
    """
    client = docker.DockerClient(base_url=f"unix://{socket}", timeout=60)
    try:
        found: dict[str, str] = {}
        for image in client.images.list(filters={"label": STANDS_FOR}):
            labels = image.labels or {}
            for tag in image.tags:
                found[tag] = str(labels.get(CONTAINS, ""))
        return found
    finally:
        client.close()
