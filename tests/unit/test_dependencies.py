"""The environment every stage runs in: no library on a request's path searches sys.path again.

httpcore imports sniffio inside each lock, event and cancellation shield; a failed import is not
cached, so without sniffio every one of them walks sys.path (four stat() calls here), which on
Docker's fuse-overlayfs cost 10-13 % of a CPU outside the budget (encode/httpcore#1103)."""

import asyncio
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

from httpcore._synchronization import current_async_library

searched: list[str] = []


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event == "import" and args and args[0] == "sniffio":
        searched.append(args[0])


sys.addaudithook(_hook)  # audit hooks cannot be removed: it only records sniffio's imports


def test_httpcore_finds_its_async_library_without_searching_sys_path_each_time() -> None:
    async def calls() -> list[str]:
        return [current_async_library() for _ in range(50)]

    before = len(searched)
    assert set(asyncio.run(calls())) == {"asyncio"}
    assert len(searched) - before == 0, "sniffio is not installed: every httpcore lock searches sys.path"


def _names(lines: list[str]) -> set[str]:
    return {re.split(r"[\[<>=;~ ]", line.strip(), maxsplit=1)[0].lower() for line in lines
            if line.strip() and not line.strip().startswith("#")}


def test_the_service_images_install_a_subset_of_the_projects_dependencies_sniffio_included() -> None:
    repo = Path(__file__).resolve().parents[2]
    project = _names(tomllib.loads((repo / "pyproject.toml").read_text())["project"]["dependencies"])
    services = _names([line.split("#")[0] for line in (repo / "deploy" / "requirements-services.txt").read_text()
                       .splitlines()])
    assert services <= project, sorted(services - project)
    assert "sniffio" in services  # the containers need it as much as the host (see the module docstring)


def test_the_load_image_runs_the_locust_the_harness_runs() -> None:
    """The swarm's load workers (Dockerfile target `load`) speak to a master of the harness's own
    locust: fails when one pin moves without the other, or the installed locust is neither."""
    repo = Path(__file__).resolve().parents[2]
    pins = [line for line in tomllib.loads((repo / "pyproject.toml").read_text())["project"]["dependencies"]
            if line.startswith("locust")]
    image = [line.strip() for line in (repo / "deploy" / "requirements-load.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    installed = metadata.version("locust")  # not imported: locust monkey-patches the importing process
    assert pins == image == [f"locust=={installed}"], (pins, image, installed)
