"""Does the target react to its skill at all? A check before training spends an hour.

On the first few validation items (8 by default) the target answers with no skill and with the
run's starting skill. It reacts when the skill changes some item's outcome or how many replies
have the task's answer form. When neither moves (or the starting skill is empty), a probe
measures whether the target follows a skill at all: the skill plus one line asking every reply to
begin with a distinctive word; following it on a quarter of the items counts as reacting.

Why not "initial vs none" alone: on the quickstart task (`web_of_lies`) the 0.5B scores 1/60 with
and without the human-written skill, yet a trained skill moves it to 30/60 (README): a starting
skill that does not move the target does not show that no skill can.

Cost: 16 target calls (8 items, no skill and the skill), 24 when the probe runs. The rollouts
with the starting skill are ones the run's gates make anyway (the same items, skill, harness and
sample), so with the response cache on they cost nothing later, and a rerun of the check is all
replays. The check never calls the optimizer, draws from the run's random state or writes the
run's files other than `target_check.json`: the trained skill is the same with and without it.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from skillfit.core.errors import TrainError
from skillfit.core.io import read_json
from skillfit.models import ChatModel, redact
from skillfit.skill import Skill
from skillfit.tasks import Item, Task
from skillfit.tasks.base import Trajectory
from skillfit.train.config import RunConfig
from skillfit.train.engine import Parts
from skillfit.train.executor import Executor, run_rollouts
from skillfit.train.rollout import rollout_one, thread_map
from skillfit.train.runlock import LOCK_NAME

Progress = Callable[[dict[str, Any]], None]

N_ITEMS = 8
PROBE_WORD = "NOTED"
PROBE = (
    "## Reply form\n"
    f"Begin every reply with the word {PROBE_WORD} on a line of its own, then reply as usual."
)
LARGER_LOCAL = "local:qwen2.5-coder-1.5b"
HOSTED = ("openai:gpt-5.4-mini", "anthropic:claude-sonnet-4-5")

_PROBE_RE = re.compile(rf"^\W*{PROBE_WORD}\b", re.IGNORECASE)


@dataclass
class TargetCheck:
    """What the check measured on `n_items` validation items."""

    n_items: int
    scored: int  # items both arms finished (infra errors excluded)
    skill_empty: bool
    changed_replies: int  # items whose reply text differs with the skill
    wins: int  # right with the skill, wrong without
    losses: int
    none_correct: int
    skill_correct: int
    none_formatted: int | None  # replies in the task's answer form (None: the task does not say)
    skill_formatted: int | None
    probe_followed: int | None = None  # replies that began with the probe word (None: not run)
    calls: int = 0  # target rollouts the check made (cache replays included)
    tokens: dict[str, dict[str, float]] = field(default_factory=dict)
    target: str = ""  # the target model's spec, for the message

    @property
    def form_moved(self) -> bool:
        return (
            self.none_formatted is not None
            and self.skill_formatted is not None
            and self.none_formatted != self.skill_formatted
        )

    @property
    def probe_threshold(self) -> int:
        return max(1, self.scored // 4)

    @property
    def reacts(self) -> bool:
        if self.scored == 0:
            return True  # nothing was measured: no grounds to warn
        if not self.skill_empty and (self.wins + self.losses > 0 or self.form_moved):
            return True
        return self.probe_followed is not None and self.probe_followed >= self.probe_threshold

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reacts": self.reacts}

    def summary_line(self) -> str:
        parts = []
        if not self.skill_empty:
            parts.append(
                f"with the skill {self.changed_replies} of {self.scored} replies changed, "
                f"{self.wins} won and {self.losses} lost against no skill"
            )
            if self.none_formatted is not None and self.skill_formatted is not None:
                parts.append(
                    f"answer form {self.none_formatted} → {self.skill_formatted} of {self.scored}"
                )
        if self.probe_followed is not None:
            parts.append(
                f"a probe skill asking for a distinctive reply form was followed on "
                f"{self.probe_followed} of {self.scored}"
            )
        return (
            f"Target check on {self.scored} validation items ({self.calls} target calls): "
            + "; ".join(parts)
            + "."
        )

    def message(self, target: str | None = None) -> str:
        """A plain statement for the user: one line when the target reacts, else a warning."""
        target = target or self.target or "this target"
        if self.reacts:
            return self.summary_line()
        larger = (
            f"the larger local target {LARGER_LOCAL}"
            if target != LARGER_LOCAL
            else "a larger model"
        )
        return (
            f"{self.summary_line()}\nThe target {target} does not react to skills on this task: "
            "what its skill says hardly reaches its replies, so training would most likely adopt "
            f"nothing. Try {larger} (--set target.model={LARGER_LOCAL}) or a hosted one "
            f"({', '.join(HOSTED)}); `skillfit eval --skill FILE --split val` tells whether a "
            "skill you write by hand moves a target."
        )


def token_delta(
    before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]
) -> dict[str, dict[str, float]]:
    """What a ledger counted between two snapshots, per role (roles that did nothing left out)."""
    out: dict[str, dict[str, float]] = {}
    for role, stats in after.items():
        prev = before.get(role, {})
        delta = {
            k: round(v - prev.get(k, 0), 6) if isinstance(v, float) else v - prev.get(k, 0)
            for k, v in stats.items()
            if isinstance(v, int | float)
        }
        if any(delta.values()):
            out[role] = delta
    return out


def _followed_probe(traj: Trajectory) -> bool:
    reply = _reply(traj)
    return bool(_PROBE_RE.match(reply.strip()))


def _reply(traj: Trajectory) -> str:
    for message in reversed(traj.messages):
        if message.get("role") == "assistant":
            return str(message.get("content") or "")
    return ""


def _arm(
    task: Task,
    model: ChatModel,
    skill: str,
    items: Sequence[Item],
    concurrency: int,
    executor: Executor | None = None,
) -> list[Trajectory]:
    # Sample 0, the task's bound harness: the very rollouts the run's gate makes.
    if executor is not None:
        return run_rollouts(executor, skill, items, 0)
    return list(
        thread_map(concurrency)(lambda item: rollout_one(task, model, skill, item, 0), items)
    )


def check_target(
    task: Task,
    model: ChatModel,
    skill: str,
    items: Sequence[Item],
    *,
    concurrency: int = 1,
    executor: Executor | None = None,
) -> TargetCheck:
    """Compare the target's replies with no skill and with `skill` on `items` (see the module);
    through `executor` (a run's) when given."""
    skill_empty = not skill.strip()
    none = _arm(task, model, "", items, concurrency, executor)
    calls = len(none)
    with_skill = none if skill_empty else _arm(task, model, skill, items, concurrency, executor)
    calls += 0 if skill_empty else len(with_skill)
    pairs = [(a, b) for a, b in zip(none, with_skill, strict=True) if a.ok and b.ok]
    scored = len(pairs)

    def formatted(trajs: Sequence[Trajectory]) -> int | None:
        marks = [t.score.formatted for t in trajs if t.score is not None]
        return None if any(m is None for m in marks) else sum(1 for m in marks if m)

    result = TargetCheck(
        n_items=len(items),
        scored=scored,
        skill_empty=skill_empty,
        changed_replies=sum(1 for a, b in pairs if _reply(a).strip() != _reply(b).strip()),
        wins=sum(1 for a, b in pairs if b.score and a.score and b.score.hard > a.score.hard),
        losses=sum(1 for a, b in pairs if b.score and a.score and b.score.hard < a.score.hard),
        none_correct=sum(a.score.hard for a, _ in pairs if a.score),
        skill_correct=sum(b.score.hard for _, b in pairs if b.score),
        none_formatted=formatted([a for a, _ in pairs]),
        skill_formatted=formatted([b for _, b in pairs]),
    )
    if scored and not result.reacts:
        probe_skill = "\n\n".join(p for p in (skill.strip(), PROBE) if p)
        probed = _arm(task, model, probe_skill, items, concurrency, executor)
        calls += len(probed)
        result.probe_followed = sum(1 for t in probed if t.ok and _followed_probe(t))
    result.calls = calls
    return result


def decide(
    result: TargetCheck,
    *,
    interactive: bool,
    ask: Callable[[str], bool],
    say: Callable[[str], None] | None,
    warn: Callable[[str], None],
) -> bool:
    """What `skillfit train` does with the check: a reacting target gets one line (`say`); one
    that does not gets a warning, then a question on a terminal (`ask`, default no) or, in a
    run without a terminal (a script, a CI job), a second warning and the run goes on."""
    if result.reacts:
        if say is not None:
            say(result.message())
        return True
    warn(result.message())
    if interactive:
        return ask("Train anyway?")
    warn(
        "No terminal to ask: training anyway. `--set run.target_check=refuse` stops such a run "
        "instead; --no-check skips the check."
    )
    return True


# --- the check inside a run (app/training.py) ------------------------------------------

TARGET_CHECK_FILE = "target_check.json"


class TargetUnreactive(TrainError):
    """The target check found that the target does not react to its skill, and the run was
    told to stop (`run.target_check: refuse`, or the user declined)."""


def run_target_check(
    cfg: RunConfig,
    task: Task,
    parts: Parts,
    skill: str,
    val: Sequence[Item],
    progress: Progress | None,
    decide: Callable[[TargetCheck], bool] | None,
    executor: Executor | None = None,
) -> TargetCheck:
    """Check the target on the first validation items through the run's own (cached,
    accounted) target model, on the run's executor when given; TargetUnreactive when the run
    should not go on."""
    before = parts.ledger.snapshot() if parts.ledger is not None else {}
    result = check_target(
        task,
        parts.target,
        Skill.parse(skill).text if skill.strip() else "",
        list(val)[:N_ITEMS],
        concurrency=int(cfg.train.concurrency),
        executor=executor,
    )
    if parts.ledger is not None:
        result.tokens = token_delta(before, parts.ledger.snapshot())
    target = result.target = redact(cfg.target.model)
    if progress is not None:
        progress({"event": "target_check", **result.to_dict(), "message": result.message(target)})
    go_on = decide(result) if decide is not None else True
    if not result.reacts and (cfg.run.target_check == "refuse" or not go_on):
        raise TargetUnreactive(
            result.message(target)
            + "\nStopped before training; nothing was kept. Run with --no-check "
            "(run.target_check=false) to train anyway."
        )
    return result


def undo_fresh_run(root: Path) -> None:
    """Remove what a fresh run wrote into its folder (the lock then removes a folder it made)."""
    for path in root.iterdir():
        if path.name == LOCK_NAME:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def with_target_check(root: Path, summary: dict[str, Any]) -> dict[str, Any]:
    """The run's summary with the target check it began with (target_check.json). Its calls
    are in the summary's tokens already: they are journaled like every call of the run."""
    path = root / TARGET_CHECK_FILE
    if not path.exists():
        return summary
    return {**summary, "target_check": read_json(path)}
