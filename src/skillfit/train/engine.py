"""The training loop over explicit state.

A step is a composition of small functions: rollout → reflect → guard → merge/rank → apply →
gate → update → record. At each epoch end a slow update (its edits pass the same gate) and a
meta-skill update (optimizer-side notes, never deployed) run; at the end the test split is
evaluated with no skill, the initial skill and the best skill. The state is saved atomically
after every unit of work, so a killed run resumes where it stopped and reaches the same result.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from skillfit.models.base import ChatModel
from skillfit.models.redact import redact
from skillfit.optim.guard import (
    ItemWords,
    Rejection,
    feedback_needles,
    item_words,
    leak_needles,
)
from skillfit.optim.merge import Candidate
from skillfit.optim.notes import clean_notes
from skillfit.optim.optimizer import MetaNotes, ask, edits_schema, parroted, per_reply, to_edits
from skillfit.optim.pipeline import EditBatch, run_pipeline
from skillfit.optim.prompting import (
    load_prompt,
    optimizer_prompts,
    render_edit,
    render_skill,
    render_target,
)
from skillfit.optim.schedules import make_schedule
from skillfit.skill import Edit, Skill, mentions_any
from skillfit.tasks.base import Item, Task, Trajectory
from skillfit.train import buffer as buf
from skillfit.train.errors import InfraFailure
from skillfit.train.evaluation import EvalResult, compare, evaluate_skill, trajectory_rows
from skillfit.train.gate import GateResult, run_gate, ungated
from skillfit.train.io import write_json_atomic, write_jsonl, write_text_atomic
from skillfit.train.layout import RunLayout, fresh_dir
from skillfit.train.reflect import (
    MinibatchProposal,
    OptimizerSettings,
    ReflectionMode,
    memory_parts,
    reflect,
)
from skillfit.train.rollout import (
    mean_hard,
    rollout_batch,
    rollout_one,
    thread_map,
    trajectory_record,
)
from skillfit.train.state import BufferEntry, RunState, StepRecord, derived_rng

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
    _needles: tuple[str, ...] = field(default=(), init=False)
    _words: ItemWords | None = field(default=None, init=False)
    forced_ablations: tuple[str, ...] = field(default=(), init=False)

    def __post_init__(self) -> None:
        # The guard knows every item the optimizer may ever see or the gate measures on.
        self._needles = leak_needles([*self.splits["train"], *self.splits["val"]])
        self._words = item_words(
            [*self.splits["train"], *self.splits["val"]],
            common=self._common_vocabulary(),
            task_text=self._task_text(),
        )
        self.map = thread_map(max(1, int(self.cfg.train.concurrency)))
        self.schedule = make_schedule(self.cfg.schedule, self.total_steps)
        self.settings = OptimizerSettings.from_config(self.cfg.optimizer)
        self.reflection: ReflectionMode = getattr(self.cfg.optimizer, "reflection", "diagnose")

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

    # ---- the loop -----------------------------------------------------------------------

    def stop_reason(self, state: RunState) -> str | None:
        if state.epoch >= int(self.cfg.train.epochs):
            return "epochs"
        max_steps = getattr(self.cfg.train, "max_steps", None)
        if max_steps and state.global_step >= int(max_steps):
            return "max_steps"
        patience = getattr(self.cfg.train, "patience", None)
        if patience and state.steps_since_adoption >= int(patience):
            return "patience"
        return None

    def save(self, state: RunState) -> None:
        write_json_atomic(self.layout.history, [r.model_dump(mode="json") for r in state.history])
        if self.parts.ledger is not None and hasattr(self.parts.ledger, "journal_size"):
            state.journal_bytes = self.parts.ledger.journal_size()
        state.save(self.layout.state)

    # ---- one step -----------------------------------------------------------------------

    def batch(self, epoch: int, index: int) -> list[Item]:
        """Batch `index` of epoch `epoch`: a seeded shuffle of train per epoch."""
        train = list(self.splits["train"])
        derived_rng(self.cfg.train.seed, "epoch", epoch).shuffle(train)
        size = max(1, int(self.cfg.train.batch_size))
        return train[index * size : (index + 1) * size]

    def step(self, state: RunState) -> None:
        started, tokens0 = time.perf_counter(), self._tokens()
        number = state.global_step + 1
        folder = fresh_dir(self.layout.step(number))
        budget = self.budget_at(state.global_step)
        skill = Skill.parse(state.current_skill)
        items = self.batch(state.epoch, state.step_in_epoch)
        self.emit("step_start", step=number, epoch=state.epoch + 1, budget=budget)

        trajs = rollout_batch(
            self.parts.task,
            self.parts.target,
            skill.text,
            items,
            sample=state.epoch,
            concurrency=int(self.cfg.train.concurrency),
        )
        write_jsonl(
            folder / "rollouts.jsonl",
            [trajectory_record(t, i) for i, t in zip(items, trajs, strict=True)],
        )
        self.check_infra(f"step {number}: train rollouts", trajs)
        record = StepRecord(
            step=number,
            epoch=state.epoch + 1,
            budget=budget,
            train_score=mean_hard(trajs),
            n_train=len(trajs),
            n_infra_errors=sum(1 for t in trajs if t.error is not None),
            skill_version=state.current_version,
        )
        self.emit(
            "rollouts",
            step=number,
            train_score=record.train_score,
            n=len(trajs),
            errors=record.n_infra_errors,
        )

        proposals = []
        if budget > 0:
            proposals = self.reflect(state, skill, items, trajs, budget)
        if not proposals:
            record.note = "no budget" if budget <= 0 else "no failures to reflect on"
        self.land_proposals(
            state, record, skill, proposals, budget, folder, feedback_needles(trajs)
        )
        state.global_step = number
        state.step_in_epoch += 1
        self.finish(state, record, started, tokens0)

    # ---- shared by steps and slow updates: guard → merge → apply → gate → update ---------

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
            needles=self._needles,
            context=context,
            words=self._words,
        )

    def land_proposals(
        self,
        state: RunState,
        record: StepRecord,
        skill: Skill,
        proposals: Sequence[MinibatchProposal],
        budget: int,
        folder: Any,
        feedback: Sequence[str],
    ) -> None:
        """Record the optimizer's proposals, then land their edits (see `land`)."""
        write_json_atomic(folder / "proposals.json", [p.to_dict() for p in proposals])
        self.check_optimizer(f"step {record.step} ({record.kind}): optimizer", proposals)
        record.n_minibatches = len(proposals)
        record.n_failed_minibatches = sum(1 for p in proposals if not p.ok)
        self.land(
            state,
            record,
            skill,
            [(p.index, e) for p in proposals for e in p.edits],
            {p.index: p.n_failures for p in proposals},
            budget,
            folder,
            extra_rejected=[
                Rejection(r["edit"], r["reason"], p.index) for p in proposals for r in p.invalid
            ],
            feedback=feedback,
        )

    def land(
        self,
        state: RunState,
        record: StepRecord,
        skill: Skill,
        pooled: list[tuple[int, Edit]],
        failures: Mapping[int, int],
        budget: int,
        folder: Any,
        *,
        extra_rejected: Sequence[Rejection] = (),
        feedback: Sequence[str] = (),
    ) -> None:
        tried = [Edit(**b.edit) for b in state.buffer if b.skill_version == state.current_version]
        batch = run_pipeline(
            EditBatch(
                skill=skill,
                pooled=list(pooled),
                failures=failures,
                budget=budget,
                max_tokens=int(self.cfg.skill.max_tokens),
                needles=self._needles,
                tried=tried,
                feedback=feedback,
                guard_options={"words": self._words},
                rejected=list(extra_rejected),
            )
        )
        rejected, ranked, conflicts = batch.rejected, batch.ranked, batch.conflicts
        selected, over_budget, too_big = batch.selected, batch.over_budget, batch.too_big
        outcomes, applied = batch.outcomes, batch.applied
        assert batch.candidate is not None
        candidate = batch.candidate
        write_json_atomic(
            folder / "merged.json",
            {
                "guard_rejected": [r.to_dict() for r in rejected],
                "ranked": [c.to_dict() for c in ranked],
                "conflicts": [c.to_dict() for c in conflicts],
            },
        )
        write_json_atomic(
            folder / "selected.json",
            {
                "budget": budget,
                "selected": [c.to_dict() for c in selected],
                "over_budget": [c.to_dict() for c in over_budget],
                "dropped_for_size": [c.to_dict() for c in too_big],
                "outcomes": [o.model_dump(mode="json") for o in outcomes],
            },
        )
        record.proposed = len(pooled) + len(extra_rejected)
        record.guard_rejected = len(rejected)
        record.merged = len(ranked)
        record.selected = len(selected)
        record.applied = len(applied)
        record.unapplied = sum(1 for o in outcomes if not o.applied)
        record.applied_edits = [e.describe() for e in applied]
        if applied and candidate.text == skill.text:
            record.note = "the applied edits change nothing"
        if not applied or candidate.text == skill.text:
            write_text_atomic(folder / "candidate_skill.md", candidate.text)
            record.note = record.note or "no edit applied"
            write_json_atomic(folder / "gate.json", {"skipped": record.note})
            state.steps_since_adoption += record.kind == "step"
            return
        if self.ablated("gate"):
            write_text_atomic(folder / "candidate_skill.md", candidate.text)
            gate = ungated()
            write_json_atomic(folder / "gate.json", gate.to_dict())
            self.update(state, record, candidate, applied, gate)
            return
        tries = variants(
            skill, candidate, applied, int(self.cfg.gate.candidates), int(self.cfg.skill.max_tokens)
        )
        # Each of k candidates is tested at alpha / k, so the chance that noise is adopted
        # somewhere among them stays at most alpha (Bonferroni).
        config = self.cfg.gate.model_copy(update={"alpha": self.cfg.gate.alpha / len(tries)})
        gates: list[GateResult] = []
        for v in tries:
            if gates and gates[-1].accepted:
                break
            gate = self.gate(skill.text, v.skill.text, config)
            # Written before the infrastructure check so a stopped run keeps the verdict it
            # stopped on; the adopted (or first) candidate's files are written last.
            write_text_atomic(folder / "candidate_skill.md", v.skill.text)
            write_json_atomic(folder / "gate.json", gate.to_dict())
            # An undecidable gate (every item excluded) always stops here: it is deferred to
            # the resumed run, never recorded as a rejection nor put in the rejected-edit buffer.
            self.check_infra(
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
        if gate.accepted:
            record.applied_edits = [e.describe() for e in pick.applied]
        self.update(state, record, pick.skill, applied, gate)

    def gate(self, current: str, candidate: str, config: Any = None) -> Any:
        """The gate's verdict on `candidate` against `current` on the val split (`config`: a
        GateConfig other than the run's, for strategies with their own acceptance rule)."""
        config = self.cfg.gate if config is None else config
        metric = getattr(config, "metric", "hard")
        errors: list[str] = []

        def scorer(skill_text: str) -> Callable[[Item, int], float | None]:
            def score(item: Item, sample: int) -> float | None:
                traj = rollout_one(self.parts.task, self.parts.target, skill_text, item, sample)
                if not traj.ok or traj.score is None:
                    errors.append(traj.error or "no score")
                    return None
                return float(traj.score.soft if metric == "soft" else traj.score.hard)

            return score

        result = run_gate(
            list(self.splits["val"]),
            scorer(current),
            scorer(candidate),
            config,
            batch_size=max(1, int(self.cfg.train.concurrency)) * 4,
            map_fn=self.map,
        )
        result.first_error = errors[0] if errors else ""
        return result

    def update(
        self, state: RunState, record: StepRecord, candidate: Skill, applied: list[Edit], gate: Any
    ) -> None:
        brief = _gate_brief(gate)
        current, cand = brief["current_mean"], brief["candidate_mean"]
        record.gate = brief
        record.val_current, record.val_candidate = current, cand
        self.emit(
            "gate",
            step=record.step,
            kind=record.kind,
            accepted=brief["accepted"],
            current=current,
            candidate=cand,
            reason=brief["reason"],
        )
        if gate.accepted:
            record.adopted = True
            state.current_skill = candidate.text
            state.current_version += 1
            state.current_score = cand
            state.best_skill, state.best_version = candidate.text, state.current_version
            state.best_score = cand
            state.steps_since_adoption = 0
            write_text_atomic(self.layout.skill(state.current_version), candidate.text)
            write_text_atomic(self.layout.best_skill, candidate.text)
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
                reason=brief["reason"],
                skill_version=state.current_version,
            )
            for e in applied
        ]
        if not self.ablated("buffer"):
            state.buffer = buf.push(state.buffer, entries, int(self.cfg.buffer.max_items))
        if record.kind == "step":
            state.steps_since_adoption += 1

    def finish(self, state: RunState, record: StepRecord, started: float, tokens0: Any) -> None:
        record.skill_version = state.current_version
        record.skill_tokens = Skill.parse(state.current_skill).n_tokens()
        record.tokens = _token_delta(tokens0, self._tokens())
        record.seconds = round(time.perf_counter() - started, 3)
        state.history.append(record)
        self.emit("step_end", record=record.model_dump(mode="json"), state=state.brief())

    def _tokens(self) -> Any:
        if self.parts.ledger is None:
            return {}
        snapshot = self.parts.ledger.snapshot()
        # After a resume, the first unit's starting point leaves out the calls it had paid
        # before the kill, so its record (and the run's totals) count them as paid.
        carried: dict[str, Any] = getattr(self.parts.ledger, "take_carried", dict)()
        return _token_delta(carried, snapshot) if carried else snapshot

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

    # ---- epoch end ----------------------------------------------------------------------

    def slow_update(self, state: RunState) -> None:
        """Compare the epoch's starting skill with the current one on sampled train items;
        the optimizer distils longer-horizon lessons as edits, which must pass the gate."""
        started, tokens0 = time.perf_counter(), self._tokens()
        epoch = state.epoch + 1
        folder = fresh_dir(self.layout.slow_update(epoch))
        train = list(self.splits["train"])
        n = min(len(train), max(1, int(self.cfg.slow_update.n_items)))
        items = derived_rng(self.cfg.train.seed, "slow", state.epoch).sample(train, n)
        prev, cur = Skill.parse(state.epoch_start_skill), Skill.parse(state.current_skill)
        conc = int(self.cfg.train.concurrency)
        before = rollout_batch(
            self.parts.task,
            self.parts.target,
            prev.text,
            items,
            sample=state.epoch,
            concurrency=conc,
        )
        after = rollout_batch(
            self.parts.task,
            self.parts.target,
            cur.text,
            items,
            sample=state.epoch,
            concurrency=conc,
        )
        write_jsonl(
            folder / "rollouts.jsonl",
            [
                {"version": v, **trajectory_record(t, it)}
                for v, trajs in (("earlier", before), ("current", after))
                for it, t in zip(items, trajs, strict=True)
            ],
        )
        self.check_infra(f"epoch {epoch} slow update: rollouts", [*before, *after])
        budget = max(1, self.budget_at(max(0, state.global_step - 1)))
        record = StepRecord(
            step=state.global_step,
            epoch=epoch,
            kind="slow_update",
            budget=budget,
            train_score=mean_hard(after),
            n_train=len(items),
            n_infra_errors=sum(1 for t in after if t.error is not None),
            skill_version=state.current_version,
        )
        self.emit("slow_update_start", epoch=epoch)
        meta = state.meta_skill if self.uses("meta_skill") else ""
        if self.reflection == "diagnose":
            proposals = self.reflect(
                state, cur, items, after, budget, context=epoch_context(prev, cur, before, after)
            )
            if not proposals:
                record.note = "no failures to reflect on"
            self.land_proposals(
                state, record, cur, proposals, budget, folder, feedback_needles([*before, *after])
            )
            self.finish(state, record, started, tokens0)
            return
        messages = slow_update_messages(
            prev, cur, items, before, after, meta, state.buffer, budget=budget
        )
        answer = ask(
            self.parts.optimizer,
            messages,
            edits_schema(cur.section_ids, budget),
            max_tokens=self.settings.max_tokens,
            temperature=self.settings.temperature,
            retries=self.settings.retries,
            check=parroted,
        )
        edits, invalid_raw = to_edits(answer.parsed) if answer.ok else ([], [])
        write_json_atomic(
            folder / "proposals.json",
            [
                {
                    "index": 0,
                    "ok": answer.ok,
                    "edits": [e.model_dump(mode="json") for e in edits],
                    "invalid_edits": invalid_raw,
                    "messages": messages,
                    "optimizer": answer.to_dict(),
                }
            ],
        )
        record.n_minibatches = 1
        record.n_failed_minibatches = 0 if answer.ok else 1
        failing = sum(1 for t in after if t.ok and t.score is not None and t.score.hard == 0)
        extra = [Rejection(r["edit"], r["reason"], 0) for r in invalid_raw]
        self.land(
            state,
            record,
            cur,
            [(0, e) for e in edits],
            {0: failing},
            budget,
            folder,
            extra_rejected=extra,
            feedback=feedback_needles([*before, *after]),
        )
        self.finish(state, record, started, tokens0)

    def meta_update(self, state: RunState) -> None:
        """Optimizer-side notes on which kinds of edits helped or hurt. Shown to later
        reflections; never part of the deployed skill."""
        epoch = state.epoch + 1
        folder = fresh_dir(self.layout.meta_skill(epoch))
        lines = history_lines(state.history)
        messages: list[Any] = [
            {"role": "system", "content": load_prompt("meta_skill")},
            {
                "role": "user",
                "content": (
                    f"# Notes so far\n{state.meta_skill.strip() or '(none yet)'}\n\n"
                    f"# Edits tried\n{lines or '(no edit was tried yet)'}\n\n"
                    "Write the new notes. Reply with JSON only."
                ),
            },
        ]
        answer = ask(
            self.parts.optimizer,
            messages,
            MetaNotes,
            max_tokens=self.settings.max_tokens,
            temperature=self.settings.temperature,
            retries=self.settings.retries,
        )
        note = "kept the previous notes: the optimizer gave no valid reply"
        if answer.ok:
            raw = answer.parsed.notes.strip()
            adopted = any(r.adopted for r in state.history if r.applied_edits)
            notes = clean_notes(raw, needles=self._needles, words=self._words, adopted=adopted)
            if notes:
                state.meta_skill = notes
                note = "updated" if notes == raw else "updated (cleaned)"
            elif not raw:
                note = "kept the previous notes: the new ones are empty"
            elif mentions_any(raw, self._needles, min_len=12):
                note = "kept the previous notes: the new ones quote a task"
            else:
                note = "kept the previous notes: nothing was left of the new ones after cleaning"
        write_json_atomic(
            folder / "reply.json",
            {"messages": messages, "optimizer": answer.to_dict(), "result": note},
        )
        write_text_atomic(
            folder / "meta_skill.md", state.meta_skill + ("\n" if state.meta_skill else "")
        )
        self.emit("meta_skill", epoch=epoch, result=note)

    # ---- the end ------------------------------------------------------------------------

    def test_eval(self, state: RunState) -> None:
        """Test accuracy (with Wilson intervals) of no skill, the initial and the best skill,
        and the paired differences best − none and best − initial."""
        started, tokens0 = time.perf_counter(), self._tokens()
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
                )
            res, trajs = done[text]
            self.check_infra(f"test evaluation ({name} skill)", trajs)
            results[name] = _renamed(res, name)
            write_jsonl(folder / f"{name}.jsonl", trajectory_rows(items, samples, trajs))
        out: dict[str, Any] = {name: r.to_dict() for name, r in results.items()}
        out["best_vs_none"] = compare(results["best"], results["none"])
        out["best_vs_initial"] = compare(results["best"], results["initial"])
        out["best_version"] = state.best_version
        out["tokens"] = _token_delta(tokens0, self._tokens())
        out["seconds"] = round(time.perf_counter() - started, 3)
        write_json_atomic(folder / "results.json", out)
        state.test = out

    def write_summary(self, state: RunState) -> None:
        summary = summarize(self.cfg, state)
        totals = self._run_totals(state)
        if totals is not None:
            summary["tokens"] = totals
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


