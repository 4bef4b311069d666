"""The runner: phases, the stop rule, budgets, checkpoints, resume and the test evaluation; and
the only writer of the run state's skills.

It drives any strategy over the engine (the context a strategy sees); both are built above
(skillfit.app) and handed in. Phases: init (once), steps, the epoch-end stages (slow_update,
meta_skill), test_eval, done. A step (or a slow update) returns a `Proposal`; the runner tests
its candidate skill with the acceptance policy, adopts it or puts its edits in the
rejected-edit buffer, and appends the record. The state is saved atomically after every unit,
so a killed run resumes at the unit it was in and reaches the same result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from skillfit.core.io import write_json_atomic, write_text_atomic
from skillfit.optim.acceptance import AcceptancePolicy, Measured, Ungated
from skillfit.optim.gate import GateResult
from skillfit.record.models import GateVerdict
from skillfit.record.reader import STRATEGY_FILE
from skillfit.skill import Edit, Skill
from skillfit.train import buffer as buf
from skillfit.train.proposal import Adoption, Proposal, variants
from skillfit.train.state import BufferEntry, StepRecord

if TYPE_CHECKING:
    from skillfit.train.engine import Trainer
    from skillfit.train.state import RunState
    from skillfit.train.strategy import Strategy


# Why a run stopped when it was its budget (train.budget_calls, train.budget_tokens).
BUDGET_STOPS = ("budget_calls", "budget_tokens")


def target_calls_used(state: RunState) -> int:
    """Target calls spent on training so far (paid calls and cache hits; test not counted)."""
    total = 0
    for record in state.history:
        usage = record.tokens.get("target", {})
        total += int(usage.get("calls", 0)) + int(usage.get("cache_hits", 0))
    return total


class Runner:
    def __init__(
        self, engine: Trainer, strategy: Strategy, acceptance: AcceptancePolicy | None = None
    ) -> None:
        self.engine = engine
        self.strategy = strategy
        engine.forced_ablations = tuple(getattr(strategy, "ablate", ()) or ())
        # The run's acceptance policy: the configured gate, or none when the gate is ablated
        # (`strategy.ablate`, or a strategy's own: `ungated`). A proposal may carry its own.
        if acceptance is None:
            acceptance = Ungated() if engine.ablated("gate") else Measured(engine.cfg.gate)
        self.acceptance = acceptance

    def run(self, state: RunState) -> RunState:
        eng, strat = self.engine, self.strategy
        layout = eng.layout
        # The phases' counts so far (a resumed run carries on from its saved state).
        eng.phases.totals = {name: dict(row) for name, row in state.phases.items()}
        if state.phase == "done" and state.stopped in BUDGET_STOPS and not eng.budget_spent():
            # Stopped by its budget, resumed under a larger one: train on from that step, then
            # test the best skill again.
            state.phase, state.stopped, state.test = "steps", None, None
            eng.emit("budget_resumed", state=state.brief())
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
            proposal = strat.init(eng, state)
            if proposal is not None:
                self.land(state, proposal)
                self.finish(state, proposal)
            state.strategy_state["initialized"] = True
            eng.save(state)
        while state.phase != "done":
            if state.phase == "steps":
                if state.step_in_epoch >= state.steps_per_epoch:
                    # The epoch-end stages cost calls too: a spent budget stops before them.
                    spent = eng.budget_spent()
                    if spent:
                        self.stop(state, spent)
                    else:
                        state.phase = "slow_update"
                    continue
                reason = self.stop_reason(state)
                if reason:
                    self.stop(state, reason)
                else:
                    proposal = strat.step(eng, state)
                    if proposal is not None:
                        self.land(state, proposal)
                    state.global_step += 1
                    state.step_in_epoch += 1
                    if proposal is not None:
                        self.finish(state, proposal)
            elif state.phase == "slow_update":
                with eng.phase("epoch_end"):
                    proposal = strat.epoch_end(eng, state, "slow_update")
                if proposal is not None:
                    self.land(state, proposal)
                    self.finish(state, proposal)
                state.phase = "meta_skill"
            elif state.phase == "meta_skill":
                with eng.phase("epoch_end"):
                    strat.epoch_end(eng, state, "meta_skill")
                state.epoch += 1
                state.step_in_epoch = 0
                state.epoch_start_skill = state.current_skill
                state.phase = "steps"
                eng.emit("epoch_end", epoch=state.epoch, state=state.brief())
                reason = self.stop_reason(state)
                if reason:
                    self.stop(state, reason)
            elif state.phase == "test_eval":
                if getattr(eng.cfg.eval, "test", True):
                    eng.test_eval(state)
                state.phase = "done"
            eng.save(state)
        eng.write_summary(state)
        eng.emit("run_end", state=state.brief(), test=test_brief(state.test))
        return state

    def stop(self, state: RunState, reason: str) -> None:
        """Stop training for `reason`; the test evaluation comes next."""
        state.stopped = reason
        state.phase = "test_eval"
        if reason in BUDGET_STOPS:
            report = self.engine.budget_report(state) or {}
            self.engine.emit("budget_spent", reason=reason, **report)

    def stop_reason(self, state: RunState) -> str | None:
        """The one stop rule: epochs done, max_steps, patience, the target-call budget, or the
        budget the user set (train.budget_calls, train.budget_tokens)."""
        cfg = self.engine.cfg
        if state.epoch >= int(cfg.train.epochs):
            return "epochs"
        max_steps = getattr(cfg.train, "max_steps", None)
        if max_steps and state.global_step >= int(max_steps):
            return "max_steps"
        patience = getattr(cfg.train, "patience", None)
        if patience and state.steps_since_adoption >= int(patience):
            return "patience"
        budget = cfg.strategy.target_calls
        if budget and target_calls_used(state) >= int(budget):
            return "target_calls"
        return self.engine.budget_spent()

    # ---- landing a proposal: gate → adopt or reject ----------------------------------------

    def land(self, state: RunState, p: Proposal) -> None:
        """Test the proposal's candidate (and, as the policy allows, each of its edits alone:
        `gate.candidates`) in order; adopt the first that passes, or reject the whole update."""
        eng, record, folder = self.engine, p.record, p.folder
        if p.adopt is not None:
            self.adopt(state, p.adopt)
            return
        assert record is not None
        if p.candidate is None:
            if folder is not None:  # nothing to gate; without a folder the strategy settled it
                write_json_atomic(folder / "gate.json", {"skipped": record.note})
                state.steps_since_adoption += record.kind == "step"
            return
        assert p.skill is not None and folder is not None
        policy = p.policy or self.acceptance
        wanted = policy.max_candidates(int(eng.cfg.gate.candidates))
        tries = variants(p.skill, p.candidate, p.applied, wanted, int(eng.cfg.skill.max_tokens))
        gates: list[GateResult] = []
        for v in tries:
            if gates and gates[-1].accepted:
                break
            with eng.phase("gate"):
                gate = policy.judge(eng, p.skill.text, v.skill.text, len(tries))
            # Written before the infrastructure check so a stopped run keeps the verdict it
            # stopped on; the adopted (or first) candidate's files are written last.
            write_text_atomic(folder / "candidate_skill.md", v.skill.text)
            write_json_atomic(folder / "gate.json", gate.to_dict())
            # An undecidable gate (every item excluded) always stops here: it is deferred to
            # the resumed run, never recorded as a rejection nor put in the rejected-edit buffer.
            eng.check_infra(
                f"step {record.step} ({record.kind}): gate ({v.label})",
                failed=gate.n_excluded,
                total=gate.n_scored,
                first=gate.first_error,
            )
            gates.append(gate)
        chosen = len(gates) - 1 if gates[-1].accepted else 0
        if len(tries) > 1:
            write_json_atomic(
                folder / "candidates.json",
                [
                    {
                        "label": v.label,
                        "edits": [e.model_dump(mode="json") for e in v.applied],
                        "adopted": i == chosen and g.accepted,
                        "gate": g.to_dict(),
                    }
                    for i, (v, g) in enumerate(zip(tries, gates, strict=False))
                ],
            )
        pick, gate = tries[chosen], gates[chosen]
        write_text_atomic(folder / "candidate_skill.md", pick.skill.text)
        write_json_atomic(folder / "gate.json", gate.to_dict())
        if gate.accepted and chosen:
            record.applied_edits = [e.describe() for e in pick.applied]
        self.update(state, record, pick.skill, p.applied, gate)

    def update(
        self,
        state: RunState,
        record: StepRecord,
        candidate: Skill,
        applied: list[Edit],
        gate: GateResult,
    ) -> None:
        """Adopt `candidate` (a new skill version, the best so far) or keep the current skill
        and remember the rejected edits in the buffer."""
        eng = self.engine
        brief = _gate_brief(gate)
        current, cand = brief.current_mean, brief.candidate_mean
        record.gate = brief
        record.val_current, record.val_candidate = current, cand
        eng.emit(
            "gate",
            step=record.step,
            kind=record.kind,
            accepted=brief.accepted,
            current=current,
            candidate=cand,
            reason=brief.reason,
        )
        if gate.accepted:
            record.adopted = True
            state.current_skill = candidate.text
            state.current_version += 1
            state.current_score = cand
            state.best_skill, state.best_version = candidate.text, state.current_version
            state.best_score = cand
            state.steps_since_adoption = 0
            write_text_atomic(eng.layout.skill(state.current_version), candidate.text)
            write_text_atomic(eng.layout.best_skill, candidate.text)
            return
        state.current_score = current
        if state.best_version == state.current_version:
            # The best skill is the last adopted one (each adoption beat its predecessor on
            # a paired test); its score follows the latest measurement of it.
            state.best_score = current
        delta = cand - current if cand is not None and current is not None else None
        entries = [
            BufferEntry(
                step=record.step,
                kind=record.kind,
                edit=e.model_dump(mode="json"),
                delta=delta,
                reason=brief.reason,
                skill_version=state.current_version,
            )
            for e in applied
        ]
        if not eng.ablated("buffer"):
            state.buffer = buf.push(state.buffer, entries, int(eng.cfg.buffer.max_items))
        if record.kind == "step":
            state.steps_since_adoption += 1

    def adopt(self, state: RunState, adoption: Adoption) -> None:
        """Make a skill the strategy chose itself the current and best skill, a new version."""
        layout = self.engine.layout
        text = Skill.parse(adoption.skill).text
        state.current_version += 1
        state.current_skill = state.best_skill = text
        state.best_version = state.current_version
        state.current_score = state.best_score = adoption.score
        write_text_atomic(layout.skill(state.current_version), text)
        write_text_atomic(layout.best_skill, text)

    def finish(self, state: RunState, p: Proposal) -> None:
        if p.record is not None:
            self.engine.finish(state, p.record, p.started, p.tokens0)


def test_brief(test: Any) -> dict[str, Any] | None:
    if not test:
        return None
    return {
        k: ({kk: vv for kk, vv in v.items() if kk != "per_item"} if isinstance(v, dict) else v)
        for k, v in test.items()
    }


def _gate_brief(gate: GateResult) -> GateVerdict:
    """The verdict as history.json keeps it: every count, no per-item rows."""
    full = gate.to_dict()  # NaN already turned into None
    paired = full.get("paired") or {}
    return GateVerdict(
        accepted=bool(full["accepted"]),
        reason=str(full["reason"]),
        current_mean=full["current_mean"],
        candidate_mean=full["candidate_mean"],
        mean_diff=paired.get("mean_diff"),
        ci_low=paired.get("ci_low"),
        ci_high=paired.get("ci_high"),
        p_value=paired.get("p_value"),
        n_items=full["n_items"],
        n_scored=full["n_scored"],
        n_excluded=full["n_excluded"],
        n_compared=full["n_compared"],
        # Items whose outcome the candidate changed, either way: how much the target reacts to
        # what the optimizer writes at all.
        wins=paired.get("wins"),
        losses=paired.get("losses"),
        stopped_early=full["stopped_early"],
    )
