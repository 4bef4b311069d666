"""A fixed scripted run of the skillfit loop and its fingerprint: the golden file in
tests/fixtures/skillfit_golden.json was written by the Trainer before the strategy seam, and
the seam must reproduce it (tests/test_strategies.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from train_fakes import MAGIC, AddTask, Optimizer, config, edit, run, target_model

GOLDEN = Path(__file__).parent / "fixtures" / "skillfit_golden.json"


def scenario(tmp_path: Path, *overrides: str) -> Path:
    useless = {"analysis": "x", "edits": [edit(content="## Tone\nStay calm and friendly.")]}
    good = {"analysis": "method", "edits": [edit(content=f"## Method\n{MAGIC}")]}
    opt = Optimizer([useless, good, useless])
    cfg = config(
        tmp_path,
        "train.epochs=2",
        "train.batch_size=3",
        "train.minibatch_size=3",
        "slow_update.enabled=true",
        "slow_update.n_items=3",
        "meta_skill.enabled=true",
        # The reflection's own passes change what the optimizer is asked, not the loop around
        # it: the golden pins the loop, so the procedure pass (added later) stays off.
        "optimizer.procedure=false",
        *overrides,
    )
    run(cfg, AddTask(initial="# Guide\n\nBe careful.\n"), target_model(), opt.model)
    return tmp_path / "run"


def fingerprint(root: Path) -> dict[str, Any]:
    def read(name: str) -> Any:
        return json.loads((root / name).read_text(encoding="utf-8"))

    history = []
    for r in read("history.json"):
        r = {k: v for k, v in r.items() if k != "seconds"}
        r["tokens"] = {
            role: {"calls": s.get("calls", 0) + s.get("cache_hits", 0)}
            for role, s in r.get("tokens", {}).items()
        }
        history.append(r)
    state = read("runtime_state.json")
    test = state["test"] or {}
    files = sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file()
        and p.parts[len(root.parts)]
        in ("steps", "skills", "slow_update", "meta_skill", "test_eval")
    )
    return {
        "best_skill": state["best_skill"],
        "best_version": state["best_version"],
        "current_skill": state["current_skill"],
        "meta_skill": state["meta_skill"],
        "buffer": state["buffer"],
        "history": history,
        "test": {
            k: v["accuracy"] for k, v in test.items() if isinstance(v, dict) and "accuracy" in v
        },
        "files": files,
    }


if __name__ == "__main__":  # regenerate (only when the loop's behaviour is meant to change)
    import sys
    import tempfile

    sys.path.insert(0, str(Path(__file__).parent))
    with tempfile.TemporaryDirectory() as tmp:
        GOLDEN.write_text(json.dumps(fingerprint(scenario(Path(tmp))), indent=1) + "\n")
