"""`skillfit tasks` and `skillfit tasks show`."""

from typer.testing import CliRunner

from skillfit.cli import app

runner = CliRunner()


def test_tasks_lists_every_task_with_counts() -> None:
    result = runner.invoke(app, ["tasks"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "bbh/web_of_lies" in result.output and "250" in result.output
    assert "gsm8k" in result.output and "7473" in result.output
    assert "reasoning_gym/<name>" in result.output


def test_tasks_show_prints_options_sizes_skill_and_an_item() -> None:
    result = runner.invoke(
        app,
        ["tasks", "show", "bbh/dyck_languages", "-o", "n_train=3", "-o", "n_test=2"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "n_train, n_val, n_test, seed" in result.output
    assert "train 3, val 20, test 2" in result.output
    assert "initial skill" in result.output and "Answer format" in result.output
    assert "example item dyck_languages-" in result.output and "target:" in result.output


def test_tasks_show_unknown_task_fails_with_a_suggestion() -> None:
    result = runner.invoke(app, ["tasks", "show", "bbh/web_of_lie"], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "bbh/web_of_lies" in result.output
