"""bench/headroom.py: the hand-written skills are honest (worked examples are training items with
right answers, nothing quotes a validation or test item) and the screen runs end to end on a
scripted target, resumes without a call, keeps what a crash interrupted and selects the suite."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from skillfit.models.scripted import ScriptedModel
from skillfit.tasks.bbh import BBH_TASKS

BENCH = Path(__file__).resolve().parent.parent / "bench" / "headroom.py"


def _bench() -> ModuleType:
    if "headroom_bench" in sys.modules:
        return sys.modules["headroom_bench"]
    spec = importlib.util.spec_from_file_location("headroom_bench", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["headroom_bench"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def hr() -> ModuleType:
    return _bench()


@pytest.fixture(scope="module")
def skills(hr: ModuleType) -> dict[str, dict[str, Any]]:
    return hr.load_skills(hr.HERE / "headroom_skills.yaml")


def test_the_screen_covers_every_bbh_task_gsm8k_and_ten_reasoning_gym_tasks(
    hr: ModuleType, skills: dict[str, dict[str, Any]]
) -> None:
    assert {f"bbh/{t}" for t in BBH_TASKS} <= set(skills)
    assert "gsm8k" in skills
    assert sum(1 for t in skills if t.startswith("reasoning_gym/")) >= 10
    for name, kinds in skills.items():
        assert set(kinds) == set(hr.KINDS), name
        assert 1 <= len(kinds["examples"]) <= 3, name


def test_worked_examples_are_training_items_answered_right(
    hr: ModuleType, skills: dict[str, dict[str, Any]]
) -> None:
    for name, kinds in skills.items():
        task = hr.make_task(name)
        splits = task.splits()
        held_out = {i.id for s in ("val", "test") for i in splits[s]}
        train = {i.id for i in splits["train"]}
        items = hr.example_items(task, kinds["examples"])
        assert len({i.id for i in items}) == len(items), f"{name}: an example is repeated"
        for item, example in zip(items, kinds["examples"], strict=True):
            assert item.id in train and item.id not in held_out, (name, item.id)
            answer, score = task.score(item, example["reply"])
            assert score.hard == 1, f"{name}: {item.id}: {answer!r} is not {item.target!r}"
        # What the target is shown is the item as the data holds it, parsed unchanged.
        text = hr.skill_texts(task, kinds)["examples"]
        assert hr.render_examples(task, kinds["examples"]) in text
        for item in items:
            assert item.input.strip().splitlines()[0].rstrip() in text


def test_no_hand_skill_quotes_a_validation_or_test_item(
    hr: ModuleType, skills: dict[str, dict[str, Any]]
) -> None:
    for name, kinds in skills.items():
        task = hr.make_task(name)
        texts = hr.skill_texts(task, kinds)
        splits = task.splits()
        for item in (*splits["val"], *splits["test"]):
            # The question proper: a shared instruction preamble is the task's, not the item's.
            lines = [ln.strip() for ln in item.input.strip().splitlines() if ln.strip()]
            distinctive = [
                ln
                for ln in lines
                if len(ln) >= 25
                and not any(ln in o.input for o in splits["train"])  # not a shared line
            ]
            for kind, text in texts.items():
                for line in distinctive:
                    assert line not in text, f"{name} {kind} quotes {item.id}: {line!r}"


def _rules(tmp_path: Path) -> str:
    """A target that follows a procedure (answers Yes/True when it has working steps)."""
    rules = [
        {"match": "True|False", "system": "Working steps", "reply": "Answer: True"},
        {"match": "True|False", "reply": "Answer: False"},
        {"match": ".", "system": "Working steps", "reply": "Answer: Yes"},
        {"match": ".", "reply": "Answer: No"},
    ]
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(rules))
    return f"scripted:{path}"


TWO = "bbh/web_of_lies,bbh/boolean_expressions"


def _argv(tmp_path: Path, *more: str) -> list[str]:
    return [
        "--tasks",
        TWO,
        "--target",
        _rules(tmp_path),
        "--n-val",
        "8",
        "--results",
        str(tmp_path / "results.json"),
        "--cache",
        str(tmp_path / "cache.sqlite"),
        "--workers",
        "2",
        *more,
    ]


def test_runs_end_to_end_resumes_and_selects(
    hr: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hr.main(_argv(tmp_path, "--estimate"))
    assert "2 tasks: 64 target calls to make" in capsys.readouterr().out
    assert not (tmp_path / "results.json").exists()  # nothing was run
    hr.main(_argv(tmp_path, "--markdown", str(tmp_path / "table.md")))
    out = capsys.readouterr().out
    assert "64 target calls to make (0 skill measurements already" in out
    data = json.loads((tmp_path / "results.json").read_text())
    target = next(iter(data["results"]))
    for name in TWO.split(","):
        measured = data["results"][target][name]
        assert set(measured) == {"initial", "procedure", "examples", "knowledge"}
        assert all(len(r["scores"]) == 8 for r in measured.values())
    table = (tmp_path / "table.md").read_text()
    assert "| bbh/web_of_lies | procedure |" in table and "wins / losses" in table

    hr.main(_argv(tmp_path))  # everything is there: nothing to do
    assert "0 target calls to make (8 skill measurements already" in capsys.readouterr().out

    # A changed skill text is measured again; the others are kept.
    data["results"][target]["bbh/web_of_lies"]["knowledge"]["skill_sha"] = "stale"
    (tmp_path / "results.json").write_text(json.dumps(data))
    hr.main(_argv(tmp_path))
    assert "8 target calls to make (7 skill measurements already" in capsys.readouterr().out

    hr.main([*_argv(tmp_path), "--select"])
    out = capsys.readouterr().out
    assert "Pre-registered suite" in out or "no suite" in out


def test_a_crash_keeps_every_finished_measurement(hr: ModuleType, tmp_path: Path) -> None:
    calls = {"n": 0}

    def reply(request: Any) -> str:
        calls["n"] += 1
        if calls["n"] > 12:  # dies during the second skill
            raise RuntimeError("the machine went away")
        return "Answer: Yes"

    skills = hr.load_skills(hr.HERE / "headroom_skills.yaml")
    results = hr.Results.open(tmp_path / "r.json")
    with pytest.raises(RuntimeError):
        hr.run(
            ["bbh/web_of_lies"],
            skills,
            "scripted:t",
            ScriptedModel(reply, name="scripted:t"),
            8,
            results,
            workers=1,
            say=lambda _: None,
        )
    kept = json.loads((tmp_path / "r.json").read_text())["results"]["scripted:t"]
    assert list(kept["bbh/web_of_lies"]) == ["initial"]


def test_select_takes_pairs_whose_interval_is_above_zero_largest_first(
    hr: ModuleType, tmp_path: Path
) -> None:
    def record(right: int, n: int = 40) -> dict[str, Any]:
        return {
            "skill_sha": "x",
            "items": [f"i{k}" for k in range(n)],
            "scores": [1.0] * right + [0.0] * (n - right),
            "reply_tokens": [5] * n,
            "answers": [""] * n,
        }

    results = hr.Results.open(tmp_path / "r.json")
    cases = {
        ("a", "t1"): {"initial": record(0), "procedure": record(24), "examples": record(18)},
        ("b", "t1"): {"initial": record(10), "knowledge": record(12)},  # not significant
        ("c", "t2"): {"initial": record(0), "examples": record(8)},
    }
    for k in range(10):  # more than the suite holds
        cases[(f"z{k}", "t3")] = {"initial": record(0), "procedure": record(10)}
    for (task, target), arms in cases.items():
        for label, rec in arms.items():
            results.put(target, task, label, rec)
    picks = hr.select(results)
    assert len(picks) == hr.SUITE_SIZE
    assert (picks[0].task, picks[0].skill) == ("a", "procedure")
    assert all(p.task != "b" for p in picks)
    assert all(p.ci_low > 0 for p in picks)
    assert [p.mean_diff for p in picks] == sorted((p.mean_diff for p in picks), reverse=True)
    assert "Pre-registered suite: 8" in hr.suite_text(picks, len(cases))


def test_a_measurement_under_another_decoding_is_measured_again_and_never_paired(
    hr: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = "local:qwen2.5-coder-0.5b"
    name = "bbh/web_of_lies"
    skills = hr.load_skills(hr.HERE / "headroom_skills.yaml")
    task = hr.make_task(name)
    texts = hr.skill_texts(task, skills[name])
    ids = [item.id for item in task.splits()["val"]][:8]
    results = hr.Results.open(tmp_path / "r.json")

    def record(label: str, right: int, **decoding: str) -> dict[str, Any]:
        return {
            "skill_sha": hr.digest(texts[label]),
            "items": ids,
            "scores": [1.0] * right + [0.0] * (len(ids) - right),
            "reply_tokens": [5] * len(ids),
            "answers": [""] * len(ids),
            **decoding,
        }

    monkeypatch.setattr(hr, "cpu_kind", lambda: hr.FORMER_CPU)  # the records' own CPU
    # Recorded before the screen kept its decoding: the embedded models' former default.
    results.put(local, name, "initial", record("initial", 0))
    results.put(local, name, "procedure", record("procedure", 8, decoding="decoding=exact"))
    monkeypatch.setenv("SKILLFIT_LOCAL_DECODING", "exact")
    assert [label for _, label, *_ in hr.plan([name], skills, local, 8, results)] == [
        "examples",
        "knowledge",
    ]
    monkeypatch.delenv("SKILLFIT_LOCAL_DECODING")  # the default decodes otherwise
    assert len(hr.plan([name], skills, local, 8, results)) == 4

    results.put(local, name, "procedure", record("procedure", 8, decoding=hr.decoding_for(local)))
    assert hr.select(results) == []  # its initial skill was decoded otherwise


def test_a_task_still_being_measured_is_measured_again_whole_on_another_kind_of_cpu(
    hr: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = "local:qwen2.5-coder-0.5b"
    skills = hr.load_skills(hr.HERE / "headroom_skills.yaml")
    results = hr.Results.open(tmp_path / "r.json")
    decoding = hr.decoding_for(local)

    def put(name: str, label: str, right: int, **cpu: str) -> None:
        task = hr.make_task(name)
        ids = [item.id for item in task.splits()["val"]][:8]
        results.put(
            local,
            name,
            label,
            {
                "skill_sha": hr.digest(hr.skill_texts(task, skills[name])[label]),
                "items": ids,
                "scores": [1.0] * right + [0.0] * (8 - right),
                "reply_tokens": [5] * 8,
                "answers": [""] * 8,
                "decoding": decoding,
                **cpu,
            },
        )

    done, partial = "bbh/web_of_lies", "bbh/boolean_expressions"
    for label in ("initial", "procedure", "examples", "knowledge"):
        put(done, label, 8 if label != "initial" else 0)  # no cpu: the former machine's
    put(partial, "initial", 0)
    monkeypatch.setattr(hr, "cpu_kind", lambda: "Other CPU (x86_64, avx512)")
    todo = [
        (name, label) for name, label, *_ in hr.plan([done, partial], skills, local, 8, results)
    ]
    # A finished task stays as measured; an unfinished one is measured whole on this CPU.
    assert todo == [(partial, k) for k in ("initial", "procedure", "examples", "knowledge")]

    put(partial, "procedure", 8, cpu="Other CPU (x86_64, avx512)")
    assert [p.task for p in hr.select(results)] == [done]  # never paired across CPUs
    table = hr.table(results, local, [done, partial])
    assert f"{hr.FORMER_CPU} (5)" in table and "Other CPU (x86_64, avx512) (1)" in table
