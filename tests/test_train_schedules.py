"""Edit-budget schedules: values, bounds, warmup and construction from config."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from skillfit.optim.schedules import (
    ScheduleConfig,
    constant,
    cosine,
    linear,
    make_schedule,
    warmup,
)


def test_constant_is_constant() -> None:
    s = constant(3)
    assert [s(i) for i in range(5)] == [3, 3, 3, 3, 3]


def test_cosine_matches_optax_curve_rounded() -> None:
    s = cosine(init=4, minimum=1, total_steps=4)
    # 1 + 3 * (1 + cos(pi t / 4)) / 2 = 4, 3.56, 2.5, 1.44, 1  -> rounded half up
    assert [s(i) for i in range(6)] == [4, 4, 3, 1, 1, 1]


def test_cosine_reference_formula() -> None:
    init, minimum, total = 8, 2, 10
    s = cosine(init, minimum, total)
    for step in range(15):
        t = min(step, total) / total
        expected = minimum + (init - minimum) * 0.5 * (1 + math.cos(math.pi * t))
        assert abs(s(step) - expected) <= 0.5


def test_linear_decays_to_minimum() -> None:
    s = linear(init=5, minimum=1, total_steps=4)
    assert [s(i) for i in range(6)] == [5, 4, 3, 2, 1, 1]


def test_warmup_ramps_then_follows_shifted_schedule() -> None:
    base = linear(init=5, minimum=1, total_steps=4)
    s = warmup(base, steps=4, start=1)
    assert [s(i) for i in range(4)] == [1, 2, 3, 4]
    assert [s(i) for i in range(4, 10)] == [base(i) for i in range(6)]


def test_warmup_zero_steps_is_identity() -> None:
    base = cosine(4, 1, 10)
    assert warmup(base, 0) is base


def test_negative_step_rejected() -> None:
    with pytest.raises(ValueError):
        cosine(4, 1, 10)(-1)


@pytest.mark.parametrize(("init", "minimum", "total"), [(1, 2, 10), (4, -1, 10), (4, 1, 0)])
def test_bad_arguments_rejected(init: int, minimum: int, total: int) -> None:
    with pytest.raises(ValueError):
        cosine(init, minimum, total)
    with pytest.raises(ValueError):
        linear(init, minimum, total)


@given(
    init=st.integers(0, 20),
    gap=st.integers(0, 20),
    total=st.integers(1, 200),
    step=st.integers(0, 400),
    kind=st.sampled_from(["cosine", "linear"]),
)
def test_decay_bounds_and_monotone(init: int, gap: int, total: int, step: int, kind: str) -> None:
    minimum = init
    init = init + gap
    s = cosine(init, minimum, total) if kind == "cosine" else linear(init, minimum, total)
    value = s(step)
    assert isinstance(value, int)
    assert minimum <= value <= init
    assert s(step + 1) <= value  # never increases
    assert s(0) == init
    assert s(total + step) == minimum


@given(
    init=st.integers(0, 12),
    minimum=st.integers(0, 12),
    warm=st.integers(0, 30),
    total=st.integers(0, 100),
    kind=st.sampled_from(["cosine", "linear", "constant"]),
    step=st.integers(0, 300),
)
def test_make_schedule_bounds(
    init: int, minimum: int, warm: int, total: int, kind: str, step: int
) -> None:
    if kind != "constant" and minimum > init:
        with pytest.raises(ValidationError):
            ScheduleConfig(kind=kind, init=init, minimum=minimum, warmup_steps=warm)  # type: ignore[arg-type]
        return
    cfg = ScheduleConfig(kind=kind, init=init, minimum=minimum, warmup_steps=warm)  # type: ignore[arg-type]
    s = make_schedule(cfg, total)
    value = s(step)
    assert isinstance(value, int)
    assert 0 <= value <= init
    if kind != "constant":
        assert value >= minimum
    elif step >= warm:
        assert value == init
    if step < warm:
        # the warmup ramp never decreases and never overshoots the peak
        assert s(step) <= s(step + 1) <= init


def test_make_schedule_reaches_minimum_at_total_steps() -> None:
    cfg = ScheduleConfig(kind="cosine", init=4, minimum=1, warmup_steps=2)
    s = make_schedule(cfg, total_steps=12)
    values = [s(i) for i in range(14)]
    assert values[:3] == [1, 3, 4]  # ramp from 1 to init, then the decay starts at init
    assert values[12] == 1
    assert max(values) == 4


def test_default_config_is_cosine_4_to_1() -> None:
    s = make_schedule(ScheduleConfig(), total_steps=10)
    values = [s(i) for i in range(11)]
    assert values[0] == 4 and values[-1] == 1
    assert values == sorted(values, reverse=True)


def test_schedule_config_forbids_unknown_keys() -> None:
    with pytest.raises(ValidationError):
        ScheduleConfig(kind="cosine", intial=3)  # type: ignore[call-arg]
