"""One training step of a `file` task (JSONL, exact scorer) on the embedded 0.5B model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skillfit.api import train

CAPITALS = [
    ("France", "Paris"),
    ("Japan", "Tokyo"),
    ("Italy", "Rome"),
    ("Egypt", "Cairo"),
    ("Spain", "Madrid"),
    ("Germany", "Berlin"),
    ("Russia", "Moscow"),
    ("Greece", "Athens"),
]


@pytest.mark.real_model
def test_train_a_file_task_with_an_exact_scorer_on_the_embedded_model(tmp_path: Path) -> None:
    splits = ["train"] * 3 + ["val"] * 3 + ["test"] * 2
    rows = [
        {"q": f"What is the capital of {country}?", "a": city, "split": split}
        for (country, city), split in zip(CAPITALS, splits, strict=True)
    ]
    (tmp_path / "capitals.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "skill.md").write_text("# Capitals\n\n## Answer\nName the city only.\n")
    (tmp_path / "run.yaml").write_text(
        "task:\n"
        "  name: file\n"
        "  options: {path: capitals.jsonl, input: q, target: a, split: split,\n"
        "            initial_skill: skill.md, scorer: exact}\n"
        "target: {model: 'local:qwen2.5-coder-0.5b', max_tokens: 48}\n"
        "optimizer: {model: 'local:qwen2.5-coder-0.5b', max_tokens: 320}\n"
        "train: {epochs: 1, max_steps: 1, batch_size: 3, minibatch_size: 3, concurrency: 2}\n"
        "slow_update: {enabled: false}\n"
        "meta_skill: {enabled: false}\n"
        f"cache: {{path: '{tmp_path / 'cache.sqlite'}'}}\n"
        f"run: {{out_dir: '{tmp_path}', name: real}}\n"
    )
    result = train(tmp_path / "run.yaml")
    (record,) = json.loads((tmp_path / "real" / "history.json").read_text())
    assert record["n_train"] == 3 and record["n_infra_errors"] == 0
    rollouts = [
        json.loads(line)
        for line in (tmp_path / "real" / "steps" / "step_0001" / "rollouts.jsonl").open()
    ]
    assert all(r["score"] is not None for r in rollouts)
    assert result.test is not None
    assert result.test["initial"]["scored"] == 2 and result.test["best"]["scored"] == 2
