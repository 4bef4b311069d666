"""The edits the meta-skill writer is shown say which came from a step and which from the
epoch-end slow update that followed it."""

from __future__ import annotations

from skillfit.strategies.skillfit.epoch_end import history_lines
from skillfit.train.state import StepRecord


def test_a_slow_updates_edits_are_not_shown_as_the_steps_it_followed() -> None:
    history = [
        StepRecord(
            step=1,
            epoch=1,
            applied_edits=["add: steps"],
            val_current=0.0,
            val_candidate=0.25,
            adopted=True,
        ),
        StepRecord(
            step=1,
            epoch=1,
            kind="slow_update",
            applied_edits=["add: format"],
            val_current=0.25,
            val_candidate=0.2,
            adopted=False,
        ),
        StepRecord(step=2, epoch=2, applied_edits=[]),  # tried nothing: not listed
    ]
    assert history_lines(history).splitlines() == [
        "- step 1: add: steps (adopted, val score change +0.25)",
        "- slow update after step 1: add: format (rejected, val score change -0.05)",
    ]
