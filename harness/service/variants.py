"""A service's variants: git refs (or folders), each a copy of its tree outside the user's.

Each ref's tree is written by `git archive` into a folder of the run's own, as asv checks commits
out into its own clone: git reads the user's repository and writes nothing there — no worktree
entry, no index, no branch, no ref. A folder variant (the working tree as it is now, or another
checkout) is copied, without its .git and environments, so nothing the service's set-up writes
(bytecode, a log, a generated file) lands in it. Every variant is named in the run by its ref and
commit; the copies go when the run ends (`harness cleanup` removes a killed run's by their owner).
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import OptionError, UserError
from harness.ownership import VARIANTS_DIR_PREFIX, owner

# what a folder variant's copy leaves out: version control, environments, caches
NOT_COPIED = (".git", ".venv", "venv", "node_modules", "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache")


@dataclass(frozen=True)
class VariantSource:
    """What a variant is: a ref at a commit, or a folder."""
    id: str  # its name in the run: the ref (or folder's name), as a stage id may read
    spec: str  # as the user gave it
    commit: str | None  # None for a folder
    subject: str  # the commit's first line, or the folder's path

    def record(self) -> dict[str, Any]:
        return {"id": self.id, "ref": self.spec, "commit": self.commit, "subject": self.subject}


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)


def repository_of(folder: Path) -> Path | None:
    """The git repository's top folder holding `folder`, or None."""
    done = _git(folder, "rev-parse", "--show-toplevel")
    return Path(done.stdout.strip()) if done.returncode == 0 else None


def variant_id(spec: str) -> str:
    """A ref's or folder's name as a measurement's folder and a table's row may carry it:
    lowercase letters, digits and dashes (dots would read as a measurement's kind)."""
    if spec.rstrip("/") in ("", "."):
        return "working-tree"
    name = Path(spec.rstrip("/")).name if "/" in spec else spec
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "variant"


def resolve(specs: list[str], repo: Path | None) -> list[VariantSource]:
    """Each spec as a ref of `repo` or a folder; one line for one that is neither, before anything starts."""
    wanted = [s.strip() for item in specs for s in item.split(",") if s.strip()]
    if not wanted:
        raise OptionError("{0} names no variant: give git refs or folders, comma-separated", "variants")
    out: list[VariantSource] = []
    for spec in wanted:
        folder = Path(spec).expanduser()
        if ("/" in spec or spec.startswith(".")) and folder.is_dir():
            out.append(VariantSource(variant_id(spec), spec, None, str(folder.resolve())))
            continue
        if repo is None:
            raise UserError(f"variant {spec}: not a folder, and the service is in no git repository to find a ref in")
        found = _git(repo, "rev-parse", "--verify", "--quiet", f"{spec}^{{commit}}")
        if found.returncode != 0:
            raise UserError(f"variant {spec}: no such git ref or folder in {repo}")
        commit = found.stdout.strip()
        subject = _git(repo, "log", "-1", "--format=%s", commit).stdout.strip()
        out.append(VariantSource(variant_id(spec), spec, commit, subject))
    ids = [v.id for v in out]
    if len(set(ids)) != len(ids):
        raise UserError(f"two variants would share the name {next(i for i in ids if ids.count(i) > 1)}: "
                        "give them different refs or folders")
    return out


def checkout(source: VariantSource, repo: Path | None, into: Path) -> Path:
    """The variant's whole tree in `into`/<id> (the repository's top level for a ref)."""
    target = into / source.id
    if source.commit is None:
        shutil.copytree(source.subject, target, symlinks=True, ignore=shutil.ignore_patterns(*NOT_COPIED))
        return target
    assert repo is not None
    archive = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", source.commit],
                             capture_output=True, check=False)
    if archive.returncode != 0:
        raise UserError(f"variant {source.spec}: git archive failed: "
                        f"{archive.stderr.decode(errors='replace').strip().splitlines()[-1:]}")
    target.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(target, members=_inside(tar, target))
    return target


def _inside(tar: tarfile.TarFile, target: Path) -> list[tarfile.TarInfo]:
    """The archive's files, folders and links, none of them landing outside `target` (what
    Python 3.12's `data` filter checks; 3.11's first releases have no filter)."""
    root = target.resolve()
    kept = []
    for member in tar.getmembers():
        if not (member.isfile() or member.isdir() or member.issym()):
            continue
        if not (root / member.name).resolve().is_relative_to(root):
            raise UserError(f"git archive holds {member.name!r}, which lands outside its folder")
        member.mode &= 0o755  # no setuid, setgid or world-writable bit
        kept.append(member)
    return kept


def variants_folder() -> Path:
    """The run's own folder for the variants' trees, marked with its owner for `harness cleanup`."""
    folder = Path(tempfile.mkdtemp(prefix=VARIANTS_DIR_PREFIX))
    (folder / "owner").write_text(owner())
    return folder
