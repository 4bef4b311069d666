"""bench/suite.py --from-headroom: the pre-registered suite (pairs chosen by bench/headroom.py's
screen) trained over several seeds, each pair's hand skill tested beside them, and the learning
issue's criterion decided per pair. Scripted target and optimizer only: no model is loaded."""

from __future__ import annotations

import importlib.util
import json
import re
import statistics
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
RULE = "## Checking\nSettle each statement in turn before the answer line."
FLIP = {"Yes": "No", "No": "Yes", "True": "False", "False": "True"}


def _load(name: str, path: Path) -> ModuleType:
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="module")
def suite() -> ModuleType:
    return _load("suite_bench", ROOT / "bench" / "suite.py")


# --- the verdict on hand-made numbers --------------------------------------------------------


def test_the_criterion_needs_half_the_hand_gain_and_a_pooled_interval_above_zero(
    suite: ModuleType,
) -> None:
    meets = suite.meets_criterion
    assert meets(0.20, 0.05, 0.30)  # +20 ≥ +15 and the pooled interval above zero
    assert meets(0.15, 0.01, 0.30)  # exactly half counts
    # Exactly half as the mean over seeds computes it (0.19999999999999998 in floats).
    assert meets(statistics.fmean([0.1, 0.2, 0.3]), 0.01, 0.4)
    assert not meets(0.10, 0.02, 0.30)  # a real gain, but less than half the hand skill's
    assert not meets(0.25, -0.02, 0.30)  # enough on average, but the pooled interval crosses 0
    assert not meets(0.25, 0.0, 0.30)  # an interval touching zero is not above it
    assert not meets(None, 0.05, 0.30) and not meets(0.2, None, 0.3) and not meets(0.2, 0.05, None)
    # A hand skill that gained nothing on the test: the pooled interval still decides.
    assert meets(0.05, 0.01, -0.05) and not meets(0.0, -0.05, 0.0)

    verdict = suite.verdict_text
    assert verdict(0.20, 0.05, 0.30) == "yes"
    assert verdict(0.25, -0.02, 0.30) == "no (pooled CI reaches 0)"
    assert verdict(0.10, -0.02, 0.30) == "no (+10.0 < +15.0; pooled CI reaches 0)"
    assert verdict(None, None, 0.3) == "no (not measured)"


def test_the_count_of_pairs_meeting_the_criterion(suite: ModuleType) -> None:
    class P:
        def __init__(self, meets: bool) -> None:
            self.meets = meets

    line = suite.criterion_line
    assert line([P(True), P(False)]).startswith("1 of 2 pairs meet the criterion")
    assert line([P(True), P(False)]).endswith("at least half: met.")
    assert line([P(True), P(False), P(False)]).endswith("at least half: not met.")
    assert "no suite" in line([])


# --- end to end on scripted models -----------------------------------------------------------


def _record(hr: ModuleType, target: str, task: Any, text: str, right: int) -> dict[str, Any]:
    ids = [item.id for item in task.splits()["val"]][:40]
    return {
        "decoding": hr.decoding_for(target),
        "skill_sha": hr.digest(text),
        "items": ids,
        "scores": [1.0] * right + [0.0] * (len(ids) - right),
        "reply_tokens": [5] * len(ids),
        "answers": [""] * len(ids),
    }


def _results(suite: ModuleType, path: Path) -> dict[str, str]:
    """A screen's results file selecting the two PAIRS; returns each pair's hand addition."""
    hr = suite.headroom_module()
    skills = hr.load_skills(hr.HERE / "headroom_skills.yaml")
    results = hr.Results.open(path)
    markers = {}
    for (name, target, kind), right in zip(PAIRS, (22, 20), strict=True):  # largest gain first
        task = hr.make_task(name)
        texts = hr.skill_texts(task, skills[name])
        results.put(target, name, "initial", _record(hr, target, task, texts["initial"], 0))
        results.put(target, name, kind, _record(hr, target, task, texts[kind], right))
        # The hand addition's last line tells the scripted target the hand skill is in use.
        markers[target] = hr.addition_text(task, kind, skills[name][kind]).splitlines()[-1]
    return markers


