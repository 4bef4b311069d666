"""GEPA through the `gepa` package: an adapter from our Task to its adapter protocol, our
optimizer model as its reflection model, and its metric-call budget set to the run's budget of
target calls (`strategy.target_calls`; option max_metric_calls otherwise, default 300). With
a budget the user set (`train.budget_calls` / `train.budget_tokens`, as `skillfit compare
--budget-calls` gives every strategy) GEPA also stops once it is spent, checked between its
iterations; a search stopped by the budget goes on when the run is resumed under a larger one.

The whole GEPA search is one step (GEPA checkpoints itself in `<run>/gepa/`, so a killed run
resumes its search); its best candidate becomes the best skill, measured on test like every
other strategy's. Options: max_metric_calls, reflection_minibatch_size (default 3),
candidate_selection (default pareto)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from skillfit.core.errors import TrainError
from skillfit.core.io import write_json_atomic
from skillfit.optim.prompting import render_target
from skillfit.strategies.base import BaseStrategy
from skillfit.strategies.common import fits, rollouts
from skillfit.strategies.registry import register
from skillfit.tasks.base import Item
from skillfit.train.proposal import Adoption, Proposal
from skillfit.train.state import StepRecord

if TYPE_CHECKING:
    from skillfit.train.engine import Trainer
    from skillfit.train.state import RunState

COMPONENT = "skill"


class BudgetStop:
    """GEPA's stop callback: True once the run's training budget is spent."""

    def __init__(self, ctx: Trainer) -> None:
        self.ctx = ctx

    def __call__(self, gepa_state: Any) -> bool:
        return self.ctx.budget_spent() is not None


class SkillAdapter:
    """GEPA's adapter protocol over a skillfit task: a candidate is {"skill": text}; evaluating
    it runs the target on the items with the skill (same harness, cache and accounting)."""

    propose_new_texts = None  # GEPA's own reflective proposer

    def __init__(self, ctx: Trainer) -> None:
        self.ctx = ctx
        self.rollouts = 0

    def evaluate(
        self, batch: list[Item], candidate: dict[str, str], capture_traces: bool = False
    ) -> Any:
        from gepa import EvaluationBatch

        trajs = rollouts(self.ctx, candidate.get(COMPONENT, ""), batch)
        self.rollouts += len(trajs)
        scores = [float(t.score.hard) if t.ok and t.score is not None else 0.0 for t in trajs]
        traces = None
        if capture_traces:
            traces = [{"item": it, "traj": t} for it, t in zip(batch, trajs, strict=True)]
        return EvaluationBatch(
            outputs=[t.answer for t in trajs], scores=scores, trajectories=traces
        )

    def make_reflective_dataset(
        self, candidate: dict[str, str], eval_batch: Any, components_to_update: list[str]
    ) -> Mapping[str, Sequence[Mapping[str, Any]]]:
        rows = []
        for trace, score in zip(eval_batch.trajectories or [], eval_batch.scores, strict=False):
            item, traj = trace["item"], trace["traj"]
            if traj.error is not None:
                feedback = f"Not run: {traj.error}"
            else:
                verdict = "correct" if score else "wrong"
                fb = traj.score.feedback if traj.score is not None else ""
                feedback = f"The answer is {verdict}. Expected: {render_target(item.target)}. {fb}"
            rows.append(
                {"Inputs": item.input, "Generated Outputs": traj.answer, "Feedback": feedback}
            )
        return {name: rows for name in components_to_update}


def reflection_lm(ctx: Trainer) -> Any:
    """Our optimizer model as GEPA's `LanguageModel` (prompt -> text)."""

    def call(prompt: str | list[dict[str, Any]]) -> str:
        messages: Any = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        reply = ctx.parts.optimizer.complete(
            messages,
            max_tokens=ctx.settings.max_tokens,
            temperature=ctx.settings.temperature,
        )
        return reply.text

    return call