def apply_within(
    skill: Skill, selected: Sequence[Candidate], max_tokens: int
) -> tuple[Skill, list[Any], list[Candidate]]:
    """Apply the selected edits; if together they overflow the token limit, drop the
    lowest-ranked ones until the candidate fits."""
    chosen = list(selected)
    dropped: list[Candidate] = []
    while True:
        result = skill.apply([c.edit for c in chosen])
        if result.skill.n_tokens() <= max_tokens or not chosen:
            return result.skill, list(result.outcomes), dropped
        dropped.insert(0, chosen.pop())


def epoch_context(
    prev: Skill, cur: Skill, before: Sequence[Trajectory], after: Sequence[Trajectory]
) -> str:
    """For the epoch-end rules call: how the guide changed this epoch and what that did."""

    def solved(trajs: Sequence[Trajectory]) -> str:
        done = [t for t in trajs if t.ok and t.score is not None]
        return f"{sum(t.score.hard for t in done if t.score)} of {len(done)}"

    if prev.text == cur.text:
        return "# This epoch\nThe guide did not change during this epoch."
    return (
        "# This epoch\nAt the start of this epoch the guide was:\n"
        f"{render_skill(prev)}\n\nOn the same tasks the earlier guide solved {solved(before)}, "
        f"the current one {solved(after)}. Rules may also delete what does not help."
    )


