"""The acceptance gate: decisions, exclusions, samples, batching, and early-stop equivalence."""

from __future__ import annotations

import functools
import importlib.util
import json
import math
import random
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from skillfit.core.stats import unconditional_pvalue
from skillfit.optim.gate import GateConfig, GateResult, run_gate
from skillfit.tasks.base import Item

Table = dict[str, list[float | None]]  # item id -> one score per sample
STRICT = GateConfig(kind="strict_mean")


def make_items(n: int) -> list[Item]:
    return [Item(id=f"i{k:03d}", input=f"q{k}") for k in range(n)]


class Scorer:
    """Looks scores up in a table and records every call."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.calls: list[tuple[str, int]] = []

    def __call__(self, item: Item, sample: int) -> float | None:
        self.calls.append((item.id, sample))
        return self.table[item.id][sample]


def gate(
    cur: Sequence[Any], cand: Sequence[Any], cfg: GateConfig | None = None, **kw: Any
) -> GateResult:
    """Run the gate on per-item score lists (a scalar means one sample)."""
    items = make_items(len(cur))

    def table(values: Sequence[Any]) -> Table:
        return {
            it.id: (list(v) if isinstance(v, list | tuple) else [v])
            for it, v in zip(items, values, strict=True)
        }

    return run_gate(items, Scorer(table(cur)), Scorer(table(cand)), cfg or GateConfig(), **kw)


# --- strict_mean ----------------------------------------------------------------------


def test_strict_mean_adopts_a_strictly_better_candidate() -> None:
    r = gate([1, 0, 0, 1], [1, 1, 0, 1], STRICT)
    assert r.accepted
    assert (r.current_mean, r.candidate_mean) == (0.5, 0.75)
    assert r.paired.wins == 1 and r.paired.ties == 3
    assert "adopted" in r.reason and not r.stopped_early


def test_strict_mean_rejects_ties_even_with_different_items() -> None:
    r = gate([1, 0, 1, 0], [0, 1, 0, 1], GateConfig(kind="strict_mean", early_stop=False))
    assert not r.accepted and r.current_mean == r.candidate_mean
    assert "rejected" in r.reason


def test_strict_mean_tie_is_exact_despite_float_noise() -> None:
    # Three samples: per-item means like 1/3 and 2/3 must cancel exactly.
    cfg = GateConfig(kind="strict_mean", samples=3, early_stop=False)
    cur = [[1, 0, 0], [1, 1, 0], [0, 0, 0]]
    cand = [[0, 0, 0], [1, 1, 1], [0, 0, 0]]
    assert not gate(cur, cand, cfg).accepted  # 1/3 + 2/3 vs 0 + 1
    cand2 = [[0, 0, 0], [1, 1, 1], [0, 0, 1]]
    assert gate(cur, cand2, cfg).accepted


def test_strict_mean_rejects_a_worse_candidate() -> None:
    r = gate([1, 1, 1, 0], [1, 0, 1, 0], GateConfig(kind="strict_mean", early_stop=False))
    assert not r.accepted and r.paired.losses == 1


# --- paired ---------------------------------------------------------------------------


def test_paired_needs_significance() -> None:
    cfg = GateConfig(kind="paired", alpha=0.1)
    small = gate([0, 1, 1, 1], [1, 1, 1, 1], cfg)  # one win: p = 0.5
    assert small.candidate_mean > small.current_mean and not small.accepted
    assert "p > 0.1" in small.reason
    big = gate([0] * 5 + [1] * 5, [1] * 10, cfg)  # five wins, no loss: p = 1/32
    assert big.accepted and big.paired.p_value == pytest.approx(1 / 32)


def test_paired_min_margin() -> None:
    cur = [0] * 5 + [1] * 15
    cand = [1] * 20  # 5 wins of 20 items: gain 0.25, p = 1/32
    assert gate(cur, cand, GateConfig(kind="paired", min_margin=0.25)).accepted
    r = gate(cur, cand, GateConfig(kind="paired", min_margin=0.3, early_stop=False))
    assert not r.accepted and "gain" in r.reason


def test_paired_margin_is_exact_decimal() -> None:
    cur = [0, 0] + [1] * 18
    cand = [1] * 20  # gain exactly 0.1
    cfg = GateConfig(kind="paired", alpha=0.3, min_margin=0.1)
    assert gate(cur, cand, cfg).accepted


def test_paired_soft_scores() -> None:
    cur = [0.2, 0.4, 0.5, 0.3, 0.6, 0.1, 0.4, 0.5]
    cand = [0.5, 0.6, 0.5, 0.7, 0.8, 0.3, 0.6, 0.6]
    r = gate(cur, cand, GateConfig(kind="paired", metric="soft"))
    assert r.accepted and r.paired.p_value <= 0.1
    assert r.paired.ci_low > 0


# --- the default: paired_unconditional ------------------------------------------------


def one_item_win(n: int = 20) -> tuple[list[int], list[int]]:
    cur = [1] * 8 + [0] * (n - 8)
    cand = list(cur)
    cand[10] = 1  # the candidate wins one item, everything else identical
    return cur, cand


def test_default_is_the_exact_unconditional_test_at_alpha_005() -> None:
    cfg = GateConfig()
    assert (cfg.kind, cfg.alpha, cfg.min_margin) == ("paired_unconditional", 0.05, 0.0)
    assert (cfg.samples, cfg.metric, cfg.early_stop) == (1, "hard", True)


def test_strict_mean_still_adopts_a_one_item_win_on_20_items() -> None:
    cur, cand = one_item_win()
    r = gate(cur, cand, GateConfig(kind="strict_mean", early_stop=False))
    assert r.accepted and r.paired.wins == 1 and r.paired.losses == 0
    assert r.candidate_mean - r.current_mean == pytest.approx(0.05)
    # racing: once no remaining item can be lost (the current skill fails them all), it stops
    raced = gate(cur, cand, GateConfig(kind="strict_mean"))
    assert raced.accepted and raced.stopped_for == "adoption" and raced.n_scored < 20


def test_default_does_not_adopt_a_one_item_win_on_20_items() -> None:
    cur, cand = one_item_win()
    for batch_size in (8, 20):
        r = gate(cur, cand, batch_size=batch_size)
        assert not r.accepted and "p > 0.05 (exact unconditional test)" in r.reason
    full = gate(cur, cand, GateConfig(early_stop=False))
    assert not full.accepted and full.paired.p_value == pytest.approx(
        unconditional_pvalue(1, 0, 20)
    )
    assert full.paired.p_value > 0.25


def test_default_needs_about_four_net_wins_on_20_items() -> None:
    def counts(wins: int, losses: int, n: int = 20) -> GateResult:
        cur = [0] * wins + [1] * losses + [1] * 5 + [0] * (n - wins - losses - 5)
        cand = [1] * wins + [0] * losses + [1] * 5 + [0] * (n - wins - losses - 5)
        return gate(cur, cand, GateConfig(early_stop=False))

    assert not counts(3, 0).accepted  # p = 0.058
    r = counts(4, 0)  # p = 0.025: the sign test (p = 1/16) would reject it
    assert r.accepted and "adopted" in r.reason and r.paired.p_value < 0.05
    assert not gate(*_pair(4, 0), GateConfig(kind="paired", alpha=0.05)).accepted
    assert not counts(5, 1).accepted and counts(6, 1).accepted


def _pair(wins: int, losses: int, n: int = 20) -> tuple[list[int], list[int]]:
    cur = [0] * wins + [1] * losses + [0] * (n - wins - losses)
    cand = [1] * wins + [0] * losses + [0] * (n - wins - losses)
    return cur, cand


def test_default_falls_back_to_the_sign_flip_test_for_samples_or_soft_scores() -> None:
    cur = [[0, 0]] * 5 + [[1, 1]] * 5
    cand = [[1, 1]] * 5 + [[1, 1]] * 5
    r = gate(cur, cand, GateConfig(samples=2))
    assert r.accepted and r.paired.p_value == pytest.approx(1 / 32)  # the sign-flip test
    assert "sign-flip test" in r.reason
    soft = gate([0.0] * 5 + [1.0] * 5, [1.0] * 10, GateConfig(metric="soft"))
    assert soft.accepted and soft.paired.p_value == pytest.approx(1 / 32)


def test_default_gate_keeps_false_adoption_at_most_alpha_exactly() -> None:
    # The real gate's decision for every (wins, losses) count, weighted by its probability when
    # wins and losses are equally likely: at most alpha at every churn, not only the measured.
    sim = _gate_sim()
    cfg = GateConfig()
    for n in (10, 20, 30):
        table = sim.decision_table(cfg, n)
        for churn in [k / 20 for k in range(1, 21)]:
            rate = sim.exact_adoption(table, churn / 2, churn / 2)
            assert rate <= cfg.alpha + 1e-12, (n, churn, rate)
    # and on 20 items it adopts real +10-point gains more often than the sign test does
    sign = sim.decision_table(GateConfig(kind="paired", alpha=0.05), 20)
    table20 = sim.decision_table(cfg, 20)
    for churn in (0.1, 0.2, 0.3):
        a, b = churn / 2 + 0.05, churn / 2 - 0.05
        assert sim.exact_adoption(table20, a, b) > 1.4 * sim.exact_adoption(sign, a, b)


def test_bench_simulation_false_adoption_within_monte_carlo_error() -> None:
    sim = _gate_sim()
    cfg = GateConfig()
    trials = 400
    for churn in (0.1, 0.3):
        a, b = sim.scenario_rates(churn, "equal")
        adopted = sim.simulate_adoption(cfg, 20, a, b, trials, seed=[7, int(churn * 100)])
        mc_error = 3 * math.sqrt(cfg.alpha * (1 - cfg.alpha) / trials)
        assert adopted / trials <= cfg.alpha + mc_error
    # the same simulation does see the strict gate adopt noise
    a, b = sim.scenario_rates(0.2, "equal")
    strict = sim.simulate_adoption(GateConfig(kind="strict_mean"), 20, a, b, 200, seed=3)
    assert strict / 200 > 0.25


def test_early_stop_never_changes_the_decision_of_the_default() -> None:
    rng = random.Random(7)
    stops = accepts = 0
    for _ in range(300):
        n = rng.randint(1, 40)
        p_win, p_loss = rng.choice([(0.3, 0.0), (0.2, 0.05), (0.1, 0.1), (0.05, 0.3)])
        p_none = rng.choice([0.0, 0.0, 0.1])
        cur: Table = {}
        cand: Table = {}
        for k in range(n):
            u = rng.random()
            pair = (0.0, 1.0) if u < p_win else (1.0, 0.0) if u < p_win + p_loss else (1.0, 1.0)
            failed = rng.random() < p_none  # an infrastructure error on the current side
            cur[f"i{k:03d}"] = [None if failed else pair[0]]
            cand[f"i{k:03d}"] = [pair[1]]
        cfg = GateConfig(
            alpha=rng.choice([0.05, 0.05, 0.1, 0.2]), min_margin=rng.choice([0.0, 0.0, 0.1])
        )
        early = _check_equivalence(cfg, cur, cand, rng.choice([1, 2, 4, 8]))
        stops += early.stopped_early
        accepts += early.accepted
    assert stops > 30 and accepts > 30


@functools.cache
def _gate_sim() -> Any:
    """bench/gate_sim.py, imported as a module."""
    path = Path(__file__).resolve().parents[1] / "bench" / "gate_sim.py"
    spec = importlib.util.spec_from_file_location("gate_sim", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gate_sim"] = module  # dataclasses look their module up while decorating
    spec.loader.exec_module(module)
    return module


# --- exclusions, samples, batching ----------------------------------------------------


def test_infra_errors_exclude_the_item_from_both_sides() -> None:
    r = gate([1, None, 0, 0], [1, 1, None, 1], GateConfig(kind="strict_mean", early_stop=False))
    assert (r.n_scored, r.n_excluded, r.paired.n) == (4, 2, 2)
    assert (r.current_mean, r.candidate_mean) == (0.5, 1.0)
    assert r.per_item[1] == {"item_id": "i001", "current": None, "candidate": 1.0}
    assert r.accepted and "2 item(s) excluded" in r.reason
    # One failed sample out of two excludes the item too.
    r2 = gate(
        [[1, 0], [1, None]],
        [[1, 1], [1, 1]],
        GateConfig(kind="strict_mean", samples=2, early_stop=False),
    )
    assert r2.n_excluded == 1 and r2.candidate_mean == 1.0 and r2.current_mean == 0.5


def test_all_excluded_is_rejected() -> None:
    r = gate([None, None], [1, 1])
    assert not r.accepted and r.n_excluded == 2 and "no item" in r.reason
    assert json.dumps(r.to_dict())


def test_no_items_is_rejected() -> None:
    r = run_gate([], Scorer({}), Scorer({}), GateConfig())
    assert not r.accepted and r.n_items == 0


def test_samples_are_averaged_and_both_sides_rescored() -> None:
    items = make_items(3)
    cur = Scorer({i.id: [1.0, 0.0] for i in items})
    cand = Scorer({i.id: [1.0, 1.0] for i in items})
    r = run_gate(items, cur, cand, GateConfig(kind="strict_mean", samples=2))
    assert (
        sorted(cur.calls) == sorted(cand.calls) == sorted((i.id, k) for i in items for k in (0, 1))
    )
    assert r.current_mean == 0.5 and r.candidate_mean == 1.0 and r.accepted


def test_map_fn_gets_whole_batches_and_can_be_a_thread_pool() -> None:
    seen: list[int] = []

    def spy_map(fn: Any, jobs: Sequence[Any]) -> list[Any]:
        seen.append(len(jobs))
        return [fn(j) for j in jobs]

    cur, cand = [0, 1, 0, 1, 1], [1, 1, 0, 1, 1]
    plain = STRICT.model_copy(update={"racing": False})
    r = gate(cur, cand, plain, batch_size=2, map_fn=spy_map)
    assert seen == [4, 4, 2]  # both sides of each batch in one call
    with ThreadPoolExecutor(4) as pool:
        r2 = gate(cur, cand, plain, batch_size=2, map_fn=pool.map)
    assert r.to_dict() == r2.to_dict()
    # racing: the current skill on every item in one call, then the candidate batch by batch
    seen.clear()
    cur, cand = [1, 0, 0, 1, 1], [1, 0, 1, 1, 1]
    raced = gate(cur, cand, STRICT, batch_size=2, map_fn=spy_map)
    assert seen == [5, 2, 2, 1] and raced.accepted and raced.current_scored == 5


def test_bad_scores_are_refused() -> None:
    with pytest.raises(ValueError, match="0 or 1"):
        gate([0.5], [1])
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        gate([1.5], [1], GateConfig(metric="soft"))
    with pytest.raises(ValueError):
        gate([1], [1], batch_size=0)


def test_gate_config_validation() -> None:
    with pytest.raises(ValidationError):
        GateConfig(kind="best")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        GateConfig(samples=0)
    with pytest.raises(ValidationError):
        GateConfig(alpah=0.2)  # type: ignore[call-arg]


def test_result_serializes() -> None:
    r = gate([1, 0, 1], [1, 1, 1], STRICT)
    d = json.loads(json.dumps(r.to_dict()))
    assert d["accepted"] is True and d["paired"]["wins"] == 1
    assert [row["item_id"] for row in d["per_item"]] == ["i000", "i001", "i002"]
    assert set(d) == {
        "accepted",
        "reason",
        "current_mean",
        "candidate_mean",
        "paired",
        "n_items",
        "n_scored",
        "n_excluded",
        "n_compared",
        "decided",
        "first_error",
        "stopped_early",
        "stopped_for",
        "current_scored",
        "per_item",
    }


# --- early stop -----------------------------------------------------------------------


def test_early_stop_saves_calls_and_says_so() -> None:
    items = make_items(20)
    cur = Scorer({i.id: [1.0] for i in items})
    cand = Scorer({i.id: [0.0] for i in items})
    r = run_gate(items, cur, cand, GateConfig(), batch_size=4)
    assert r.stopped_early and not r.accepted
    assert r.n_scored < 20 and len(cand.calls) == r.n_scored
    assert "stopped early" in r.reason and "scored so far" in r.reason
    assert r.current_mean == 1.0 and r.candidate_mean == 0.0


def test_early_stop_for_paired_on_p_value() -> None:
    # Even if all remaining items were wins, 4 losses out of 10 items keep p above alpha.
    cur = [1] * 4 + [0] * 6
    cand = [0] * 4 + [0] * 6
    r = gate(cur, cand, GateConfig(kind="paired", alpha=0.05), batch_size=4)
    full = gate(cur, cand, GateConfig(kind="paired", alpha=0.05, early_stop=False), batch_size=4)
    assert r.stopped_early and r.n_scored == 4 and not full.accepted


def test_no_early_stop_while_the_candidate_can_still_win() -> None:
    cur = [1, 1, 0, 0, 0, 0]
    cand = [0, 0, 1, 1, 1, 0]  # behind after the first batch, ahead at the end
    r = gate(cur, cand, STRICT, batch_size=2)
    assert r.accepted and not r.stopped_early and r.n_scored == 6


def _random_case(rng: random.Random) -> tuple[GateConfig, Table, Table, int]:
    samples = rng.choice([1, 1, 1, 2, 3])
    metric = rng.choice(["hard", "hard", "soft"])
    kind = rng.choice(["strict_mean", "paired", "paired_unconditional"])
    n = rng.randint(0, 24)
    p_none = rng.choice([0.0, 0.0, 0.1, 0.4])
    skew = rng.random()  # how often the candidate does well
    soft_values = [0.0, 0.25, 0.3, 0.5, 0.7, 1.0, rng.random()]

    def value(good: float) -> float | None:
        if rng.random() < p_none:
            return None
        if metric == "hard":
            return 1.0 if rng.random() < good else 0.0
        return rng.choice(soft_values) if rng.random() < 0.5 else float(rng.random() < good)

    cur = {f"i{k:03d}": [value(0.5) for _ in range(samples)] for k in range(n)}
    cand = {f"i{k:03d}": [value(skew) for _ in range(samples)] for k in range(n)}
    cfg = GateConfig(
        kind=kind,  # type: ignore[arg-type]
        samples=samples,
        metric=metric,  # type: ignore[arg-type]
        alpha=rng.choice([0.01, 0.05, 0.1, 0.25, 0.5, 1.0]),
        min_margin=rng.choice([0.0, 0.0, 0.05, 0.1, 0.2]),
    )
    return (
        cfg.model_copy(update={"racing": rng.random() < 0.5}),
        cur,
        cand,
        rng.choice([1, 2, 3, 5, 8]),
    )


def _check_equivalence(cfg: GateConfig, cur: Table, cand: Table, batch_size: int) -> GateResult:
    """The gate stopping early (on the rejection side, and with `racing` on the adoption side
    too) gives the verdict of the full evaluation, which scores every item."""
    items = make_items(len(cur))
    full = run_gate(
        items,
        Scorer(cur),
        Scorer(cand),
        cfg.model_copy(update={"early_stop": False}),
        batch_size=batch_size,
    )
    early = run_gate(
        items,
        Scorer(cur),
        Scorer(cand),
        cfg.model_copy(update={"early_stop": True}),
        batch_size=batch_size,
    )
    assert early.accepted == full.accepted, (cfg, cur, cand, early.reason, full.reason)
    assert not full.stopped_early and full.n_scored == len(items)
    if not early.stopped_early:
        assert early.to_dict() == full.to_dict()
    else:
        assert early.n_scored < full.n_scored
        assert early.stopped_for == ("adoption" if full.accepted else "rejection")
        assert cfg.racing or early.stopped_for == "rejection"
        # the early result is the full result's prefix
        assert early.per_item == full.per_item[: early.n_scored]
    return early


def test_early_stop_never_changes_the_decision_many_random_cases() -> None:
    rng = random.Random(20261122)
    stops = accepts = 0
    for _ in range(1500):
        early = _check_equivalence(*_random_case(rng))
        stops += early.stopped_early
        accepts += early.accepted
    # the cases exercise both outcomes and the early stop itself
    assert stops > 200 and accepts > 200


score_lists = st.lists(st.sampled_from([0.0, 1.0]), min_size=1, max_size=3)


@st.composite
def gate_cases(draw: st.DrawFn) -> tuple[GateConfig, Table, Table, int]:
    samples = draw(st.integers(1, 3))
    metric = draw(st.sampled_from(["hard", "soft"]))
    n = draw(st.integers(0, 16))
    if metric == "hard":
        score = st.one_of(st.none(), st.sampled_from([0.0, 1.0]), st.sampled_from([0.0, 1.0]))
    else:
        score = st.one_of(
            st.none(), st.sampled_from([0.0, 0.5, 1.0]), st.floats(0, 1, allow_nan=False)
        )
    per_item = st.lists(score, min_size=samples, max_size=samples)
    cur = {f"i{k:03d}": draw(per_item) for k in range(n)}
    cand = {f"i{k:03d}": draw(per_item) for k in range(n)}
    cfg = GateConfig(
        kind=draw(st.sampled_from(["strict_mean", "paired", "paired_unconditional"])),
        samples=samples,
        metric=metric,  # type: ignore[arg-type]
        alpha=draw(st.sampled_from([0.01, 0.05, 0.1, 0.2, 0.5, 1.0])),
        min_margin=draw(st.sampled_from([0.0, 0.1, 0.25])),
        racing=draw(st.booleans()),
    )
    return cfg, cur, cand, draw(st.integers(1, 6))


@given(gate_cases())
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_early_stop_equivalence_property(case: tuple[GateConfig, Table, Table, int]) -> None:
    _check_equivalence(*case)


# --- racing: stopping once the verdict can no longer change either way -------------------


def _outcome_table(rng: random.Random, n: int, p_win: float, p_loss: float) -> tuple[Table, Table]:
    cur: Table = {}
    cand: Table = {}
    for k in range(n):
        u = rng.random()
        pair = (0.0, 1.0) if u < p_win else (1.0, 0.0) if u < p_win + p_loss else (1.0, 1.0)
        failed = rng.random() < 0.03  # an infrastructure error now and then
        cur[f"i{k:03d}"] = [None if failed else pair[0]]
        cand[f"i{k:03d}"] = [pair[1]]
    return cur, cand


def test_racing_gives_the_full_verdict_on_many_outcome_tables() -> None:
    rng = random.Random(24)
    adopted_early = rejected_early = scored = total = 0
    for _ in range(600):
        n = rng.choice([20, 40, 60])
        p_win, p_loss = rng.choice([(0.4, 0.0), (0.3, 0.05), (0.15, 0.05), (0.1, 0.1), (0.0, 0.3)])
        cur, cand = _outcome_table(rng, n, p_win, p_loss)
        cfg = GateConfig(
            kind=rng.choice(["paired_unconditional", "paired_unconditional", "paired"]),
            alpha=rng.choice([0.05, 0.1]),
            min_margin=rng.choice([0.0, 0.0, 0.05]),
        )
        assert cfg.racing  # on by default
        early = _check_equivalence(cfg, cur, cand, 8)
        adopted_early += early.stopped_for == "adoption"
        rejected_early += early.stopped_for == "rejection"
        scored, total = scored + early.n_scored, total + n
    # both sides stop, and racing scores fewer items than the full gate
    assert adopted_early > 50 and rejected_early > 50
    assert scored < total


def test_racing_stops_once_adoption_is_certain() -> None:
    # The first 20 items won, the current skill right on the other 20 (the candidate could
    # lose them): after 32 items, even losing the last 8 leaves 20 wins and 8 losses of 40
    # (p = 0.013), so the last batch is never scored.
    cur = [0] * 20 + [1] * 20
    cand = [1] * 40
    r = gate(cur, cand, GateConfig(), batch_size=8)
    full = gate(cur, cand, GateConfig(early_stop=False))
    assert full.accepted and r.accepted
    assert r.stopped_for == "adoption" and r.n_scored == 32 and r.current_scored == 40
    assert "whatever the" in r.reason and "adopted" in r.reason
    assert r.to_dict()["stopped_for"] == "adoption"
    # without racing the same gate scores every item (it only stops to reject)
    plain = gate(cur, cand, GateConfig(racing=False), batch_size=8)
    assert plain.accepted and not plain.stopped_early and plain.n_scored == 40


def test_racing_knows_which_items_the_current_skill_fails() -> None:
    # 8 wins in the first batch; the current skill fails the other 32, which the candidate can
    # then only tie or win: adopted after one batch.
    cur, cand = _pair(8, 0, 40)
    r = gate(cur, cand, GateConfig(), batch_size=8)
    assert r.accepted and r.stopped_for == "adoption" and r.n_scored == 8
    # and where the current skill is right on every remaining item, none can be won
    cur, cand = [0] * 8 + [1] * 32, [0] * 40
    r = gate(cur, cand, GateConfig(), batch_size=8)
    assert not r.accepted and r.stopped_for == "rejection" and r.n_scored == 8


def test_racing_does_not_stop_while_the_remaining_items_could_undo_it() -> None:
    # 4 wins among the first 8 items, the current skill right on the rest: until the last
    # batch, losing every remaining item would undo the gain, so racing scores all 40 although
    # the verdict is adoption
    cur, cand = [0] * 4 + [1] * 36, [1] * 40
    r = gate(cur, cand, GateConfig(), batch_size=8)
    assert r.accepted and not r.stopped_early and r.n_scored == 40
