"""Small helpers the baseline strategies share: rollouts, free-text optimizer calls, fit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, create_model

from skillfit.optim.optimizer import OptimizerAnswer
from skillfit.optim.prompting import clip, render_target
from skillfit.skill import Skill
from skillfit.tasks.base import Item, Trajectory

if TYPE_CHECKING:
    from skillfit.train.engine import Trainer

SKILL_CHARS = 6000


def rollouts(ctx: Trainer, skill: str, items: Sequence[Item], sample: int = 0) -> list[Trajectory]:
    return ctx.rollouts(skill, items, sample)


def text_schema(field: str, max_chars: int = SKILL_CHARS) -> type[BaseModel]:
    from pydantic import Field

    return create_model(f"Reply_{field}", **{field: (str, Field(..., max_length=max_chars))})  # type: ignore[call-overload]


def ask_text(ctx: Trainer, system: str, user: str, field: str) -> tuple[str, OptimizerAnswer]:
    """One optimizer call whose JSON reply holds one text field; ("", answer) when it failed."""
    messages: list[Any] = [
        {"role": "system", "content": system},
        {"role": "user", "content": user},
    ]
    answer = ctx.settings.ask(ctx.parts.optimizer, messages, text_schema(field))
    text = str(getattr(answer.parsed, field, "") or "").strip() if answer.ok else ""
    return text, answer


def render_attempts(pairs: Sequence[tuple[Item, Trajectory]], limit: int = 8) -> str:
    """Scored attempts as the baselines' optimizer sees them (input, answer, expected, verdict)."""
    rows: list[str] = []
    for item, traj in pairs:
        if not traj.ok or traj.score is None:
            continue
        verdict = "right" if traj.score.hard else "wrong"
        rows.append(
            f"## Example {len(rows) + 1} ({verdict})\nInput:\n{clip(item.input, 600)}\n"
            f"Model answer:\n{clip(traj.answer, 400) or '(empty)'}\n"
            f"Expected: {clip(render_target(item.target), 200)}"
            + (f"\nFeedback: {clip(traj.score.feedback, 200)}" if traj.score.feedback else "")
        )
        if len(rows) >= limit:
            break
    return "\n\n".join(rows) or "(no scored example)"


def fits(ctx: Trainer, text: str) -> str:
    """Why `text` cannot be the skill ("" when it can)."""
    if not text.strip():
        return "the optimizer gave no skill"
    n = Skill.parse(text).n_tokens()
    if n > int(ctx.cfg.skill.max_tokens):
        return f"the skill has {n} tokens, more than skill.max_tokens={ctx.cfg.skill.max_tokens}"
    return ""