def slow_update_messages(
    prev: Skill,
    cur: Skill,
    items: Sequence[Item],
    before: Sequence[Trajectory],
    after: Sequence[Trajectory],
    meta_skill: str,
    rejected: Sequence[BufferEntry] = (),
    budget: int = 1,
    limit: int = 8,
) -> list[Any]:
    def verdict(t: Trajectory) -> str:
        if not t.ok or t.score is None:
            return "not run"
        return "right" if t.score.hard else "wrong"

    from skillfit.optim.prompting import clip

    rows: list[str] = []
    for it, b, a in zip(items, before, after, strict=True):
        if not (a.ok and b.ok):
            continue
        if a.score and b.score and a.score.hard and b.score.hard:
            continue  # solved by both: nothing to learn
        rows.append(
            f"## Task {len(rows) + 1}\nInput:\n{clip(it.input, 500)}\n"
            f"Expected: {clip(render_target(it.target), 200)}\n"
            f"Earlier version: {verdict(b)}. Current version: {verdict(a)}, answer:\n"
            f"{clip(a.answer, 300) or '(empty)'}"
        )
        if len(rows) >= limit:
            break
    same = prev.text == cur.text
    parts = [
        "# Earlier version\n" + ("(same as the current version)" if same else render_skill(prev)),
        "# Current version\n" + render_skill(cur),
    ]
    parts += memory_parts(meta_skill, rejected)
    parts.append("# Tasks\n" + ("\n\n".join(rows) if rows else "(both versions solved every task)"))
    k = per_reply(budget)
    parts.append(
        f"Propose at most {k} {'edit' if k == 1 else 'different edits'} to the current version. "
        "Reply with JSON only."
    )
    return [
        {"role": "system", "content": load_prompt("slow_update")},
        {"role": "user", "content": "\n\n".join(parts)},
    ]


