"""The sandbox image: find it, or build it without a registry (debootstrap Debian with python3, import it).

``semtrace sandbox build-image`` calls :func:`build_image`. The build runs ``debootstrap`` (needs root and the
Debian mirror the host's apt uses) and imports the root file system through the docker SDK's import API; it
never touches a container registry, so it works on offline machines and in CI.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

BUILT_IMAGE = "semtrace-sandbox:latest"
REGISTRY_IMAGE = "python:3.12-slim"
IMAGE_ENV = "SEMTRACE_SANDBOX_IMAGE"
MIRROR_ENV = "SEMTRACE_DEBIAN_MIRROR"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# Newest first: trixie has python3.13 (the tracer uses sys.monitoring), bookworm python3.11 (settrace).
SUITES = ("trixie", "bookworm")
# Trimmed from the root file system: documentation and package-manager state a sandbox never needs.
_PRUNE = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "usr/share/lintian",
          "var/cache/apt", "var/lib/apt/lists", "var/cache/debconf", "var/log")
_IMAGE_ENV = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8",
              "PYTHONDONTWRITEBYTECODE=1", "HOME=/tmp")


class ImageBuildError(RuntimeError):
    """The offline image build failed; the message names the problem and the fix."""


@dataclass(frozen=True)
class BuiltImage:
    tag: str
    image_id: str
    suite: str
    python: str
    seconds: float
    size_mb: float


def docker_client(timeout: int = 60) -> Any:
    """A docker SDK client from the environment, or SandboxUnavailable naming the fix."""
    from semtrace.sandbox.base import SandboxUnavailable

    try:
        import docker
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise SandboxUnavailable("the docker SDK is not installed: pip install 'semtrace[docker]'") from exc
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as exc:  # docker.errors.DockerException, requests errors, socket errors
        raise SandboxUnavailable(
            f"no Docker daemon answers ({exc.__class__.__name__}: {exc}); start one: `sudo dockerd &` (from a semtrace "
            f"checkout, `make docker` installs the engine, starts it and builds the sandbox image), or use "
            f"--sandbox local"
        ) from exc
    return client


def image_exists(client: Any, tag: str) -> bool:
    import docker

    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def resolve_image(client: Any, image: str | None, pull: bool = True) -> str:
    """The image to run: ``image`` if given, else $SEMTRACE_SANDBOX_IMAGE, else the locally built image, else
    ``python:3.12-slim`` (pulled when a registry is reachable). Raises SandboxUnavailable with the fix."""
    from semtrace.sandbox.base import SandboxUnavailable

    explicit = image or os.environ.get(IMAGE_ENV)
    candidates = [explicit] if explicit else [BUILT_IMAGE, REGISTRY_IMAGE]
    for tag in candidates:
        if image_exists(client, tag):
            return tag
    if pull:
        tag = candidates[-1]
        try:
            logger.info("pulling sandbox image %s", tag)
            client.images.pull(tag)
            return tag
        except Exception as exc:
            logger.info("could not pull %s: %s", tag, exc)
    raise SandboxUnavailable(
        f"sandbox image {candidates[0]!r} not found and no registry reachable; "
        f"build it offline with `semtrace sandbox build-image --tag {candidates[0]}`"
    )


def configured_mirror() -> str:
    """$SEMTRACE_DEBIAN_MIRROR, else the Debian mirror the host's apt uses, else deb.debian.org."""
    if os.environ.get(MIRROR_ENV):
        return os.environ[MIRROR_ENV]
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in sources:
        try:
            text = path.read_text()
        except OSError:
            continue
        for match in re.finditer(r"(?:^deb\s+(?:\[[^\]]*\]\s+)?|^URIs:\s*)(\S+)", text, re.MULTILINE):
            uri = match.group(1).rstrip("/")
            if uri.endswith("/debian"):  # not debian-security, not third-party repositories
                return uri
    return DEFAULT_MIRROR


