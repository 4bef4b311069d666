"""What a strategy's step returns: a proposal the runner gates, adopts or rejects, and records.

A step (or an epoch-end update) measures, asks the optimizer and builds a candidate skill; it
never adopts it. The runner (`skillfit.train.runner`) tests the candidate, and up to
`gate.candidates` variants of it, with the acceptance policy, then updates the run state and
appends the record. GEPA's `CandidateProposal` is the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skillfit.skill import Edit, Skill
from skillfit.train.state import StepRecord

if TYPE_CHECKING:
    from skillfit.optim.acceptance import AcceptancePolicy


@dataclass(frozen=True)
class Adoption:
    """A skill a strategy's own method chose (GEPA's best candidate, a one-shot rewrite, no
    skill at all): the runner makes it the current and best skill, a new version, with the
    strategy's own validation score (if any) and no gate of its own."""

    skill: str
    score: float | None = None


@dataclass
class Proposal:
    """One unit of work's outcome. `candidate` None: nothing to gate; the runner then writes
    `gate.json` with `record.note` as the reason when there is a `folder`. `adopt`: a skill the
    strategy chose itself (no gate). `started` and `tokens0` time the unit and its tokens;
    `record` None: a unit that leaves no line in the history (the `none` baseline's init)."""

    record: StepRecord | None
    started: float
    tokens0: Any
    folder: Path | None = None
    skill: Skill | None = None  # the skill the candidate changes
    candidate: Skill | None = None  # the whole update
    applied: list[Edit] = field(default_factory=list)  # the edits that made it
    policy: AcceptancePolicy | None = None  # None: the run's
    adopt: Adoption | None = None


@dataclass(frozen=True)
class Variant:
    """One candidate skill the gate tests: a label, the skill, and the edits that made it."""

    label: str
    skill: Skill
    applied: list[Edit]


def variants(
    skill: Skill, whole: Skill, applied: Sequence[Edit], n: int, max_tokens: int
) -> list[Variant]:
    """Up to `n` distinct candidates: the whole update first, then each applied edit alone in
    rank order. A helpful edit that travels with a harmful one can then still be adopted. They
    are gated in this order and the first that passes is adopted: picking the best validation
    score among several that pass would favour the luckiest (on GSM8K the procedure alone beat
    the whole update on validation, 11 wins to 9, and lost to it on test, 7/60 to 9/60)."""
    out = [Variant("all edits", whole, list(applied))]
    if n <= 1 or len(applied) < 2:
        return out
    seen = {skill.text, whole.text}
    for i, edit in enumerate(applied, start=1):
        if len(out) >= n:
            break
        alone = skill.apply([edit]).skill
        if alone.text in seen or alone.n_tokens() > max_tokens:
            continue
        seen.add(alone.text)
        out.append(Variant(f"edit {i} alone", alone, [edit]))
    return out


__all__ = ["Adoption", "Proposal", "Variant", "variants"]
