"""Three BBH items through the embedded 0.5B model: the whole task path on a real model."""

from typing import Any

import pytest

from skillfit.tasks import get_task


def _model(request: pytest.FixtureRequest) -> Any:
    try:
        return request.getfixturevalue("local_model")  # provided by the models team's conftest
    except pytest.FixtureLookupError:
        from skillfit.models import get_model  # type: ignore[attr-defined]

        return get_model("local:qwen2.5-coder-0.5b")


@pytest.mark.real_model
def test_three_bbh_items_on_the_real_model(request: pytest.FixtureRequest) -> None:
    model = _model(request)
    task = get_task("bbh/boolean_expressions", n_train=3, n_val=0, n_test=0, max_tokens=32)
    skill = "End with exactly one line `Answer: True` or `Answer: False`."
    for item in task.splits()["train"]:
        traj = task.rollout(model, skill, item)
        assert traj.ok, traj.error
        assert traj.score is not None and traj.score.feedback
        assert traj.usage.completion_tokens > 0
        assert traj.messages[-1]["role"] == "assistant"
