"""The Swarm lab's base image ``iklim-lab/debian:bookworm``, made without any registry.

``debootstrap --variant=minbase bookworm`` from the Debian mirror, cleaned (no ``.deb`` cache, no
apt lists), with the bookworm-updates and security suites in its sources and a ``policy-rc.d``
that keeps package scripts from starting services. The host's own local CA certificates
(``/usr/local/share/ca-certificates``, e.g. an egress proxy's) go into the same place in the
rootfs, and ``/etc/pip.conf`` points pip at the system bundle, so apt's ``ca-certificates`` and pip
inside a build trust what the host trusts (public certificates only). No recommends, no apt
caches, no docs or manuals in any layer. Packed once into a tarball under ``IMAGE_CACHE`` and
imported into the builder engine whenever the engine lacks it (``base.json`` records which
tarball the engine's base came from; ``RECIPE`` versions the recipe).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import docker
import docker.errors

from iklim.swarmlab.builder import Progress
from iklim.swarmlab.paths import IMAGE_CACHE
from iklim.swarmlab.standins import LAB_BASE

MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"
#: Bump when the rootfs recipe below changes: a new tarball is made and every image rebuilt.
RECIPE = 2
BASE_TARBALL = IMAGE_CACHE / f"{SUITE}-minbase-r{RECIPE}.tar"
BASE_STAMP = IMAGE_CACHE / "base.json"
_SOURCES = f"""deb {MIRROR} {SUITE} main
deb {MIRROR} {SUITE}-updates main
deb http://deb.debian.org/debian-security {SUITE}-security main
"""
_CLEAN = ["var/cache/apt/archives", "var/lib/apt/lists", "var/log", "tmp"]
HOST_CAS = Path("/usr/local/share/ca-certificates")
# No recommends; no apt binary caches or .debs left in a layer (as Docker's official Debian images).
_APT_CONF = """APT::Install-Recommends "false";
APT::Install-Suggests "false";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb || true"; };
"""
# Documentation, manuals and translations are not installed (copyright files are kept).
_DPKG_EXCLUDES = """path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
"""


class BaseImageError(RuntimeError):
    """debootstrap or the import failed; the message carries the tool's last output lines."""


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    if proc.returncode != 0:
        tail = " | ".join(proc.stdout.strip().splitlines()[-4:])
        raise BaseImageError(f"{what} failed (exit {proc.returncode}): {tail}")


def _bootstrap(progress: Progress) -> None:
    """debootstrap into a scratch dir, clean it and pack it atomically into BASE_TARBALL."""
    if shutil.which("debootstrap") is None:
        raise BaseImageError("debootstrap not found: run scripts/install-swarm-lab.sh")
    IMAGE_CACHE.mkdir(parents=True, exist_ok=True)
    rootfs = IMAGE_CACHE / f"{SUITE}-rootfs.tmp"
    shutil.rmtree(rootfs, ignore_errors=True)
    t0 = time.monotonic()
    progress(f"debootstrap --variant=minbase {SUITE} from {MIRROR} (about a minute, once per machine)")
    try:
        _run(["debootstrap", "--variant=minbase", SUITE, str(rootfs), MIRROR], "debootstrap")
        for rel in _CLEAN:
            d = rootfs / rel
            for child in d.iterdir() if d.is_dir() else []:
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        (rootfs / "etc/apt/sources.list").write_text(_SOURCES)
        policy = rootfs / "usr/sbin/policy-rc.d"
        policy.write_text("#!/bin/sh\n# no service starts inside an image build\nexit 101\n")
        policy.chmod(0o755)
        (rootfs / "etc/apt/apt.conf.d/90iklim-lab").write_text(_APT_CONF)
        (rootfs / "etc/dpkg/dpkg.cfg.d/90iklim-lab").write_text(_DPKG_EXCLUDES)
        cas = rootfs / "usr/local/share/ca-certificates"
        cas.mkdir(parents=True, exist_ok=True)
        for crt in sorted(HOST_CAS.glob("*.crt")) if HOST_CAS.is_dir() else []:
            shutil.copyfile(crt, cas / crt.name)
        (rootfs / "etc/pip.conf").write_text("[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n")
        tmp = BASE_TARBALL.with_suffix(".tar.tmp")
        _run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(tmp), "."], "tar of the base rootfs")
        tmp.replace(BASE_TARBALL)
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
    progress(f"base rootfs ready in {time.monotonic() - t0:.1f}s ({BASE_TARBALL.stat().st_size >> 20} MiB)")


def ensure_base(client: docker.DockerClient, progress: Progress) -> str:
    """Make sure the builder has ``LAB_BASE``; return its image id.

    Runs debootstrap only when the tarball is missing (once per machine), and the import only when
    the engine lacks the image. Raises :class:`BaseImageError` on failure.
    """
    try:
        current = str(client.images.get(LAB_BASE).id)
    except docker.errors.ImageNotFound:
        current = ""
    if current and _stamp() == {"tarball": BASE_TARBALL.name, "image": current}:
        return current
    if not BASE_TARBALL.exists():
        for old in IMAGE_CACHE.glob(f"{SUITE}-minbase*.tar"):
            old.unlink()
        _bootstrap(progress)
    progress(f"importing {LAB_BASE}")
    repo, tag = LAB_BASE.rsplit(":", 1)
    try:
        client.api.import_image(
            src=str(BASE_TARBALL),
            repository=repo,
            tag=tag,
            changes=['CMD ["bash"]'],
        )
        image_id = str(client.images.get(LAB_BASE).id)
    except docker.errors.DockerException as exc:
        raise BaseImageError(f"import of {LAB_BASE} from {BASE_TARBALL} failed: {exc}") from exc
    tmp = BASE_STAMP.with_suffix(".tmp")
    tmp.write_text(json.dumps({"tarball": BASE_TARBALL.name, "image": image_id}) + "\n")
    tmp.replace(BASE_STAMP)
    return image_id


def _stamp() -> dict[str, str]:
    try:
        data = json.loads(BASE_STAMP.read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def base_tarball() -> Path:
    """Where the packed base rootfs lives (kept between runs; ``swarm-lab down --wipe`` may drop it)."""
    return BASE_TARBALL
