"""End-to-end behaviour of the training loop on a scripted target and optimizer."""

from __future__ import annotations

import json
from pathlib import Path

from train_fakes import MAGIC, AddTask, Optimizer, config, edit, run, solve, target_model

from skillfit.models.base import InfraError
from skillfit.models.scripted import Request, ScriptedModel


def read(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8"))


def test_a_helpful_edit_is_adopted_and_the_layout_is_complete(tmp_path: Path) -> None:
    cfg = config(tmp_path, "train.epochs=2", "slow_update.enabled=true", "meta_skill.enabled=true")
    task = AddTask(initial="# Guide\n\nBe careful.\n")
    result = run(cfg, task, target_model(), Optimizer().model)

    root = tmp_path / "run"
    assert result.run_dir == root
    assert MAGIC in result.best_skill
    assert result.best_val_score == 1.0
    moved = result.summary["val_outcomes_moved"]
    assert 0 < moved["moved"] <= moved["compared"]
    for name in (
        "config.json",
        "history.json",
        "runtime_state.json",
        "best_skill.md",
        "summary.json",
        "splits.json",
    ):
        assert (root / name).is_file(), name
    assert (root / "skills" / "skill_v0001.md").read_text() == "# Guide\n\nBe careful.\n"
    assert MAGIC in (root / "skills" / "skill_v0002.md").read_text()
    step1 = root / "steps" / "step_0001"
    for name in (
        "rollouts.jsonl",
        "proposals.json",
        "merged.json",
        "selected.json",
        "candidate_skill.md",
        "gate.json",
    ):
        assert (step1 / name).is_file(), name
    proposals = read(step1 / "proposals.json")
    assert proposals[0]["optimizer"]["attempts"][0]["raw"]  # the raw reply is kept
    assert (root / "slow_update" / "epoch_01" / "proposals.json").is_file()
    assert (root / "meta_skill" / "epoch_01" / "meta_skill.md").read_text().startswith("- adding")
    assert {p.name for p in (root / "test_eval").iterdir()} >= {
        "none.jsonl",
        "initial.jsonl",
        "best.jsonl",
        "results.json",
    }
    summary = read(root / "summary.json")
    assert summary["test"]["best"]["accuracy"] == 1.0
    assert summary["test"]["none"]["accuracy"] == 0.0
    assert summary["test"]["best_vs_none"]["mean_diff"] == 1.0
    assert 0 < summary["test"]["best"]["ci_low"] < 1
    assert read(root / "splits.json")["splits"]["train"][0] == "train-0"
    history = read(root / "history.json")
    assert [r["kind"] for r in history] == ["step", "step", "slow_update"] * 2
    assert history[0]["adopted"] and history[0]["applied"] == 1


def test_config_json_never_holds_keys(tmp_path: Path) -> None:
    cfg = config(tmp_path, "task.options={api_key: sk-secret, n: 1}")
    run(cfg, AddTask(), target_model(), Optimizer().model)
    assert "sk-secret" not in (tmp_path / "run" / "config.json").read_text()


IDEAS = [
    "## Carrying\nCarry the tens digit when a column sum passes nine.",
    "## Checking\nAdd the numbers again in the other order to check.",
    "## Output\nWrite only digits in the reply, no words.",
]


def test_budget_caps_the_applied_edits(tmp_path: Path) -> None:
    def optimizer(request: Request) -> object:
        # One distinct idea per minibatch (named after the first number it saw).
        n = int(request.last_user.split("What is ")[1].split()[0])
        idea = IDEAS[n % 3]
        return {"analysis": "idea", "edits": [edit(content=idea)]}

    cfg = config(
        tmp_path,
        "schedule.kind=constant",
        "schedule.init=1",
        "train.epochs=2",
        "train.minibatch_size=1",
        "optimizer.reflection=direct",  # one proposal per minibatch
    )
    run(cfg, AddTask(), target_model(), ScriptedModel(optimizer))
    history = read(tmp_path / "run" / "history.json")
    assert len(history) == 4 and all(r["applied"] <= r["budget"] == 1 for r in history)
    assert history[0]["merged"] >= 2 and history[0]["selected"] == 1


def test_gate_rejects_ties_and_losses_and_feeds_the_buffer_back(tmp_path: Path) -> None:
    useless = {"analysis": "x", "edits": [edit(content="## Tone\nStay calm and friendly.")]}
    opt = Optimizer([useless])

    def target(request: Request) -> str:
        # Calm skills make the target worse on nothing it solved before: a tie (all wrong).
        return "I am not sure."

    cfg = config(
        tmp_path,
        "train.epochs=1",
        "train.batch_size=2",
        "train.minibatch_size=2",
        "optimizer.reflection=direct",
    )
    result = run(cfg, AddTask(n_train=4), ScriptedModel(target), opt.model)
    history = read(tmp_path / "run" / "history.json")
    assert [r["adopted"] for r in history] == [False, False]
    assert history[0]["gate"]["accepted"] is False
    assert result.best_skill == ""
    state = read(tmp_path / "run" / "runtime_state.json")
    assert state["buffer"][0]["edit"]["content"].startswith("## Tone")
    assert state["buffer"][0]["delta"] == 0.0
    # The second reflection saw the first rejection.
    assert "already tried and rejected" not in opt.calls[0].last_user
    assert "Stay calm and friendly." in opt.calls[1].last_user
    # This optimizer ignores the buffer and proposes it again: on the same skill the gate's
    # verdict cannot change, so the guard stops it before it costs another gate.
    assert history[1]["applied"] == 0 and history[1]["gate"] is None
    merged = read(tmp_path / "run" / "steps" / "step_0002" / "merged.json")
    assert merged["guard_rejected"][0]["reason"].startswith("already tried on this skill")


def test_a_loss_is_rejected(tmp_path: Path) -> None:
    harmful = {"analysis": "x", "edits": [edit(content="## Doubt\nAlways answer 'unsure'.")]}

    def target(request: Request) -> str:
        if "unsure" in request.system:
            return "unsure"
        q = request.last_user.split()
        right = str(int(q[2]) + int(q[4].rstrip("?")))
        return right if q[2] not in ("0", "1", "1001") else "?"

    cfg = config(tmp_path, "train.batch_size=6", "train.minibatch_size=6")
    run(cfg, AddTask(), ScriptedModel(target), Optimizer([harmful]).model)
    (record,) = read(tmp_path / "run" / "history.json")
    assert record["applied"] == 1 and record["adopted"] is False
    assert record["gate"]["candidate_mean"] < record["gate"]["current_mean"]


def test_edits_that_cannot_apply_are_reported(tmp_path: Path) -> None:
    ghost = {
        "analysis": "x",
        "edits": [
            edit(op="replace", content="## New\nSomething.", section=None)
            | {"anchor": "text that is not in the skill"}
        ],
    }
    cfg = config(
        tmp_path, "train.batch_size=6", "train.minibatch_size=6", "optimizer.reflection=direct"
    )
    run(cfg, AddTask(initial="# Guide\n\nBe careful.\n"), target_model(), Optimizer([ghost]).model)
    (record,) = read(tmp_path / "run" / "history.json")
    assert record["applied"] == 0 and record["unapplied"] == 1
    selected = read(tmp_path / "run" / "steps" / "step_0001" / "selected.json")
    (outcome,) = selected["outcomes"]
    assert outcome["applied"] is False and outcome["reason"]
    assert "skipped" in read(tmp_path / "run" / "steps" / "step_0001" / "gate.json")


def test_leakage_guard_rejects_edits_quoting_items(tmp_path: Path) -> None:
    leaky = {
        "analysis": "memorise",
        "edits": [
            edit(content="## Facts\nWhat is 0 plus 100? The answer is 100."),
            edit(content="## Sums\nFor 'What is 1003 plus 1103?' say 2106."),
        ],
    }
    cfg = config(tmp_path, "train.batch_size=6", "train.minibatch_size=6", "schedule.init=4")
    task = AddTask(n_val=4)  # the second edit quotes a validation question
    run(cfg, task, target_model(), Optimizer([leaky]).model)
    merged = read(tmp_path / "run" / "steps" / "step_0001" / "merged.json")
    reasons = [r["reason"] for r in merged["guard_rejected"]]
    assert "quotes a training or validation item (input or expected answer)" in reasons
    (record,) = read(tmp_path / "run" / "history.json")
    assert record["guard_rejected"] == 2 and record["applied"] == 0
    assert "What is 0 plus 100?" not in (tmp_path / "run" / "best_skill.md").read_text()


def test_infra_errors_are_kept_apart_and_not_reflected_on(tmp_path: Path) -> None:
    def target(request: Request) -> str:
        if "What is 1 plus" in request.last_user or "What is 2 plus" in request.last_user:
            raise InfraError("server went away")
        return "I am not sure."

    opt = Optimizer()
    cfg = config(tmp_path, "train.batch_size=6", "train.minibatch_size=6", "eval.test=false")
    run(cfg, AddTask(), ScriptedModel(target), opt.model)
    (record,) = read(tmp_path / "run" / "history.json")
    assert record["n_infra_errors"] == 2
    reflect_prompt = opt.calls[0].last_user
    assert "What is 1 plus" not in reflect_prompt and "What is 2 plus" not in reflect_prompt
    assert "What is 0 plus" in reflect_prompt
    rows = (tmp_path / "run" / "steps" / "step_0001" / "rollouts.jsonl").read_text().splitlines()
    errors = [json.loads(r) for r in rows if json.loads(r)["error"]]
    assert len(errors) == 2 and all(e["ok"] is False for e in errors)


def test_invalid_optimizer_json_is_a_failed_minibatch_and_the_run_goes_on(tmp_path: Path) -> None:
    def optimizer(request: Request) -> str:
        if "What is 0 plus" in request.last_user:
            return "Sure! Here are my edits: add a rule."  # no JSON at all, every attempt
        return json.dumps({"analysis": "method", "edits": [edit()]})

    opt = ScriptedModel(optimizer)
    cfg = config(
        tmp_path, "train.batch_size=6", "train.minibatch_size=3", "optimizer.reflection=direct"
    )
    result = run(cfg, AddTask(), target_model(), opt)
    (record,) = read(tmp_path / "run" / "history.json")
    assert record["n_minibatches"] == 2 and record["n_failed_minibatches"] == 1
    proposals = read(tmp_path / "run" / "steps" / "step_0001" / "proposals.json")
    failed = [p for p in proposals if not p["ok"]][0]
    assert len(failed["optimizer"]["attempts"]) == 3  # 1 + 2 retries, each kept
    assert all(a["error"] for a in failed["optimizer"]["attempts"])
    assert failed["optimizer"]["attempts"][1]["temperature"] > 0  # retried warmer
    assert record["adopted"] and MAGIC in result.best_skill


def test_slow_update_edits_must_pass_the_gate(tmp_path: Path) -> None:
    # Steps propose nothing useful; the slow update proposes the fix, and the gate adopts it.
    def optimizer(request: Request) -> object:
        if "During the last epoch" in request.system:
            return {"analysis": "method", "edits": [edit()]}
        return {"analysis": "nothing", "edits": []}

    cfg = config(
        tmp_path,
        "slow_update.enabled=true",
        "slow_update.n_items=3",
        "optimizer.reflection=direct",
    )
    result = run(cfg, AddTask(), target_model(), ScriptedModel(optimizer))
    history = read(tmp_path / "run" / "history.json")
    slow = [r for r in history if r["kind"] == "slow_update"]
    assert len(slow) == 1 and slow[0]["gate"] is not None and slow[0]["adopted"]
    assert (tmp_path / "run" / "slow_update" / "epoch_01" / "gate.json").is_file()
    assert MAGIC in result.best_skill


def test_early_stopping_and_max_steps(tmp_path: Path) -> None:
    nothing = {"analysis": "no idea", "edits": []}
    cfg = config(tmp_path, "train.epochs=3", "train.patience=2")
    result = run(cfg, AddTask(), target_model(), Optimizer([nothing]).model)
    assert result.summary["stopped"] == "patience" and result.summary["steps"] == 2

    cfg = config(tmp_path / "b", "train.epochs=3", "train.max_steps=3")
    result = run(cfg, AddTask(), target_model(), Optimizer([nothing]).model)
    assert result.summary["stopped"] == "max_steps" and result.summary["steps"] == 3


def test_edits_that_change_nothing_skip_the_gate(tmp_path: Path) -> None:
    same = {"analysis": "x", "edits": [edit(op="replace", section="guide", content="Be careful.")]}
    cfg = config(
        tmp_path, "train.batch_size=6", "train.minibatch_size=6", "optimizer.reflection=direct"
    )
    run(cfg, AddTask(initial="# Guide\n\nBe careful.\n"), target_model(), Optimizer([same]).model)
    (record,) = read(tmp_path / "run" / "history.json")
    assert record["applied"] == 0 and record["unapplied"] == 1 and record["gate"] is None
    selected = read(tmp_path / "run" / "steps" / "step_0001" / "selected.json")
    assert "changes nothing" in selected["outcomes"][0]["reason"]


def _helpful_with_harmful(tmp_path: Path, *overrides: str) -> list[dict[str, object]]:
    """One update holding a harmful edit (ranked first) and the helpful one."""
    both = {
        "analysis": "x",
        "edits": [edit(content="## Doubt\nAlways answer 'unsure'."), edit()],
    }

    def target(request: Request) -> str:
        if "unsure" in request.system:
            return "unsure"
        return solve(request)

    cfg = config(
        tmp_path,
        "gate.kind=paired_unconditional",
        "train.batch_size=6",
        "train.minibatch_size=6",
        "optimizer.reflection=direct",
        *overrides,
    )
    run(cfg, AddTask(n_val=20), ScriptedModel(target), Optimizer([both]).model)
    return read(tmp_path / "run" / "history.json")  # type: ignore[return-value]


def test_one_candidate_lets_a_harmful_edit_sink_a_helpful_one(tmp_path: Path) -> None:
    (record,) = _helpful_with_harmful(tmp_path)
    assert record["applied"] == 2 and record["adopted"] is False
    assert not (tmp_path / "run" / "steps" / "step_0001" / "candidates.json").exists()


def test_when_no_candidate_passes_none_is_marked_adopted(tmp_path: Path) -> None:
    def harmless(request: Request) -> str:
        return "unsure"

    both = {"analysis": "x", "edits": [edit(content="## Doubt\nAlways answer 'unsure'."), edit()]}
    cfg = config(
        tmp_path,
        "gate.kind=paired_unconditional",
        "gate.candidates=2",
        "train.batch_size=6",
        "train.minibatch_size=6",
        "optimizer.reflection=direct",
    )
    run(cfg, AddTask(n_val=20), ScriptedModel(harmless), Optimizer([both]).model)
    (record,) = read(tmp_path / "run" / "history.json")  # type: ignore[misc]
    tried = read(tmp_path / "run" / "steps" / "step_0001" / "candidates.json")
    assert [c["label"] for c in tried] == ["all edits", "edit 1 alone"]  # type: ignore[index]
    assert not any(c["adopted"] for c in tried) and record["adopted"] is False  # type: ignore[index]
    # The rejected update's edits all go to the buffer, as with one candidate.
    state = read(tmp_path / "run" / "runtime_state.json")
    assert len(state["buffer"]) == 2  # type: ignore[index]


def test_several_candidates_adopt_the_helpful_edit_alone(tmp_path: Path) -> None:
    (record,) = _helpful_with_harmful(tmp_path, "gate.candidates=3")
    assert record["adopted"] is True
    assert len(record["applied_edits"]) == 1  # type: ignore[arg-type]
    step = tmp_path / "run" / "steps" / "step_0001"
    tried = read(step / "candidates.json")
    assert [c["label"] for c in tried] == ["all edits", "edit 1 alone", "edit 2 alone"]  # type: ignore[index]
    assert [c["adopted"] for c in tried] == [False, False, True]  # type: ignore[index]
    # Three candidates share the false-adoption bound: each is tested at alpha / 3.
    assert all("p <= 0.0166667" in c["gate"]["reason"] for c in tried)  # type: ignore[index]
    best = (tmp_path / "run" / "best_skill.md").read_text()
    assert MAGIC in best and "unsure" not in best
    assert (step / "candidate_skill.md").read_text() == best


def _racing_run(tmp_path: Path, *overrides: str) -> tuple[dict, dict, str]:  # type: ignore[type-arg]
    cfg = config(
        tmp_path,
        "gate.kind=paired_unconditional",
        "train.max_steps=1",
        "optimizer.reflection=direct",
        *overrides,
    )
    run(cfg, AddTask(n_val=40), target_model(), Optimizer().model)
    root = tmp_path / "run"
    (record,) = read(root / "history.json")  # type: ignore[misc]
    gate = read(root / "steps" / "step_0001" / "gate.json")
    return record, gate, (root / "best_skill.md").read_text()  # type: ignore[return-value]


def test_racing_gate_adopts_as_the_full_gate_after_fewer_items(tmp_path: Path) -> None:
    record, gate, best = _racing_run(tmp_path / "racing")
    full_record, full_gate, full_best = _racing_run(tmp_path / "full", "gate.racing=false")
    assert record["adopted"] is True and full_record["adopted"] is True and best == full_best
    # The candidate wins every item and the current skill fails them all, so none of the
    # remaining items can be lost: after one round (4 x train.concurrency = 8 items), nothing
    # could undo it. gate.json and the history say how many were scored.
    assert (gate["n_scored"], gate["stopped_for"], gate["current_scored"]) == (8, "adoption", 40)
    assert record["gate"]["n_scored"] == 8 and record["gate"]["stopped_early"] is True
    assert (full_gate["n_scored"], full_gate["stopped_for"]) == (40, "")
    # The order of the items is one shuffle fixed by the seed.
    order = [row["item_id"] for row in gate["per_item"]]
    assert order != sorted(order)
    assert order == [row["item_id"] for row in _racing_run(tmp_path / "again")[1]["per_item"]]