def history_lines(history: Sequence[StepRecord], limit: int = 30) -> str:
    lines = []
    for r in history:
        if not r.applied_edits:
            continue
        change = ""
        if r.val_candidate is not None and r.val_current is not None:
            change = f", val score change {r.val_candidate - r.val_current:+.2f}"
        verdict = "adopted" if r.adopted else "rejected"
        for e in r.applied_edits:
            lines.append(f"- step {r.step}: {e} ({verdict}{change})")
    return "\n".join(lines[-limit:])


def summarize(cfg: Any, state: RunState) -> dict[str, Any]:
    steps = [r for r in state.history if r.kind == "step"]
    tokens: dict[str, dict[str, float]] = {}
    for r in state.history:
        _add_tokens(tokens, r.tokens)
    if state.test:
        _add_tokens(tokens, state.test.get("tokens", {}))
    test = None
    if state.test:
        test = {k: v for k, v in state.test.items() if k not in ("tokens",)}
        for arm in ("none", "initial", "best"):
            if isinstance(test.get(arm), dict):
                test[arm] = {k: v for k, v in test[arm].items() if k != "per_item"}
    return {
        "run": getattr(cfg.run, "name", ""),
        "task": getattr(cfg.task, "name", ""),
        "target": redact(str(getattr(cfg.target, "model", ""))),
        "optimizer": redact(str(getattr(cfg.optimizer, "model", ""))),
        "phase": state.phase,
        "stopped": state.stopped,
        "epochs_done": state.epoch,
        "steps": state.global_step,
        "adoptions": sum(1 for r in state.history if r.adopted),
        "edits_proposed": sum(r.proposed for r in state.history),
        "edits_applied": sum(r.applied for r in state.history),
        "best_version": state.best_version,
        "best_val_score": state.best_score,
        "best_skill_tokens": Skill.parse(state.best_skill).n_tokens(),
        "train_scores": [r.train_score for r in steps],
        # Rollouts excluded for infrastructure errors (train batches, gates, test arms): a run
        # never hides how much of it went unscored.
        "infra_errors": sum(r.n_infra_errors + _gate_excluded(r) for r in state.history)
        + sum(int((test or {}).get(arm, {}).get("n_errors", 0)) for arm in _ARMS if test),
        "val_outcomes_moved": outcomes_moved(state.history),
        "test": test,
        "tokens": tokens,
        "seconds": round(
            sum(r.seconds for r in state.history) + float((state.test or {}).get("seconds", 0.0)), 3
        ),
    }


