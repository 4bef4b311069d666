"""The OfficeQA tool loop on the embedded 0.5B model: schema-constrained actions parse, the
last step is forced to an answer, and usage is counted."""

from pathlib import Path

import pytest

from skillfit.models import ChatModel
from skillfit.tasks import get_task
from skillfit.train.rollout import rollout_one

FIX = Path(__file__).parent / "fixtures" / "paper"


@pytest.mark.real_model
def test_officeqa_tool_loop_on_the_real_model(local_model: ChatModel) -> None:
    task = get_task(
        "officeqa", split_dir=str(FIX / "officeqa" / "split"), max_steps=2, max_tokens=96
    )
    item = task.splits()["train"][1]  # an 8-line document
    traj = rollout_one(task, local_model, task.initial_skill, item, 0)
    assert traj.ok, traj.error
    assert [c["step"] for c in traj.tool_calls] == list(range(1, len(traj.tool_calls) + 1))
    assert traj.tool_calls[-1]["tool"] == "answer"  # forced on the last step
    assert all(c["tool"] in {"list_files", "read_file", "grep", "answer"} for c in traj.tool_calls)
    assert traj.answer
    assert traj.usage.prompt_tokens > 0 and traj.usage.completion_tokens > 0
