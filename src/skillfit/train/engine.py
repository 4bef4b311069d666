"""The context a strategy works in (`Trainer`): the run's shape and schedule, the train batches,
rollouts, the optimizer's reflection, the gate's measurement, infrastructure checks, token
accounting, checkpoints, the test evaluation and the summary.

It changes no adoption itself: a strategy's step returns a `Proposal` (skillfit.train.proposal)
and the runner (skillfit.train.runner) gates it with the acceptance policy, updates the state
and appends the record. The skillfit loop's own step and epoch end live in
`skillfit.strategies.skillfit`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from skillfit.core.errors import InfraFailure, TrainError
from skillfit.core.io import write_json_atomic, write_jsonl
from skillfit.models.base import ChatModel
from skillfit.optim.examples import TrainExamples, scorer_accepts
from skillfit.optim.gate import GateConfig, GateJob, GateResult, run_gate
from skillfit.optim.knowledge import AnswerVocabulary, answer_vocabulary
from skillfit.optim.needles import leak_needles
from skillfit.optim.prompting import (
    optimizer_prompts,
    render_edit,
)
from skillfit.optim.schedules import make_schedule
from skillfit.optim.vocabulary import ItemWords, item_words
from skillfit.skill import Skill
from skillfit.tasks.base import Item, Task, Trajectory
from skillfit.train.evaluation import EvalResult, compare, evaluate_skill, trajectory_rows
from skillfit.train.executor import Executor, LocalExecutor, RolloutJob, run_rollouts
from skillfit.train.layout import RunLayout, fresh_dir
from skillfit.train.phases import PhaseClock, phase_table, training_usage
from skillfit.train.reflect import (
    MinibatchProposal,
    OptimizerSettings,
    ReflectionMode,
    reflect,
)
from skillfit.train.rollout import thread_map
from skillfit.train.state import RunState, StepRecord, derived_rng
from skillfit.train.summary import summarize, timed_out, token_delta

Progress = Callable[[dict[str, Any]], None]


@dataclass
class Parts:
    """What a run acts on: the task and the two models (already cached and accounted)."""

    task: Task
    target: ChatModel
    optimizer: ChatModel
    ledger: Any = None  # skillfit.models.Ledger, for tokens per role in the history


@dataclass
class Trainer:
    cfg: Any  # RunConfig
    parts: Parts
    layout: RunLayout
    splits: Mapping[str, Sequence[Item]]
    config_hash: str
    progress: Progress | None = None
    # Where the target's rollouts run (runtime.executor); None: this process's thread pool.
    executor: Executor | None = None
    needles: tuple[str, ...] = field(default=(), init=False)  # item text the guard refuses
    words: ItemWords | None = field(default=None, init=False)  # the items' own words
    # Worked examples of training items (optimizer.examples: train, a task with a scorer).
    examples_check: TrainExamples | None = field(default=None, init=False)
    answers: AnswerVocabulary = field(default_factory=AnswerVocabulary, init=False)
    forced_ablations: tuple[str, ...] = field(default=(), init=False)

    def __post_init__(self) -> None:
        # The guard knows every item the optimizer may ever see or the gate measures on.
        self.needles = leak_needles([*self.splits["train"], *self.splits["val"]])
        self.words = item_words(
            [*self.splits["train"], *self.splits["val"]],
            common=self._common_vocabulary(),
            task_text=self._task_text(),
        )
        self.map = thread_map(max(1, int(self.cfg.train.concurrency)))
        if self.executor is None:
            self.executor = LocalExecutor(
                self.parts.task, self.parts.target, int(self.cfg.train.concurrency)
            )
        self.schedule = make_schedule(self.cfg.schedule, self.total_steps)
        self.settings = OptimizerSettings.from_config(self.cfg.optimizer)
        self.answers = answer_vocabulary(self.splits["train"])
        if self.settings.examples == "train":
            score = getattr(self.parts.task, "score", None)
            if not callable(score):
                raise TrainError(
                    f"optimizer.examples: train needs a task scored from a reply, to check an "
                    f"example's answer with; task {self.parts.task.name} runs its own loop"
                )
            self.examples_check = TrainExamples(
                self.splits["train"], scorer_accepts(score), needles=self.needles
            )
        self.reflection: ReflectionMode = getattr(self.cfg.optimizer, "reflection", "diagnose")
        self.phases = PhaseClock(self.parts.ledger)

    def phase(self, name: str) -> AbstractContextManager[None]:
        """Count the calls, tokens and seconds spent inside as phase `name` (train.phases)."""
        return self.phases(name)

    @property
    def guard_options(self) -> dict[str, Any]:
        """What the guard needs beyond the items' text (see optim.guard.check_edit)."""
        return {"words": self.words, "examples": self.examples_check}

    def _task_text(self) -> str:
        task = self.parts.task
        return f"{task.initial_skill}\n{getattr(task, 'instructions', '')}"

    def _common_vocabulary(self) -> str:
        """Words a rule may use freely: the task's own instructions and initial skill, and the
        optimizer's prompts (function words, "each", "line"...)."""
        return f"{self._task_text()}\n{optimizer_prompts()}"

    # ---- shape of the run ---------------------------------------------------------------

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.splits["train"]) / max(1, int(self.cfg.train.batch_size)))

    @property
    def total_steps(self) -> int:
        total = self.steps_per_epoch * max(1, int(self.cfg.train.epochs))
        max_steps = getattr(self.cfg.train, "max_steps", None)
        return min(total, int(max_steps)) if max_steps else total

    def ablated(self, part: str) -> bool:
        """Whether `part` of the loop is switched off (`strategy.ablate`, or the strategy's own
        ablations: `ungated` switches off the gate)."""
        strategy = getattr(self.cfg, "strategy", None)
        return part in (getattr(strategy, "ablate", None) or ()) or part in self.forced_ablations

    def uses(self, part: str) -> bool:
        """Whether the slow update or the meta-skill runs: enabled and not ablated."""
        return bool(getattr(self.cfg, part).enabled) and not self.ablated(part)

    def budget_at(self, step: int) -> int:
        """The edit budget after `step` finished steps; unbounded when the budget is ablated."""
        return UNBOUNDED_BUDGET if self.ablated("edit_budget") else self.schedule(step)

    # ---- the budget the user sets (train.budget_calls, train.budget_tokens) ---------------

    def budgets(self) -> dict[str, int]:
        """The configured budgets: {"calls": n, "tokens": n}, only those set."""
        train = self.cfg.train
        out = {"calls": getattr(train, "budget_calls", None)}
        out["tokens"] = getattr(train, "budget_tokens", None)
        return {k: int(v) for k, v in out.items() if v}

    def spent(self) -> dict[str, int]:
        """What training spent so far, as the budgets count it (phases.training_usage)."""
        ledger = self.parts.ledger
        snapshot = ledger.snapshot() if hasattr(ledger, "snapshot") else None
        return training_usage(snapshot, self.phases.totals)

    def budget_spent(self) -> str | None:
        """ "budget_calls" or "budget_tokens" once training spent that budget, else None."""
        budgets = self.budgets()
        if not budgets:
            return None
        used = self.spent()
        for kind, cap in budgets.items():
            if used[kind] >= cap:
                return f"budget_{kind}"
        return None

    def budget_report(self, state: RunState) -> dict[str, Any] | None:
        """The budgets, what training spent, and the one line a stop for budget prints."""
        budgets = self.budgets()
        if not budgets:
            return None
        used = self.spent()
        out: dict[str, Any] = {"budget": budgets, "spent": used, "message": ""}
        if state.stopped in ("budget_calls", "budget_tokens"):
            kind = state.stopped.removeprefix("budget_")
            what = "model calls" if kind == "calls" else "tokens"
            out["message"] = (
                f"Budget spent: {used[kind]:,} of {budgets[kind]:,} training {what} after "
                f"step {state.global_step}; stopped there, the best skill tested and exported. "
                f"Run again with a larger --budget-{kind} to go on."
            )
        return out

    def emit(self, event: str, **data: Any) -> None:
        if self.progress is not None:
            self.progress({"event": event, **data})

    def initial_state(self, initial_skill: str, steps_per_epoch: int | None = None) -> RunState:
        """The state before the first step; `steps_per_epoch` is the strategy's (None: this
        engine's epoch shape)."""
        text = Skill.parse(initial_skill).text if initial_skill.strip() else ""
        per_epoch = self.steps_per_epoch if steps_per_epoch is None else steps_per_epoch
        total = (
            self.total_steps
            if per_epoch == self.steps_per_epoch
            else per_epoch * max(1, int(self.cfg.train.epochs))
        )
        return RunState(
            config_hash=self.config_hash,
            seed=int(self.cfg.train.seed),
            steps_per_epoch=per_epoch,
            total_steps=total,
            initial_skill=text,
            current_skill=text,
            epoch_start_skill=text,
            best_skill=text,
        )

    # ---- checkpoints --------------------------------------------------------------------

    def save(self, state: RunState) -> None:
        write_json_atomic(self.layout.history, [r.model_dump(mode="json") for r in state.history])
        if self.parts.ledger is not None and hasattr(self.parts.ledger, "journal_size"):
            state.journal_bytes = self.parts.ledger.journal_size()
        state.phases = {name: dict(row) for name, row in self.phases.totals.items()}
        state.save(self.layout.state)

    # ---- one step -----------------------------------------------------------------------

    def batch(self, epoch: int, index: int) -> list[Item]:
        """Batch `index` of epoch `epoch`: a seeded shuffle of train per epoch."""
        train = list(self.splits["train"])
        derived_rng(self.cfg.train.seed, "epoch", epoch).shuffle(train)
        size = max(1, int(self.cfg.train.batch_size))
        return train[index * size : (index + 1) * size]

    # ---- what a strategy asks for: rollouts, the optimizer's proposals, a gate verdict ----

    @property
    def runs(self) -> Executor:
        assert self.executor is not None  # set in __post_init__
        return self.executor

    def rollouts(self, skill: str, items: Sequence[Item], sample: int = 0) -> list[Trajectory]:
        """The target runs every item once with `skill` (through the run's executor); results
        come back in item order."""
        return run_rollouts(self.runs, skill, list(items), sample)

    def reflect(
        self,
        state: RunState,
        skill: Skill,
        items: Sequence[Item],
        trajs: Sequence[Trajectory],
        budget: int,
        *,
        context: str = "",
    ) -> list[MinibatchProposal]:
        """The optimizer's proposals for `skill` from these rollouts (see train.reflect)."""
        with self.phase("reflection"):
            return self._reflect(state, skill, items, trajs, budget, context)

    def _reflect(
        self,
        state: RunState,
        skill: Skill,
        items: Sequence[Item],
        trajs: Sequence[Trajectory],
        budget: int,
        context: str,
    ) -> list[MinibatchProposal]:
        return reflect(
            self.parts.optimizer,
            skill,
            list(zip(items, trajs, strict=True)),
            minibatch_size=int(self.cfg.train.minibatch_size),
            max_edits=budget,
            buffer=state.buffer,
            meta_skill=state.meta_skill if self.uses("meta_skill") else "",
            settings=self.settings,
            map_fn=self.map,
            mode=self.reflection,
            needles=self.needles,
            context=context,
            words=self.words,
            examples_check=self.examples_check,
            answers=self.answers,
        )

    def gate(self, current: str, candidate: str, config: GateConfig | None = None) -> GateResult:
        """The gate's verdict on `candidate` against `current` on the val split (`config`: a
        GateConfig other than the run's, for strategies with their own acceptance rule)."""
        config = self.cfg.gate if config is None else config
        metric = getattr(config, "metric", "hard")
        errors: list[str] = []
        sides = {"current": current, "candidate": candidate}

        def value(traj: Trajectory) -> float | None:
            if not traj.ok or traj.score is None:
                errors.append(traj.error or "no score")
                return None
            return float(traj.score.soft if metric == "soft" else traj.score.hard)

        def scorer(skill_text: str) -> Callable[[Item, int], float | None]:
            def score(item: Item, sample: int) -> float | None:
                return value(self.runs.run([RolloutJob(skill_text, item, sample)])[0])

            return score

        def measure(_fn: Any, jobs: Sequence[GateJob]) -> list[float | None]:
            # A batch of the gate's jobs, both sides, goes to the executor as one batch.
            rollouts = [RolloutJob(sides[j.side], j.item, j.sample) for j in jobs]
            return [value(traj) for traj in self.runs.run(rollouts)]

        result = run_gate(
            self.gate_items(config),
            scorer(current),
            scorer(candidate),
            config,
            batch_size=max(1, int(self.cfg.train.concurrency)) * 4,
            map_fn=measure,
        )
        result.first_error = errors[0] if errors else ""
        return result

    def gate_items(self, config: GateConfig) -> list[Item]:
        """The validation items in the order the gate scores them: the split's order, or with
        `gate.racing` one shuffle fixed by the seed (the same for every gate of the run, so the
        items a racing gate stops after are the ones whose current-skill rollouts are cached)."""
        items = list(self.splits["val"])
        if getattr(config, "early_stop", False) and getattr(config, "racing", False):
            derived_rng(self.cfg.train.seed, "gate-order").shuffle(items)
        return items

    def finish(self, state: RunState, record: StepRecord, started: float, tokens0: Any) -> None:
        record.skill_version = state.current_version
        record.skill_tokens = Skill.parse(state.current_skill).n_tokens()
        record.tokens = token_delta(tokens0, self.tokens())
        record.seconds = round(time.perf_counter() - started, 3)
        state.history.append(record)
        self.emit("step_end", record=record.model_dump(mode="json"), state=state.brief())

    def tokens(self) -> Any:
        """Token usage per role so far (the starting point of a unit's token delta)."""
        if self.parts.ledger is None:
            return {}
        snapshot = self.parts.ledger.snapshot()
        # After a resume, the first unit's starting point leaves out the calls it had paid
        # before the kill, so its record (and the run's totals) count them as paid.
        carried: dict[str, Any] = getattr(self.parts.ledger, "take_carried", dict)()
        return token_delta(carried, snapshot) if carried else snapshot

    def check_infra(
        self,
        where: str,
        trajs: Sequence[Trajectory] = (),
        *,
        failed: int = 0,
        total: int = 0,
        first: str = "",
    ) -> None:
        """InfraFailure when more than `train.max_infra_error_rate` of a unit's rollouts (or
        every one of them) failed for infrastructure reasons. Raised before the unit is
        recorded, so the run resumes at this unit once the model or server works again."""
        if trajs:
            errors = [t.error for t in trajs if t.error is not None]
            failed, total, first = len(errors), len(trajs), (errors[0] if errors else "")
        limit = float(getattr(self.cfg.train, "max_infra_error_rate", 0.5))
        if total <= 0 or failed == 0 or (failed < total and failed / total <= limit):
            return
        raise InfraFailure(
            f"stopped at {where}: {failed} of {total} rollouts failed for infrastructure "
            f"reasons (more than train.max_infra_error_rate={limit:g})"
            + (f"; first error: {first}" if first else "")
            + ". Nothing of this unit was recorded: fix the model or server, then run the same "
            "command again to resume from the last finished step."
        )

    def check_optimizer(self, where: str, proposals: Sequence[MinibatchProposal]) -> None:
        """InfraFailure when every optimizer call of a unit failed for infrastructure reasons
        (a dead server, a bad key), not for a reply that broke its schema."""
        # Every call: the edits or rules calls, and the diagnoses of the `diagnose` stage one.
        errors = [a.error for p in proposals for a in p.answer.attempts]
        errors += [
            a.get("error")
            for p in proposals
            for d in p.diagnoses
            for a in (d.get("optimizer") or {}).get("attempts", [])
        ]
        if not errors or not all(
            e and str(e).startswith(("InfraError", "TransientError")) for e in errors
        ):
            return
        attempts, first = errors, str(errors[0])
        raise InfraFailure(
            f"stopped at {where}: all {len(attempts)} optimizer calls failed for infrastructure "
            f"reasons; first error: {first}. Nothing of this unit was recorded: fix the model "
            "or server, then run the same command again to resume from the last finished step."
        )

    # ---- the end ------------------------------------------------------------------------

    def test_eval(self, state: RunState) -> None:
        """Test accuracy (with Wilson intervals) of no skill, the initial and the best skill,
        and the paired differences best − none and best − initial."""
        with self.phase("test"):
            self._test_eval(state)

    def _test_eval(self, state: RunState) -> None:
        started, tokens0 = time.perf_counter(), self.tokens()
        folder = fresh_dir(self.layout.test_eval)
        items = list(self.splits["test"])
        samples = max(1, int(getattr(self.cfg.eval, "samples", 1)))
        conc = int(self.cfg.train.concurrency)
        arms = {"none": "", "initial": state.initial_skill, "best": state.best_skill}
        done: dict[str, tuple[EvalResult, list[Trajectory]]] = {}
        results: dict[str, EvalResult] = {}
        for name, text in arms.items():
            self.emit("test_eval", arm=name)
            if text not in done:  # identical skills are measured once
                done[text] = evaluate_skill(
                    self.parts.task,
                    self.parts.target,
                    text,
                    items,
                    samples=samples,
                    concurrency=conc,
                    name=name,
                    executor=self.runs,
                )
            res, trajs = done[text]
            self.check_infra(f"test evaluation ({name} skill)", trajs)
            results[name] = _renamed(res, name)
            write_jsonl(folder / f"{name}.jsonl", trajectory_rows(items, samples, trajs))
        out: dict[str, Any] = {name: r.to_dict() for name, r in results.items()}
        out["best_vs_none"] = compare(results["best"], results["none"])
        out["best_vs_initial"] = compare(results["best"], results["initial"])
        out["best_version"] = state.best_version
        out["tokens"] = token_delta(tokens0, self.tokens())
        out["seconds"] = round(time.perf_counter() - started, 3)
        write_json_atomic(folder / "results.json", out)
        state.test = out

    def write_summary(self, state: RunState) -> None:
        summary = summarize(self.cfg, state)
        totals = self._run_totals(state)
        if totals is not None:
            summary["tokens"] = totals
            summary["timed_out"] = timed_out(totals)
        # Per phase of the loop: calls, cache hits, tokens and seconds; `other` is what the
        # run paid outside every phase (a strategy's own loop, the target check).
        summary["phases"] = phase_table(self.phases.totals or state.phases, summary["tokens"])
        budget = self.budget_report(state)
        if budget is not None:
            summary["budget"] = budget
        write_json_atomic(self.layout.summary, summary)

    def _run_totals(self, state: RunState) -> dict[str, dict[str, Any]] | None:
        """Every paid call of the run across its resumes (the call journal; meta-skill calls,
        which no step record holds, included), or None for a run begun before the journal."""
        ledger = self.parts.ledger
        if ledger is None or getattr(ledger, "journal_path", None) is None:
            return None
        if state.history and not state.journal_bytes:
            return None
        return {
            role: {k: round(v, 6) if isinstance(v, float) else v for k, v in stats.items()}
            for role, stats in ledger.snapshot().items()
        }


# ---- helpers --------------------------------------------------------------------------------

# The edit budget when `edit_budget` is ablated: every selected edit is applied.
UNBOUNDED_BUDGET = 1000


def _renamed(res: EvalResult, name: str) -> EvalResult:
    from dataclasses import replace

    return replace(res, name=name)


__all__ = ["UNBOUNDED_BUDGET", "Parts", "Progress", "Trainer", "render_edit"]
