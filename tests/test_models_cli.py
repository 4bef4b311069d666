"""`skillfit models` and `skillfit models check` (no real model needed)."""

from __future__ import annotations

from typer.testing import CliRunner

from skillfit.cli import app

runner = CliRunner()


def test_models_lists_local_models_and_spec_forms() -> None:
    result = runner.invoke(app, ["models"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in ("local:qwen2.5-coder-0.5b", "local:qwen2.5-coder-1.5b", "local:smollm2-135m"):
        assert name in result.output
    for form in ("openai:<model>[@<base_url>]", "azure:<deployment>", "anthropic:<model>"):
        assert form in result.output


def test_check_answers_with_a_scripted_model() -> None:
    result = runner.invoke(app, ["models", "check", "scripted:constant=all good"])
    assert result.exit_code == 0, result.output
    assert "all good" in result.output


def test_check_unknown_model_explains_the_forms() -> None:
    result = runner.invoke(app, ["models", "check", "nonsense:thing"], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert "unknown model provider" in result.output and "openai:<model>" in result.output
