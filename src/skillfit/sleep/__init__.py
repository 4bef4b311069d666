"""`skillfit sleep`: learn from the agent sessions people already ran.

Harvest Claude Code, Codex or generic JSONL sessions (redacted as read), mine checkable items
from them, train the skill on those items with the ordinary loop, and stage the candidate,
its diff, the evidence and a report for review (`skillfit.sleep.cycle`)."""

from skillfit.sleep.cycle import SleepError, SleepResult, sleep

__all__ = ["SleepError", "SleepResult", "sleep"]
