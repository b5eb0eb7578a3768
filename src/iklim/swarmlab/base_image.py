"""The Swarm lab's base image ``iklim-lab/debian:bookworm``, made without any registry.

``debootstrap --variant=minbase bookworm`` from the Debian mirror, cleaned (no ``.deb`` cache, no
apt lists), with the bookworm-updates and security suites in its sources and a ``policy-rc.d``
that keeps package scripts from starting services. The host's own local CA certificates
(``/usr/local/share/ca-certificates``, e.g. an egress proxy's) go into the same place in the
rootfs, and ``/etc/pip.conf`` points pip at the system bundle, so apt's ``ca-certificates`` and pip
inside a build trust what the host trusts (public certificates only). Packed once into a tarball under
``IMAGE_CACHE`` and imported into the builder engine whenever the engine lacks it.
"""

from __future__ import annotations

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
BASE_TARBALL = IMAGE_CACHE / f"{SUITE}-minbase.tar"
_SOURCES = f"""deb {MIRROR} {SUITE} main
deb {MIRROR} {SUITE}-updates main
deb http://deb.debian.org/debian-security {SUITE}-security main
"""
_CLEAN = ["var/cache/apt/archives", "var/lib/apt/lists", "var/log", "tmp"]
HOST_CAS = Path("/usr/local/share/ca-certificates")


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
        (rootfs / "etc/apt/apt.conf.d/90iklim-lab").write_text(
            'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n'
        )
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
        return str(client.images.get(LAB_BASE).id)
    except docker.errors.ImageNotFound:
        pass
    if not BASE_TARBALL.exists():
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
        return str(client.images.get(LAB_BASE).id)
    except docker.errors.DockerException as exc:
        raise BaseImageError(f"import of {LAB_BASE} from {BASE_TARBALL} failed: {exc}") from exc


def base_tarball() -> Path:
    """Where the packed base rootfs lives (kept between runs; ``swarm-lab down --wipe`` may drop it)."""
    return BASE_TARBALL
