"""Three BBH items through the embedded 0.5B model: the whole task path on a real model."""

import pytest

from skillfit.models import ChatModel
from skillfit.tasks import get_task
from skillfit.train.rollout import rollout_one


@pytest.mark.real_model
def test_three_bbh_items_on_the_real_model(local_model: ChatModel) -> None:
    task = get_task("bbh/boolean_expressions", n_train=3, n_val=0, n_test=0, max_tokens=32)
    skill = "End with exactly one line `Answer: True` or `Answer: False`."
    for item in task.splits()["train"]:
        traj = rollout_one(task, local_model, skill, item, 0)
        assert traj.ok, traj.error
        assert traj.score is not None and traj.score.feedback
        assert traj.answer.lower() in {"true", "false"}, traj.messages[-1]["content"]
        assert traj.usage.completion_tokens > 0
