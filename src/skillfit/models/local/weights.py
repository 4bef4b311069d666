"""Pinned local weights: join the chunk files shipped in pip packages into one GGUF file in the
user cache dir, atomically, and verify its sha256.

A verified file is reused without re-hashing while a marker beside it still matches the file's
size, mtime and inode (anything that rewrites the file changes those); `verify=True` forces a
full re-hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from importlib import metadata
from pathlib import Path

from skillfit.models.base import WeightsError
from skillfit.models.local.catalog import LocalModelInfo
from skillfit.models.paths import cache_dir

_BLOCK = 8 * 1024 * 1024
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def weights_dir() -> Path:
    path = cache_dir() / "weights"
    path.mkdir(parents=True, exist_ok=True)
    return path


def locate_chunk(dist: str, file: str) -> Path:
    """The installed path of `file` inside distribution `dist` (found through the package
    metadata; the package itself is never imported)."""
    files = metadata.files(dist)  # raises PackageNotFoundError
    for entry in files or ():
        if str(entry) == file:
            return Path(str(entry.locate()))
    raise FileNotFoundError(f"{dist} is installed but holds no {file}")


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def _stamp(path: Path, sha256: str) -> dict[str, object]:
    st = path.stat()
    return {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}


def _marker_matches(path: Path, sha256: str) -> bool:
    try:
        recorded = json.loads(_marker(path).read_text())
        return bool(recorded == _stamp(path, sha256))
    except (OSError, ValueError):
        return False


def _write_marker(path: Path, sha256: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=_marker(path).name + ".", dir=path.parent)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(_stamp(path, sha256)))
    os.replace(tmp, _marker(path))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _chunk_paths(info: LocalModelInfo) -> list[Path]:
    paths = []
    for dist, file in info.chunks:
        try:
            paths.append(locate_chunk(dist, file))
        except metadata.PackageNotFoundError:
            raise WeightsError(
                f"the weights of local:{info.name} are not installed (missing package {dist}); "
                f"install them with: {info.install}"
            ) from None
        except FileNotFoundError as exc:
            raise WeightsError(
                f"local:{info.name}: {exc}; reinstall with: {info.install}"
            ) from None
    return paths


def _join(info: LocalModelInfo, sources: list[Path], target: Path) -> None:
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for src in sources:
                with src.open("rb") as fh:
                    while block := fh.read(_BLOCK):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the weights are public data
        size = tmp.stat().st_size
        if digest.hexdigest() != info.sha256 or (info.size and size != info.size):
            raise WeightsError(
                f"local:{info.name}: joined weights do not match the pinned hash "
                f"(got sha256 {digest.hexdigest()}, {size} bytes; expected {info.sha256}"
                + (f", {info.size} bytes" if info.size else "")
                + f"); refusing to use them. Reinstall with: {info.install}"
            )
        os.replace(tmp, target)  # atomic: other processes see no file or the whole file
    finally:
        tmp.unlink(missing_ok=True)
    _write_marker(target, info.sha256)


def ensure_weights(info: LocalModelInfo, *, verify: bool = False) -> Path:
    """The path of the verified GGUF file for `info`, joining it first if needed."""
    target = weights_dir() / info.filename
    with _locks_guard:
        lock = _locks.setdefault(info.name, threading.Lock())
    with lock:
        if target.exists():
            if not verify and _marker_matches(target, info.sha256):
                return target
            if sha256_file(target) == info.sha256:
                _write_marker(target, info.sha256)
                return target
            target.unlink()  # corrupted or stale: rebuild from the packages
            _marker(target).unlink(missing_ok=True)
        _join(info, _chunk_paths(info), target)
        return target


def check_gguf(path: Path) -> Path:
    """A user-given model file: it must exist and start with the GGUF magic."""
    if not path.is_file():
        raise WeightsError(f"model file not found: {path}")
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic != b"GGUF":
        raise WeightsError(f"{path} is not a GGUF model file (it does not start with 'GGUF')")
    return path


def installed(info: LocalModelInfo) -> bool:
    """Whether every chunk package of `info` is installed (cheap, no hashing)."""
    try:
        _chunk_paths(info)
    except WeightsError:
        return False
    return True
