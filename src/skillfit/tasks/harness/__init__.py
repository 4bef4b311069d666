"""How the target model acts on an item: direct chat, a built-in tool-using agent, or an
external agent CLI. Each harness returns a scored `Trajectory`."""

from skillfit.tasks.harness.direct import ScoreFn, build_messages, run_direct

__all__ = ["ScoreFn", "build_messages", "run_direct"]