def _debootstrap(suite: str, root: Path, mirror: str, cache_dir: Path | None) -> None:
    cmd = ["debootstrap", "--variant=minbase", "--include=python3", "--components=main"]
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        cmd.append(f"--cache-dir={cache_dir}")
    cmd += [suite, str(root), mirror]
    logger.info("running %s", " ".join(cmd))
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-5:])
        raise ImageBuildError(f"debootstrap {suite} from {mirror} failed (exit {proc.returncode}): {tail}")


def _unmount_under(root: Path) -> None:
    """debootstrap mounts /proc (and more) in the target; a failed run can leave them mounted."""
    try:
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return
    prefix = str(root.resolve())
    for point in sorted((m for m in mounts if m == prefix or m.startswith(prefix + "/")), reverse=True):
        subprocess.run(["umount", "-l", point], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _prune(root: Path) -> None:
    for rel in _PRUNE:
        target = root / rel
        if target.is_dir():
            for child in target.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)


def _python_version(root: Path) -> str:
    libs = sorted(p.name for p in (root / "usr" / "lib").glob("python3.*") if (p / "os.py").exists())
    return libs[-1].removeprefix("python") if libs else "?"


def _bootstrap_first(suites: tuple[str, ...], root: Path, mirror: str, cache: Path | None) -> str:
    """debootstrap the first suite the mirror has; returns its name."""
    errors: list[str] = []
    for name in suites:
        _unmount_under(root)
        shutil.rmtree(root, ignore_errors=True)
        try:
            _debootstrap(name, root, mirror, cache)
            return name
        except ImageBuildError as exc:
            logger.warning("%s", exc)
            errors.append(str(exc))
    raise ImageBuildError("; ".join(errors) + " — check the mirror (--mirror or $SEMTRACE_DEBIAN_MIRROR)")


def build_image(tag: str = BUILT_IMAGE, suite: str = "auto", mirror: str | None = None,
                cache_dir: str | Path | None = "/var/cache/semtrace-debootstrap") -> BuiltImage:
    """debootstrap a minimal Debian with python3 and import it as ``tag``; returns what was built."""
    if shutil.which("debootstrap") is None:
        raise ImageBuildError("debootstrap not found: install it (apt-get install -y debootstrap)")
    if shutil.which("tar") is None:
        raise ImageBuildError("tar not found: install it (apt-get install -y tar)")
    if os.geteuid() != 0:
        raise ImageBuildError("build-image runs debootstrap, which needs root: run it as root (or with sudo)")
    client = docker_client()
    mirror = mirror or configured_mirror()
    suites = SUITES if suite == "auto" else (suite,)
    cache = Path(cache_dir) if cache_dir else None
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="semtrace-image-") as tmp:
        root = Path(tmp) / "rootfs"
        try:
            name = _bootstrap_first(suites, root, mirror, cache)
            _unmount_under(root)
            _prune(root)
            python = _python_version(root)
            tarball = Path(tmp) / "rootfs.tar"
            subprocess.run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(tarball), "."], check=True)
        finally:
            _unmount_under(root)
        size_mb = tarball.stat().st_size / 2**20
        repository, _, version = tag.rpartition(":") if ":" in tag.split("/")[-1] else (tag, "", "latest")
        changes = [f"ENV {env}" for env in _IMAGE_ENV] + [
            'CMD ["python3"]', "WORKDIR /tmp",
            f"LABEL semtrace.sandbox.image=1 semtrace.python={python} semtrace.suite={name}"]
        logger.info("importing %.0f MB as %s", size_mb, tag)
        with tarball.open("rb") as fh:
            client.api.import_image(src=fh, repository=repository, tag=version or "latest", changes=changes)
    image = client.images.get(tag)
    return BuiltImage(tag=tag, image_id=image.id, suite=name, python=python,
                      seconds=time.monotonic() - start, size_mb=size_mb)