_ARMS = ("none", "initial", "best")


def outcomes_moved(history: Sequence[StepRecord]) -> dict[str, int]:
    """Over the run's updates (one gate each: with `gate.candidates` > 1, the adopted
    candidate's or else the whole update's): validation items compared on both sides, and
    those whose outcome the candidate changed (won or lost). Few moved means the target hardly
    reacts to its skill, whatever the optimizer writes: training has no room on that target."""
    moved = compared = 0
    for r in history:
        gate = r.gate or {}
        if gate.get("wins") is None or gate.get("losses") is None:
            continue  # a gate recorded before these counts were kept
        moved += int(gate["wins"]) + int(gate["losses"])
        compared += int(gate.get("n_compared") or 0)
    return {"moved": moved, "compared": compared}


def _gate_excluded(record: StepRecord) -> int:
    return int((record.gate or {}).get("n_excluded", 0) or 0)


def _renamed(res: EvalResult, name: str) -> EvalResult:
    from dataclasses import replace

    return replace(res, name=name)


def _token_delta(before: Any, after: Any) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for role, stats in (after or {}).items():
        prev = (before or {}).get(role, {})
        delta = {k: v - prev.get(k, 0) for k, v in stats.items() if isinstance(v, int | float)}
        if any(delta.values()):
            out[role] = {k: round(v, 6) if isinstance(v, float) else v for k, v in delta.items()}
    return out


