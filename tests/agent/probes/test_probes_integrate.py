"""Trapezoids and counter deltas on sample sets whose integrals are known exactly."""

from __future__ import annotations

import pytest

from edgebench.agent.probes.integrate import counter_delta, cumulative_delta_j, interpolate, trapezoid_energy_j


def test_constant_power() -> None:
    times = [0.0, 0.25, 0.5, 0.75, 1.0]
    assert trapezoid_energy_j(times, [3.0] * 5, 0.0, 1.0) == pytest.approx(3.0, abs=1e-15)


def test_ramp_is_exact_with_trapezoids() -> None:
    # P(t) = 2 t on [0, 2]: integral 4 J; trapezoids are exact on a linear signal.
    times = [0.0, 0.5, 1.0, 1.5, 2.0]
    assert trapezoid_energy_j(times, [2 * t for t in times], 0.0, 2.0) == pytest.approx(4.0, abs=1e-15)


def test_window_edges_are_interpolated_between_samples() -> None:
    # Same ramp, window [0.25, 1.75]: integral of 2t = 1.75^2 - 0.25^2 = 3.0 J.
    times = [0.0, 0.5, 1.0, 1.5, 2.0]
    assert trapezoid_energy_j(times, [2 * t for t in times], 0.25, 1.75) == pytest.approx(3.0, abs=1e-15)


def test_step_between_samples_is_split_by_the_trapezoid() -> None:
    # 1 W until 1.0 s, 5 W from the sample at 1.1 s: the segment [1.0, 1.1] averages 3 W.
    times = [0.0, 0.5, 1.0, 1.1, 1.5, 2.0]
    power = [1.0, 1.0, 1.0, 5.0, 5.0, 5.0]
    assert trapezoid_energy_j(times, power, 0.0, 2.0) == pytest.approx(1.0 + 0.3 + 4.5, abs=1e-15)


def test_samples_not_reaching_the_edges_are_held_flat() -> None:
    assert trapezoid_energy_j([1.0, 2.0], [2.0, 4.0], 0.0, 3.0) == pytest.approx(2.0 + 3.0 + 4.0, abs=1e-15)
    assert trapezoid_energy_j([5.0], [7.0], 0.0, 0.5) == pytest.approx(3.5, abs=1e-15)


def test_interpolate() -> None:
    assert interpolate([0.0, 1.0], [10.0, 20.0], 0.25) == 12.5
    assert interpolate([0.0, 1.0], [10.0, 20.0], -1.0) == 10.0
    assert interpolate([0.0, 1.0], [10.0, 20.0], 9.0) == 20.0


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError):
        trapezoid_energy_j([], [], 0.0, 1.0)
    with pytest.raises(ValueError):
        trapezoid_energy_j([0.0], [1.0, 2.0], 0.0, 1.0)
    with pytest.raises(ValueError):
        trapezoid_energy_j([0.0], [1.0], 1.0, 0.0)


def test_counter_wrap_adds_the_range() -> None:
    assert counter_delta(900, 1_000, 1_000) == 100
    assert counter_delta(900, 100, 1_000) == 200  # 900 -> 1000 (=0) -> 100
    with pytest.raises(ValueError):
        counter_delta(900, 100, 0)


def test_cumulative_delta_interpolates_inside_segments() -> None:
    assert cumulative_delta_j([0.0, 1.0, 2.0], [0.0, 2.0, 6.0], 0.5, 1.5) == pytest.approx(3.0, abs=1e-15)
