"""Moved to `skillfit.harness.chat` (the chat harness); kept so older imports still work."""

from skillfit.harness.chat import build_messages, run_direct, system_text
from skillfit.tasks.base import ScoreFn

__all__ = ["ScoreFn", "build_messages", "run_direct", "system_text"]