def _add_tokens(
    total: dict[str, dict[str, float]], part: Mapping[str, Mapping[str, float]]
) -> None:
    # Counts stay integers (round() of an int is that int); seconds and cost are rounded.
    for role, stats in part.items():
        acc = total.setdefault(role, {})
        for k, v in stats.items():
            acc[k] = round(acc.get(k, 0) + v, 6)


def _gate_brief(gate: Any) -> dict[str, Any]:
    full = gate.to_dict()  # NaN already turned into None
    paired = full.get("paired") or {}
    return {
        "accepted": bool(full["accepted"]),
        "reason": str(full["reason"]),
        "current_mean": full["current_mean"],
        "candidate_mean": full["candidate_mean"],
        "mean_diff": paired.get("mean_diff"),
        "ci_low": paired.get("ci_low"),
        "ci_high": paired.get("ci_high"),
        "p_value": paired.get("p_value"),
        "n_items": full["n_items"],
        "n_scored": full["n_scored"],
        "n_excluded": full["n_excluded"],
        "n_compared": full["n_compared"],
        # Items whose outcome the candidate changed, either way: how much the target reacts to
        # what the optimizer writes at all.
        "wins": paired.get("wins"),
        "losses": paired.get("losses"),
        "stopped_early": full["stopped_early"],
    }


__all__ = ["Parts", "Progress", "Trainer", "apply_within", "render_edit"]