def _target(spec: str, marker: str, gold: dict[str, str], learns: bool) -> ScriptedModel:
    """Wrong with the initial skill; with the hand skill right on the items whose answer is
    No or True (about half); with the trained rule right everywhere, if it `learns`."""

    def reply(request: Request) -> str:
        answer = gold.get(request.last_user)
        if answer is None:  # the target check's probe
            return "Answer: unsure"
        if learns and RULE.splitlines()[1] in request.system:
            return f"Answer: {answer}"
        if marker in request.system and answer in ("No", "True"):
            return f"Answer: {answer}"
        return f"Answer: {FLIP[answer]}"

    return ScriptedModel(reply, name=spec)


@pytest.fixture
def fakes(suite: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    hr = suite.headroom_module()
    markers = _results(suite, tmp_path / "results.json")
    gold = {
        item.input: str(item.target)
        for name, _, _ in PAIRS
        for split in hr.make_task(name).splits().values()
        for item in split
    }
    optimizer = Optimizer(replies=[{"analysis": "unchecked statements", "edits": [_edit()]}])
    optimizer.diagnosis = {
        "task": "truth puzzles",
        "mistakes": ["answered before settling each statement"],
        "contrast": "",
    }
    models = {
        (SMALL, "target"): _target(SMALL, markers[SMALL], gold, learns=True),
        (LARGE, "target"): _target(LARGE, markers[LARGE], gold, learns=False),
        (LARGE, "optimizer"): optimizer.model,
    }

    def get_model(spec: str, *, role: str, cache: Any = None, ledger: Any = None) -> Any:
        return wrap(models[(spec, role)], role=role, cache=cache, ledger=ledger)

    monkeypatch.setattr(skillfit.app.build, "get_model", get_model)
    return {"models": models, "results": tmp_path / "results.json"}


def _edit() -> dict[str, Any]:
    return {"op": "add", "section": None, "anchor": None, "content": RULE, "rationale": ""}


def _argv(tmp_path: Path, results: Path, *more: str) -> list[str]:
    return [
        "--from-headroom",
        str(results),
        "--seeds",
        "2",
        "--out",
        str(tmp_path / "out"),
        "--markdown",
        str(tmp_path / "suite.md"),
        "--keep",
        str(tmp_path / "keep"),
        "--set",
        f"cache.path={tmp_path / 'cache.sqlite'}",
        "--set",
        "optimizer.procedure=false",
        "--set",
        "slow_update.enabled=false",
        *more,
    ]


def test_trains_each_selected_pair_over_seeds_and_decides_the_criterion(
    suite: ModuleType, tmp_path: Path, fakes: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code = suite.main(_argv(tmp_path, fakes["results"]))
    capsys.readouterr()
    text = (tmp_path / "suite.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| bbh/")]
    # Two pairs, two seeds each: a row per seed and a row for the pair, each with its target.
    assert [r.split(" | ")[:3] for r in rows] == [
        ["| bbh/web_of_lies", SMALL, "0"],
        ["| bbh/web_of_lies", SMALL, "1"],
        ["| bbh/web_of_lies", SMALL, "all 2"],
        ["| bbh/boolean_expressions", LARGE, "0"],
        ["| bbh/boolean_expressions", LARGE, "1"],
        ["| bbh/boolean_expressions", LARGE, "all 2"],
    ]
    data = json.loads((tmp_path / "out" / "suite_headroom.json").read_text())["pairs"]
    lies, boolean = data
    # The 0.5B learns the rule in every seed: trained − initial +100 points each time.
    assert [r["vs_initial"]["mean_diff"] for r in lies["seeds"]["runs"]] == [1.0, 1.0]
    assert lies["seeds"]["vs_initial_over_seeds"]["sd"] == 0.0
    # The hand skill is tested on the same 60 test items: right on the items answered "No".
    hand = lies["hand_test"]
    assert hand["scored"] == 60 and hand["correct"] == lies["hand_vs_initial"]["wins"] > 0
    assert lies["hand_vs_initial"]["n"] == 60 and lies["hand_skill"] == "procedure"
    assert lies["meets_criterion"] is True
    # The 1.5B ignores the rule: nothing adopted, no gain, the pooled interval is [0, 0].
    assert boolean["seeds"]["pooled_vs_initial"]["mean_diff"] == 0.0
    assert boolean["hand_vs_initial"]["mean_diff"] > 0 and boolean["meets_criterion"] is False
    assert rows[2].endswith("| yes |")
    assert re.search(r"\| no \(\+0\.0 < \+\d+\.\d; pooled CI reaches 0\) \|$", rows[5])
    assert "1 of 2 pairs meet the criterion" in text and "at least half: met." in text
    assert "Audit of every seed's kept skill and meta-skill:" in text
    assert code == (0 if "Audit of every seed's kept skill and meta-skill: clean" in text else 1)
    # Runs live in <out>/<task>__<target>/seed-<s>, each trained on its pair's target.
    for name, target, _ in PAIRS:
        pair = tmp_path / "out" / suite.pair_dir_name(name, target)
        for seed in (0, 1):
            config = json.loads((pair / f"seed-{seed}" / "config.json").read_text())
            assert config["target"]["model"] == target and config["train"]["seed"] == seed
            assert (tmp_path / "keep" / pair.name / f"seed-{seed}" / "best_skill.md").is_file()
        assert (pair / "hand_skill.md").is_file() and (pair / "seeds.json").is_file()
    learned = tmp_path / "out" / suite.pair_dir_name(*PAIRS[0][:2]) / "seed-0" / "best_skill.md"
    assert RULE.splitlines()[1] in learned.read_text()

    # A rerun resumes every run from its files and the hand skills from the response cache.
    calls = {key: len(model.calls) for key, model in fakes["models"].items()}
    assert suite.main(_argv(tmp_path, fakes["results"])) == code
    assert {key: len(model.calls) for key, model in fakes["models"].items()} == calls
    assert not list((tmp_path / "out").glob("*/*.replaced-*"))  # resumed, not started over
    assert (tmp_path / "suite.md").read_text().split("The whole run took")[0] == text.split(
        "The whole run took"
    )[0]


def test_a_hand_skill_changed_since_the_screen_or_other_settings_are_refused(
    suite: ModuleType, tmp_path: Path, fakes: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SKILLFIT_LOCAL_DECODING", raising=False)  # the default decoding
    data = json.loads(fakes["results"].read_text())
    data["results"][LARGE]["bbh/boolean_expressions"]["knowledge"]["skill_sha"] = "older"
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(data))
    with pytest.raises(SystemExit, match="changed since the screen measured it"):
        suite.main(_argv(tmp_path, changed))
    with pytest.raises(SystemExit, match="n_test is 30, the screen's 60"):
        suite.main(_argv(tmp_path, fakes["results"], "--set", "task.options.n_test=30"))
    data = json.loads(fakes["results"].read_text())  # measured before it kept the decoding
    for record in data["results"][LARGE]["bbh/boolean_expressions"].values():
        del record["decoding"]
    changed.write_text(json.dumps(data))
    with pytest.raises(SystemExit, match="measured it under decoding=exact, this process"):
        suite.main(_argv(tmp_path, changed))
    with pytest.raises(SystemExit, match="temperature is 0.7, the screen's 0.0"):
        suite.main(_argv(tmp_path, fakes["results"], "--set", "target.temperature=0.7"))
    with pytest.raises(SystemExit, match="no such results file"):
        suite.main(_argv(tmp_path, tmp_path / "missing.json"))
    assert not (tmp_path / "out").exists()  # nothing was trained


def test_seeds_and_tasks_go_with_the_right_mode(suite: ModuleType) -> None:
    with pytest.raises(SystemExit):
        suite.main(["--seeds", "3"])  # the default mode trains one seed per task
    with pytest.raises(SystemExit):
        suite.main(["--from-headroom", "--tasks", "gsm8k"])
