"""Images for the Docker backend, with or without a registry.

With a registry the Dockerfile starts from a standard Python image and the official
PostgreSQL image is used. Without one (like a machine whose engine cannot pull), the base
is a Debian root made with mmdebstrap (Python and PostgreSQL from Debian's packages) and
imported with `docker import`; Python packages are installed from wheels downloaded on the
host, so no build step needs the network.
"""

import hashlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors

from harness.backends.dockerfile import render as render_dockerfile
from harness.errors import UserError
from harness.manifests.manifest import StageManifest, discover
from harness.paths import REPO_ROOT

LOCAL_BASE = "ladder-base:bookworm"
LOCAL_POSTGRES = "ladder-postgres:bookworm"
STANDARD_BASE = "python:3.11-slim"
STANDARD_POSTGRES = "postgres:16"
WHEELS = REPO_ROOT / ".cache" / "wheels"
REQUIREMENTS = REPO_ROOT / "deploy" / "requirements-services.txt"
LOAD_REQUIREMENTS = REPO_ROOT / "deploy" / "requirements-load.txt"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_SUITE = "bookworm"
BASE_PACKAGES = "python3,python3-venv,postgresql,postgresql-contrib,ca-certificates"
LABEL = "ladder.image"

Say = Callable[[str], None]


@dataclass(frozen=True)
class ImageSet:
    base: str
    postgres: str
    offline: bool

    def stage(self, stage: StageManifest) -> str:
        return f"ladder-{stage.id}:latest"

    @property
    def wire(self) -> str:
        """The network emulator's image (Dockerfile target `wire`)."""
        return "ladder-wire:latest"

    @property
    def load(self) -> str:
        """Locust's workers as services (Dockerfile target `load`)."""
        return "ladder-load:latest"


def image_interpreter(engine: docker.DockerClient, image: str, labels: dict[str, str]) -> dict[str, Any]:
    """The Python of a stage image (one runtime layer for every stage), described from inside it."""
    from harness import interpreter
    try:
        out = engine.containers.run(image, ["python", "-c", interpreter.PROBE], remove=True, network_disabled=True,
                                    labels=labels)
    except docker.errors.DockerException as exc:
        return {"executable": f"python in {image}", "error": str(exc)[:200]}
    return interpreter.parse(out.decode(errors="replace"), f"python in {image}")


def client() -> docker.DockerClient:
    try:
        engine = docker.from_env()
        engine.ping()
        return engine
    except docker.errors.DockerException as exc:
        raise UserError(f"Docker is not reachable: {str(exc).splitlines()[0][:160]}") from None


def docker_reachable() -> bool:
    try:
        client()
        return True
    except UserError:
        return False


def _present(engine: docker.DockerClient, tag: str) -> bool:
    try:
        engine.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def _pull(engine: docker.DockerClient, tag: str) -> bool:
    try:
        engine.images.pull(tag)
        return True
    except docker.errors.DockerException:
        return False


def choose_bases(engine: docker.DockerClient, say: Say, offline: bool | None = None) -> ImageSet:
    """The standard images if present or pullable, else the local Debian ones (built once)."""
    if offline is not True:
        if (_present(engine, STANDARD_BASE) or _pull(engine, STANDARD_BASE)) and \
                (_present(engine, STANDARD_POSTGRES) or _pull(engine, STANDARD_POSTGRES)):
            return ImageSet(STANDARD_BASE, STANDARD_POSTGRES, offline=False)
        if offline is False:
            raise UserError(f"cannot pull {STANDARD_BASE} / {STANDARD_POSTGRES}: no registry reachable")
        say(f"cannot pull {STANDARD_BASE}: building a local Debian base instead (no registry)")
    if not _present(engine, LOCAL_BASE):
        build_local_base(engine, say)
    return ImageSet(LOCAL_BASE, LOCAL_POSTGRES, offline=True)


def build_local_postgres(say: Say) -> None:
    """Built every time, like the stage images: the layer cache makes that a no-op, and a changed
    deploy/postgres.Dockerfile is never silently ignored because an older image has the tag."""
    say(f"building {LOCAL_POSTGRES}")
    _build(client(), "deploy/postgres.Dockerfile", None, LOCAL_POSTGRES, {"BASE_IMAGE": LOCAL_BASE})