@register("gepa", "GEPA via the gepa package, our optimizer as its reflection model")
class GepaStrategy(BaseStrategy):
    """GEPA via the gepa package, our optimizer as its reflection model."""

    name: ClassVar[str] = "gepa"

    def steps_per_epoch(self, ctx: Trainer) -> int:
        return 1

    def step(self, ctx: Trainer, state: RunState) -> Proposal:
        number = state.global_step + 1
        record = StepRecord(
            step=number, epoch=state.epoch + 1, kind="step", skill_version=state.current_version
        )
        unit = Proposal(record, time.perf_counter(), ctx.tokens())  # GEPA validates its own
        if state.strategy_state.get("gepa_done"):
            record.note = "the GEPA search already ran"
        else:
            unit.adopt = self.search(ctx, state, record, number)
            # A search the budget stopped goes on (from GEPA's checkpoint) under a larger one.
            state.strategy_state["gepa_done"] = ctx.budget_spent() is None
        return unit

    def search(
        self, ctx: Trainer, state: RunState, record: StepRecord, number: int
    ) -> Adoption | None:
        """Run GEPA; its best candidate, unless that is the initial skill (or does not fit)."""
        try:
            import gepa
        except ImportError as exc:  # pragma: no cover - gepa is a dependency
            raise TrainError(
                "the gepa strategy needs the `gepa` package: pip install gepa"
            ) from exc
        folder = ctx.layout.root / "gepa"
        folder.mkdir(parents=True, exist_ok=True)
        # Its metric calls are capped by the run's target calls, else by its own option; with a
        # budget the user set (train.budget_calls / budget_tokens) and neither, it searches
        # until that budget is spent, checked between its iterations as the loop checks it
        # between steps.
        cap = ctx.cfg.strategy.target_calls or self.options.get("max_metric_calls")
        budget = int(cap) if cap else (None if ctx.budgets() else 300)
        adapter = SkillAdapter(ctx)
        result: Any = gepa.optimize(
            seed_candidate={COMPONENT: state.current_skill},
            trainset=list(ctx.splits["train"]),
            valset=list(ctx.splits["val"]),
            adapter=adapter,  # type: ignore[arg-type]
            reflection_lm=reflection_lm(ctx),
            max_metric_calls=budget,
            stop_callbacks=[BudgetStop(ctx)] if ctx.budgets() else None,
            reflection_minibatch_size=int(self.options.get("reflection_minibatch_size", 3)),
            candidate_selection_strategy=self.options.get("candidate_selection", "pareto"),
            run_dir=str(folder),
            seed=int(ctx.cfg.train.seed),
            raise_on_exception=False,
            display_progress_bar=False,
        )
        candidates = [dict(c) for c in result.candidates]
        best = candidates[result.best_idx].get(COMPONENT, "")
        scores = [float(s) for s in result.val_aggregate_scores]
        write_json_atomic(
            ctx.layout.root / "gepa" / "result.json",
            {
                "best_idx": result.best_idx,
                "val_scores": scores,
                "candidates": [c.get(COMPONENT, "") for c in candidates],
                "parents": [list(p) for p in result.parents],
                "total_metric_calls": result.total_metric_calls,
                "rollouts": adapter.rollouts,
                "max_metric_calls": budget,
                "budget": ctx.budgets() or None,
            },
        )
        record.n_train = adapter.rollouts
        record.proposed = max(0, len(candidates) - 1)
        record.val_current = scores[0] if scores else None
        record.val_candidate = scores[result.best_idx] if scores else None
        problem = fits(ctx, best) if best.strip() else ""
        if result.best_idx == 0 or problem:
            record.note = problem or "GEPA kept the initial skill"
            return None
        record.applied = record.selected = 1
        record.adopted = True
        record.applied_edits = [f"GEPA candidate {result.best_idx} of {len(candidates)}"]
        ctx.emit("gepa", step=number, candidates=len(candidates), best=json.dumps(scores[:20]))
        return Adoption(best, record.val_candidate)
