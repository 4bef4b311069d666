"""bench/suite_compare.py: `skillfit compare` of the skillfit loop and GEPA on each pair of the
pre-registered suite (bench/headroom.py --select), one table with both verdicts. Scripted
target and optimizer only: no model is loaded."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from train_fakes import Optimizer

import skillfit.app.build
from skillfit.models import wrap
from skillfit.models.scripted import Request, ScriptedModel

ROOT = Path(__file__).resolve().parent.parent
SMALL, LARGE = "local:qwen2.5-coder-0.5b", "local:qwen2.5-coder-1.5b"
# (task, target, the hand skill the fake screen finds best)
PAIRS = [("bbh/web_of_lies", SMALL, "procedure"), ("bbh/boolean_expressions", LARGE, "knowledge")]
RULE = "## Checking\nSettle each statement in turn before the answer line."  # skillfit's edit
GEPA_LINE = "Evaluate the innermost brackets first."  # GEPA's rewrite
FLIP = {"Yes": "No", "No": "Yes", "True": "False", "False": "True"}


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    name = "suite_compare_bench"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / "suite_compare.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


# --- the verdicts on hand-made numbers -------------------------------------------------------


def test_skillfit_needs_at_least_gepas_mean_accuracy(bench: ModuleType) -> None:
    ok = bench.accuracy_verdict
    assert ok(0.60, 0.55) and ok(0.55, 0.55)  # equal counts
    assert ok(sum([0.1, 0.2, 0.3]) / 3, 0.2)  # equal as floats compute it (0.19999999999999998)
    assert not ok(0.50, 0.55)
    assert not ok(None, 0.5) and not ok(0.5, None)
    assert bench.accuracy_text(0.60, 0.55) == "yes"
    assert bench.accuracy_text(0.5, 0.55) == "no (50.0 < 55.0)"
    assert bench.accuracy_text(None, 0.55) == "no (not measured)"


def test_skillfit_needs_no_more_tokens_and_no_more_time(bench: ModuleType) -> None:
    ok = bench.cost_verdict
    assert ok(90_000, 100_000, 300.0, 400.0)
    assert ok(100_000, 100_000, 400.0, 400.0)  # equal is no more
    assert not ok(120_000, 100_000, 300.0, 400.0)  # more tokens
    assert not ok(90_000, 100_000, 500.0, 400.0)  # more time
    assert not ok(None, 100_000, 300.0, 400.0) and not ok(90_000, 100_000, 300.0, None)
    text = bench.cost_text
    assert text(90_000, 100_000, 300.0, 400.0) == "yes"
    assert text(120_000, 100_000, 300.0, 400.0) == "no (tokens 120.0k > 100.0k)"
    assert text(120_000, 100_000, 540.0, 300.0) == (
        "no (tokens 120.0k > 100.0k; time 9.0 min > 5.0 min)"
    )
    assert text(10, 10, 42.0, 7.0) == "no (time 42 s > 7 s)"
    assert text(None, 1, 1.0, 1.0) == "no (not measured)"


def test_the_counts_of_pairs_against_what_the_issues_ask(bench: ModuleType) -> None:
    class P:
        def __init__(self, accuracy: bool, cost: bool) -> None:
            self.accuracy_met, self.cost_met = accuracy, cost

    acc, cost = bench.verdict_lines([P(True, True), P(False, True)])
    assert acc == "1 of 2 pairs: skillfit accuracy ≥ GEPA's (needed: at least half): met."
    assert cost.startswith("2 of 2 pairs: skillfit spent no more training target tokens")
    assert cost.endswith("(needed: every pair): met.")
    acc, cost = bench.verdict_lines([P(True, True), P(False, False), P(False, True)])
    assert acc.endswith("not met.") and cost.startswith("2 of 3") and cost.endswith("not met.")
    assert "no suite" in bench.verdict_lines([])[0]


# --- end to end on scripted models -----------------------------------------------------------


def _results(hr: ModuleType, path: Path) -> None:
    """A screen's results file selecting the two PAIRS."""
    skills = hr.load_skills(hr.HERE / "headroom_skills.yaml")
    results = hr.Results.open(path)
    for (name, target, kind), right in zip(PAIRS, (22, 20), strict=True):  # largest gain first
        task = hr.make_task(name)
        texts = hr.skill_texts(task, skills[name])
        ids = [item.id for item in task.splits()["val"]][:40]
        for label, n in (("initial", 0), (kind, right)):
            results.put(
                target,
                name,
                label,
                {
                    "decoding": hr.decoding_for(target),
                    "skill_sha": hr.digest(texts[label]),
                    "items": ids,
                    "scores": [1.0] * n + [0.0] * (len(ids) - n),
                    "reply_tokens": [5] * len(ids),
                    "answers": [""] * len(ids),
                },
            )


