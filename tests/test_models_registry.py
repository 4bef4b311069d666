"""Model strings: parsing, errors that teach the valid forms, credentials from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from skillfit.models import (
    DEFAULT_MODEL,
    ChatModel,
    MissingCredentialsError,
    ModelSpecError,
    WeightsError,
    get_model,
    list_local_models,
    parse_spec,
)


@pytest.fixture(autouse=True)
def _no_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # No real credentials and no .env from the developer's tree may leak into these tests.
    for var in (
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_OPENAI_API_KEY",
        "OPENAI_API_VERSION",
        "OPENAI_BASE_URL",
        "ANTHROPIC_BASE_URL",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("skillfit.models.credentials._loaded", True)


@pytest.mark.parametrize(
    ("spec", "provider", "model", "base_url"),
    [
        ("local:qwen2.5-coder-0.5b", "local", "qwen2.5-coder-0.5b", None),
        ("local", "local", "qwen2.5-coder-0.5b", None),
        ("local:/models/x.gguf", "local", "/models/x.gguf", None),
        ("openai:gpt-5.4-mini", "openai", "gpt-5.4-mini", None),
        (
            "openai:my-model@http://127.0.0.1:8000/v1",
            "openai",
            "my-model",
            "http://127.0.0.1:8000/v1",
        ),
        ("azure:my-deployment", "azure", "my-deployment", None),
        ("anthropic:claude-x", "anthropic", "claude-x", None),
        ("scripted:echo", "scripted", "echo", None),
    ],
)
def test_parse_spec_forms(spec: str, provider: str, model: str, base_url: str | None) -> None:
    parsed = parse_spec(spec)
    assert (parsed.provider, parsed.model, parsed.base_url) == (provider, model, base_url)


@pytest.mark.parametrize(
    "spec", ["gpt4", "foo:bar", "openai:", "openai:m@ftp://x", "azure:d@http://x"]
)
def test_bad_spec_lists_valid_forms(spec: str) -> None:
    with pytest.raises(ModelSpecError) as info:
        get_model(spec)
    message = str(info.value)
    for form in (
        "local:",
        "openai:<model>",
        "azure:<deployment>",
        "anthropic:<model>",
        "scripted:",
    ):
        assert form in message


def test_bare_local_name_suggests_local_prefix() -> None:
    with pytest.raises(ModelSpecError, match="did you mean local:qwen2.5-coder-0.5b"):
        get_model("qwen2.5-coder-0.5b")


def test_unknown_local_name() -> None:
    with pytest.raises(ModelSpecError, match="named local models"):
        get_model("local:llama-9000")


def test_local_file_that_is_not_gguf(tmp_path: Path) -> None:
    bogus = tmp_path / "model.gguf"
    bogus.write_bytes(b"PK\x03\x04 not a model")
    with pytest.raises(WeightsError, match="not a GGUF"):
        get_model(f"local:{bogus}")


def test_local_file_missing(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="not found"):
        get_model(f"local:{tmp_path / 'nothing.gguf'}")


def test_scripted_spec_is_a_chat_model() -> None:
    model = get_model("scripted:constant=hello")
    assert isinstance(model, ChatModel)
    assert model.name == "scripted:constant=hello"
    assert model.complete([{"role": "user", "content": "hi"}]).text == "hello"


@pytest.mark.parametrize(
    ("spec", "variable"),
    [
        ("openai:gpt-5.4-mini", "OPENAI_API_KEY"),
        ("anthropic:claude-x", "ANTHROPIC_API_KEY"),
        ("azure:dep", "AZURE_OPENAI_ENDPOINT"),
    ],
)
def test_missing_key_names_the_variable(spec: str, variable: str) -> None:
    with pytest.raises(MissingCredentialsError, match=variable):
        get_model(spec)


def test_azure_names_each_missing_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://example.invalid")
    with pytest.raises(MissingCredentialsError, match="AZURE_OPENAI_API_KEY"):
        get_model("azure:dep")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "k")
    with pytest.raises(MissingCredentialsError, match="OPENAI_API_VERSION"):
        get_model("azure:dep")
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-10-21")
    assert get_model("azure:dep").name == "azure:dep"


def test_key_from_dotenv_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("ANTHROPIC_API_KEY=sk-from-dotenv\n")
    monkeypatch.setattr("skillfit.models.credentials._loaded", False)
    model = get_model("anthropic:claude-x")
    assert model.name == "anthropic:claude-x"
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)  # load_dotenv wrote it to os.environ


def test_compatible_server_needs_no_key() -> None:
    model = get_model("openai:m@http://127.0.0.1:9/v1")
    assert model.name == "openai:m@http://127.0.0.1:9/v1"


def test_catalog_lists_the_named_models() -> None:
    names = {info.name for info in list_local_models()}
    assert {"qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "smollm2-135m"} <= names
    assert DEFAULT_MODEL == "local:qwen2.5-coder-0.5b"
    smol = next(i for i in list_local_models() if i.name == "smollm2-135m")
    assert "--no-deps" in smol.install