def build_local_base(engine: docker.DockerClient, say: Say) -> None:
    """Debian's root made by mmdebstrap, imported as the base. mmdebstrap, not debootstrap: it
    fetches the packages in parallel with apt and writes the root as a tarball for `docker
    import` (25 s here against debootstrap's 52, plus its tar), its apt cache already cleaned."""
    if shutil.which("mmdebstrap") is None:
        raise UserError("building the offline base needs mmdebstrap: apt-get install mmdebstrap")
    workdir = Path(tempfile.mkdtemp(prefix="ladder-rootfs-", dir="/var/tmp"))
    rootfs = workdir / "rootfs.tar"
    try:
        say(f"mmdebstrap {DEBIAN_SUITE} with {BASE_PACKAGES} (a minute, once per machine)")
        # the package's own cluster is not used: the entrypoint makes one under $PGDATA
        done = subprocess.run(
            ["mmdebstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", "--quiet",
             '--customize-hook=rm -rf "$1"/var/lib/postgresql', DEBIAN_SUITE, str(rootfs), DEBIAN_MIRROR],
            capture_output=True, text=True, check=False)
        if done.returncode != 0:
            lines = (done.stdout + done.stderr).strip().splitlines() or ["(no output)"]
            raise UserError(f"mmdebstrap failed: {lines[-1]}")
        say(f"docker import → {LOCAL_BASE}")
        imported = subprocess.run(["docker", "import", "--change", f"LABEL {LABEL}=base", str(rootfs), LOCAL_BASE],
                                  capture_output=True, text=True, check=False)
        if imported.returncode != 0:
            raise UserError(f"docker import failed: {imported.stderr.strip()[:200]}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def download_wheels(say: Say) -> None:
    """Wheels for the service and load images, downloaded on the host (the build needs no network);
    again whenever the requirements changed since (a stale folder once built images without a
    dependency added later: sniffio)."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes() + LOAD_REQUIREMENTS.read_bytes()).hexdigest()
    stamp = WHEELS / "requirements.sha256"
    if WHEELS.is_dir() and any(WHEELS.glob("*.whl")) and stamp.is_file() and stamp.read_text() == digest:
        return
    say(f"downloading wheels into {WHEELS.relative_to(REPO_ROOT)}")
    shutil.rmtree(WHEELS, ignore_errors=True)
    WHEELS.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "--python-version", "3.11",
         "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_17_x86_64",
         "--platform", "manylinux_2_28_x86_64", "-d", str(WHEELS), "-r", str(REQUIREMENTS),
         "-r", str(LOAD_REQUIREMENTS)],
        capture_output=True, text=True, check=False)
    if done.returncode != 0:
        shutil.rmtree(WHEELS, ignore_errors=True)
        raise UserError(f"pip download failed: {done.stderr.strip().splitlines()[-1:]}")
    stamp.write_text(digest)


def _build(engine: docker.DockerClient, dockerfile: str | None, target: str | None, tag: str,
           buildargs: dict[str, str]) -> None:
    """Build `target`; `dockerfile` None: the Dockerfile rendered from the manifests now (a stage
    added since the committed one was written has its target)."""
    if dockerfile is None:
        with tempfile.TemporaryDirectory() as scratch:  # outside the context: the SDK sends it along
            rendered = Path(scratch) / "Dockerfile"
            rendered.write_text(render_dockerfile(discover()))
            _build(engine, str(rendered), target, tag, buildargs)
        return
    try:
        # no label per build: the engine's builder adds it as one more instruction, and commits each
        # as a layer (about 3 s on fuse-overlayfs, once per target); the tag names the target
        engine.images.build(path=str(REPO_ROOT), dockerfile=dockerfile, target=target, tag=tag,
                            buildargs=buildargs, rm=True, forcerm=True, pull=False)
    except docker.errors.BuildError as exc:
        lines = [str(chunk.get("stream", chunk.get("error", ""))).strip() for chunk in exc.build_log]
        tail = " | ".join(line for line in lines if line)[-300:]
        raise UserError(f"docker build of {target or tag} failed: {tail}") from None


def build_stage_images(stages: list[StageManifest], say: Say, offline: bool | None = None,
                       with_load: bool = False) -> ImageSet:
    """Every stage's image and the wire's (and the load workers' when asked), from the base.

    Two builds at a time, each on a client of its own: PostgreSQL's (it needs only the base) beside
    the wheels and the stages' chain, then the wire's beside the load's, once the shared runtime is
    built. Measured from nothing here, the base's 36 s included: 149 s in this order, 179 s one
    after the other, 165 s with the wire's and the load's builds beside the chain as well (a layer
    commit is about 3 s on fuse-overlayfs; two builds share the engine well, three contend)."""
    images = choose_bases(client(), say, offline)
    with ThreadPoolExecutor(max_workers=2) as pool:
        side = []
        try:
            if images.offline:
                side.append(pool.submit(build_local_postgres, say))
                download_wheels(say)
            for stage in stages:
                _build_target(stage.id, images.stage(stage), images, say)
            side.append(pool.submit(_build_target, "wire", images.wire, images, say))
            if with_load:
                _build_target("load", images.load, images, say)
        finally:
            failures = [error for f in side if (error := f.exception()) is not None]
    if failures:
        raise failures[0]
    return images


def _build_target(target: str, tag: str, images: ImageSet, say: Say) -> None:
    say(f"building {tag} (target {target})")
    _build(client(), None, target, tag, {"BASE_IMAGE": images.base})


def build_load_image(images: ImageSet, say: Say) -> str:
    """The load workers' image, built when a run first needs it (only swarm runs with workers do)."""
    if images.offline:
        download_wheels(say)
    _build_target("load", images.load, images, say)
    return images.load