def _target(spec: str, learns_from: str, gold: dict[str, str]) -> ScriptedModel:
    """Wrong unless the skill holds `learns_from`: then right on every item."""

    def reply(request: Request) -> str:
        answer = gold.get(request.last_user)
        if answer is None:  # the target check's probe
            return "Answer: unsure"
        return f"Answer: {answer if learns_from in request.system else FLIP[answer]}"

    return ScriptedModel(reply, name=spec)


def _optimizer() -> ScriptedModel:
    """The skillfit loop's optimizer adds RULE; GEPA's reflection writes GEPA_LINE."""
    loop = Optimizer(
        replies=[
            {
                "analysis": "unchecked statements",
                "edits": [
                    {"op": "add", "section": None, "anchor": None, "content": RULE, "rationale": ""}
                ],
            }
        ]
    )
    loop.diagnosis = {"task": "truth puzzles", "mistakes": ["answered at once"], "contrast": ""}

    def reply(request: Request) -> Any:
        if not request.system:  # GEPA's reflection prompt: one user message
            return f"```\n# Solving\n\n{GEPA_LINE}\nEnd with the answer line.\n```"
        return loop._reply(request)

    return ScriptedModel(reply, name=LARGE)


@pytest.fixture
def fakes(bench: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    hr = bench.suite_module().headroom_module()
    _results(hr, tmp_path / "results.json")
    gold = {
        item.input: str(item.target)
        for name, _, _ in PAIRS
        for split in hr.make_task(name).splits().values()
        for item in split
    }
    models = {
        # The 0.5B learns from the skillfit loop's rule, the 1.5B from GEPA's rewrite.
        (SMALL, "target"): _target(SMALL, RULE.splitlines()[1], gold),
        (LARGE, "target"): _target(LARGE, GEPA_LINE, gold),
        (LARGE, "optimizer"): _optimizer(),
    }

    def get_model(spec: str, *, role: str, cache: Any = None, ledger: Any = None) -> Any:
        return wrap(models[(spec, role)], role=role, cache=cache, ledger=ledger)

    monkeypatch.setattr(skillfit.app.build, "get_model", get_model)
    return {"models": models, "results": tmp_path / "results.json"}


def _argv(tmp_path: Path, results: Path, *more: str) -> list[str]:
    return [
        str(results),
        "--seeds",
        "2",
        "--out",
        str(tmp_path / "out"),
        "--markdown",
        str(tmp_path / "suite_compare.md"),
        "--set",
        "optimizer.procedure=false",
        "--set",
        "slow_update.enabled=false",
        *more,
    ]


def test_compares_skillfit_and_gepa_on_each_pair_and_decides_both_verdicts(
    bench: ModuleType, tmp_path: Path, fakes: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench.main(_argv(tmp_path, fakes["results"])) == 0
    capsys.readouterr()
    text = (tmp_path / "suite_compare.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| bbh/")]
    cells = [r.strip("| ").split(" | ") for r in rows]
    assert [c[:2] for c in cells] == [[name, target] for name, target, _ in PAIRS]
    lies, boolean = json.loads((tmp_path / "out" / "suite_compare.json").read_text())["pairs"]
    by = {p["task"]: {r["strategy"]: r for r in p["rows"]} for p in (lies, boolean)}
    assert list(by["bbh/web_of_lies"]) == ["skillfit", "gepa", "none", "initial"]
    # web of lies: the 0.5B follows the skillfit loop's rule in both seeds, not GEPA's rewrite.
    sf, gepa = by["bbh/web_of_lies"]["skillfit"], by["bbh/web_of_lies"]["gepa"]
    assert [s["accuracy"] for s in sf["per_seed"]] == [1.0, 1.0]
    assert [s["accuracy"] for s in gepa["per_seed"]] == [0.0, 0.0]
    assert cells[0][2:6] == ["100.0 (100.0, 100.0)", "0.0 (0.0, 0.0)", "0.0 (0.0, 0.0)"] + [
        "0.0 (0.0, 0.0)"
    ]
    assert cells[0][6].startswith("-100.0 [")  # GEPA − skillfit, pooled over 120 test items
    assert cells[0][10] == "yes" and lies["accuracy_met"] is True
    # boolean expressions: the 1.5B follows GEPA's rewrite only.
    assert by["bbh/boolean_expressions"]["gepa"]["mean_accuracy"] == 1.0
    assert cells[1][10] == "no (0.0 < 100.0)" and boolean["accuracy_met"] is False
    # Tokens and time: each side's training target tokens and training wall time, as compare
    # recorded them, and the verdict on exactly those figures.
    for c, pair in zip(cells, (lies, boolean), strict=True):
        sf, gepa = ({r["strategy"]: r for r in pair["rows"]}[k] for k in ("skillfit", "gepa"))
        assert sf["train_target_tokens"] > 0 and gepa["train_target_tokens"] > 0
        tok = [sf["train_target_tokens"], gepa["train_target_tokens"]]
        sec = [sf["train_wall_seconds"], gepa["train_wall_seconds"]]
        assert c[8] == " / ".join(bench.tokens_cell(t) for t in tok)
        assert c[9] == " / ".join(bench.minutes_cell(s) for s in sec)
        assert c[11] == bench.cost_text(*tok, *sec)
        assert pair["cost_met"] is bench.cost_verdict(*tok, *sec)
        # No budget given: GEPA's budget of target calls is what skillfit spent, per seed.
        assert "target calls" in c[7] and pair["budget"]
    assert "1 of 2 pairs: skillfit accuracy ≥ GEPA's (needed: at least half): met." in text
    assert "of 2 pairs: skillfit spent no more training target tokens" in text
    # Compare's runs per pair, on the pair's target, with the bench's own response cache.
    for name, target, _ in PAIRS:
        pair = tmp_path / "out" / bench.suite_module().pair_dir_name(name, target)
        assert (pair / "compare.md").is_file()
        for strategy in ("skillfit", "gepa", "none", "initial"):
            for seed in (0, 1):
                config = json.loads((pair / f"{strategy}-s{seed}" / "config.json").read_text())
                assert config["target"]["model"] == target and config["train"]["seed"] == seed
    assert (tmp_path / "out" / "cache.sqlite").is_file()

    # A rerun resumes every run from its files: no model call, the same table.
    calls = {key: len(model.calls) for key, model in fakes["models"].items()}
    assert bench.main(_argv(tmp_path, fakes["results"])) == 0
    assert {key: len(model.calls) for key, model in fakes["models"].items()} == calls
    again = (tmp_path / "suite_compare.md").read_text()
    assert again.split("The whole run took")[0] == text.split("The whole run took")[0]


def test_a_budget_given_is_every_strategys(
    bench: ModuleType, tmp_path: Path, fakes: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    more = ("--seeds", "1", "--strategies", "skillfit,gepa", "--budget-calls", "150")
    assert (
        bench.main([*_argv(tmp_path, fakes["results"], *more), "--budget-tokens", "9000000"]) == 0
    )
    capsys.readouterr()
    rows = [
        r.strip("| ").split(" | ")
        for r in (tmp_path / "suite_compare.md").read_text().splitlines()
        if r.startswith("| bbh/")
    ]
    assert [r[7] for r in rows] == [
        "150 calls and 9,000,000 tokens per run (every role, cache hits included)"
    ] * 2
    assert [r[4] for r in rows] == ["–", "–"]  # no `none` arm asked for
    for name, target, _ in PAIRS:
        pair = tmp_path / "out" / bench.suite_module().pair_dir_name(name, target)
        for strategy in ("skillfit", "gepa"):
            train = json.loads((pair / f"{strategy}-s0" / "config.json").read_text())["train"]
            assert (train["budget_calls"], train["budget_tokens"]) == (150, 9_000_000)


def test_a_config_off_the_screens_settings_or_a_strategy_missing_is_refused(
    bench: ModuleType, tmp_path: Path, fakes: dict[str, Any]
) -> None:
    with pytest.raises(SystemExit, match="n_test is 30, the screen's 60"):
        bench.main(_argv(tmp_path, fakes["results"], "--set", "task.options.n_test=30"))
    with pytest.raises(SystemExit, match="no such results file"):
        bench.main(_argv(tmp_path, tmp_path / "missing.json"))
    with pytest.raises(SystemExit):
        bench.main(_argv(tmp_path, fakes["results"], "--strategies", "skillfit,none"))
    assert not (tmp_path / "out").exists()  # nothing was run
