"""Kept for imports written before harnesses moved to `skillfit.harness` (chat, agent, the tool
loop); new code imports from there."""

from skillfit.harness.chat import build_messages, run_direct
from skillfit.tasks.base import ScoreFn

__all__ = ["ScoreFn", "build_messages", "run_direct"]
