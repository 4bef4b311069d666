"""What `skillfit check --against` names: a skill file or folder, or a git revision.

    resolve_against("skills/my-skill", "main")              # the same path at main
    resolve_against("skills/my-skill", "old/SKILL.md")      # a file on disk
    resolve_against("skills/my-skill", "v1.2:skills/other") # another path at a revision

A path that exists on disk wins; otherwise the text is a git revision of the repository the
new skill lives in (`REV`, or `REV:path` for another path, relative to the repository's top).
The skill at a revision is copied out with `git ls-tree` and `git show` into a temporary
folder, so a skill folder keeps its SKILL.md and reference files, and read like one on disk.
Nothing in the working tree or the index is touched.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from skillfit.core.errors import TrainError

GIT_TIMEOUT = 60.0


class AgainstError(TrainError):
    """`--against` names nothing usable: no such path, no such revision, no skill there."""


@dataclass(frozen=True)
class Against:
    """The old skill: where to read it (`path`) and how to name it (`label`). `tmp` is the
    temporary folder holding a copy taken from git (None for a path on disk)."""

    path: Path
    label: str
    revision: str | None = None  # the commit, for a skill taken from git
    tmp: Path | None = None

    def cleanup(self) -> None:
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)


def _git(top: Path | str, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["git", "-C", str(top), *args],
            capture_output=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise AgainstError("git is not installed: give --against a file or folder") from None
    except subprocess.TimeoutExpired:
        raise AgainstError(f"git {' '.join(args)} took more than {GIT_TIMEOUT:.0f} s") from None


def repo_top(path: Path) -> Path | None:
    """The top of the git work tree holding `path`, or None."""
    start = path if path.is_dir() else path.parent
    done = _git(start, "rev-parse", "--show-toplevel")
    if done.returncode != 0:
        return None
    return Path(done.stdout.decode("utf-8", "replace").strip()).resolve()


def _commit(top: Path, rev: str) -> str | None:
    if not rev or rev.startswith("-"):
        return None
    done = _git(top, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    return done.stdout.decode().strip() if done.returncode == 0 else None


def _entries(top: Path, commit: str, rel: str) -> list[str]:
    done = _git(top, "ls-tree", "-r", "-z", "--name-only", commit, "--", rel)
    if done.returncode != 0:
        return []
    return [e for e in done.stdout.decode("utf-8", "replace").split("\0") if e]


def _copy_out(top: Path, commit: str, rel: str, entries: list[str]) -> tuple[Path, Path]:
    """Copy the files of `rel` at `commit` into a new temporary folder: (folder, the copy)."""
    tmp = Path(tempfile.mkdtemp(prefix="skillfit-against-"))
    # Under its own parent's name: a SKILL.md's frontmatter name must match its folder's.
    dest = tmp / (Path(rel).parent.name or "repo") / Path(rel).name
    try:
        for entry in entries:
            inner = Path(entry).relative_to(rel) if entry != rel else Path()
            target = dest / inner if entry != rel else dest
            shown = _git(top, "show", f"{commit}:{entry}")
            if shown.returncode != 0:
                raise AgainstError(f"git show {commit[:12]}:{entry} failed")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(shown.stdout)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp, dest


def resolve_against(skill: str | Path, against: str) -> Against:
    """The old skill `against` names, for the new skill at `skill` (see the module docstring).
    AgainstError, with one line saying why, when it names nothing usable."""
    text = str(against).strip()
    if not text:
        raise AgainstError("--against is empty: give a file, a folder or a git revision")
    on_disk = Path(text).expanduser()
    if on_disk.exists():
        return Against(on_disk, str(on_disk))
    new = Path(skill).expanduser()
    if not new.exists():
        raise AgainstError(f"--skill {new}: no such file or folder")
    top = repo_top(new.resolve())
    if top is None:
        raise AgainstError(
            f"--against {text}: no such file or folder, and {new} is not in a git repository"
        )
    rev, _, other = text.partition(":")
    commit = _commit(top, rev)
    if commit is None:
        raise AgainstError(
            f"--against {text}: no such file or folder, and {rev!r} is not a revision of {top}"
        )
    rel = other.strip("/") if other else new.resolve().relative_to(top).as_posix()
    if rel in ("", "."):
        raise AgainstError(f"--against {text}: the skill is the whole repository; name a path")
    entries = [e for e in _entries(top, commit, rel) if e == rel or e.startswith(rel + "/")]
    if not entries:
        raise AgainstError(
            f"{rel} does not exist at {rev} ({commit[:12]}): a new skill has nothing to be "
            "compared with; give --against a file or folder"
        )
    tmp, copy = _copy_out(top, commit, rel, entries)
    return Against(copy, f"{rev}:{rel} ({commit[:12]})", revision=commit, tmp=tmp)
