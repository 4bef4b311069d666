"""The runner: phases, stop rules, budgets, checkpoints, resume and the test evaluation.

It drives any strategy over the engine; both are built above (skillfit.api) and handed in. Phases: init (once), steps, the epoch-end stages
(slow_update, meta_skill), test_eval, done. The state is saved atomically after every unit, so
a killed run resumes at the unit it was in and reaches the same result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from skillfit.record.reader import STRATEGY_FILE
from skillfit.train.io import write_json_atomic, write_text_atomic

if TYPE_CHECKING:
    from skillfit.train.engine import Trainer
    from skillfit.train.state import RunState
    from skillfit.train.strategy import Strategy


def target_calls_used(state: RunState) -> int:
    """Target calls spent on training so far (paid calls and cache hits; test not counted)."""
    total = 0
    for record in state.history:
        usage = record.tokens.get("target", {})
        total += int(usage.get("calls", 0)) + int(usage.get("cache_hits", 0))
    return total


class Runner:
    def __init__(self, engine: Trainer, strategy: Strategy) -> None:
        self.engine = engine
        self.strategy = strategy
        engine.forced_ablations = tuple(getattr(strategy, "ablate", ()) or ())

    def run(self, state: RunState) -> RunState:
        eng, strat = self.engine, self.strategy
        layout = eng.layout
        if not layout.skill(1).exists():
            write_text_atomic(layout.skill(1), state.initial_skill)
            write_text_atomic(layout.best_skill, state.best_skill)
        write_json_atomic(
            layout.root / STRATEGY_FILE,
            {
                "name": strat.name,
                "options": dict(getattr(strat, "options", {}) or {}),
                "ablate": sorted({*eng.cfg.strategy.ablate, *eng.forced_ablations}),
                "target_calls": eng.cfg.strategy.target_calls,
            },
        )
        eng.emit("run_start", state=state.brief(), total_steps=state.total_steps)
        if not state.strategy_state.get("initialized"):
            strat.init(eng, state)
            state.strategy_state["initialized"] = True
            eng.save(state)
        while state.phase != "done":
            if state.phase == "steps":
                if state.step_in_epoch >= state.steps_per_epoch:
                    state.phase = "slow_update"
                    continue
                reason = self.stop_reason(state)
                if reason:
                    state.stopped = reason
                    state.phase = "test_eval"
                else:
                    strat.step(eng, state)
            elif state.phase == "slow_update":
                strat.epoch_end(eng, state, "slow_update")
                state.phase = "meta_skill"
            elif state.phase == "meta_skill":
                strat.epoch_end(eng, state, "meta_skill")
                state.epoch += 1
                state.step_in_epoch = 0
                state.epoch_start_skill = state.current_skill
                state.phase = "steps"
                eng.emit("epoch_end", epoch=state.epoch, state=state.brief())
                reason = self.stop_reason(state)
                if reason:
                    state.stopped = reason
                    state.phase = "test_eval"
            elif state.phase == "test_eval":
                if getattr(eng.cfg.eval, "test", True):
                    eng.test_eval(state)
                state.phase = "done"
            eng.save(state)
        eng.write_summary(state)
        eng.emit("run_end", state=state.brief(), test=test_brief(state.test))
        return state

    def stop_reason(self, state: RunState) -> str | None:
        reason = self.engine.stop_reason(state)
        if reason:
            return reason
        budget = self.engine.cfg.strategy.target_calls
        if budget and target_calls_used(state) >= int(budget):
            return "target_calls"
        return None


def test_brief(test: Any) -> dict[str, Any] | None:
    if not test:
        return None
    return {
        k: ({kk: vv for kk, vv in v.items() if kk != "per_item"} if isinstance(v, dict) else v)
        for k, v in test.items()
    }
