"""The simulation clock: real, accelerated, stepped; continuous under speed changes; never backwards."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aura_exchange_sim.clock import SimClock


class Wall:
    def __init__(self, t: int = 1_000_000) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t


@pytest.mark.parametrize("speed,elapsed,expected", [(1, 1000, 1000), (60, 1000, 60_000), (0.5, 1000, 500),
                                                    (0, 1000, 0)])
def test_speeds(speed, elapsed, expected):
    wall = Wall()
    c = SimClock(5_000, speed, wall)
    wall.t += elapsed
    assert c.now_ms() == 5_000 + expected
    assert c.mode == {1: "real", 0: "stepped"}.get(speed, "accelerated")


def test_default_start_is_the_wall_clock_and_steps_work_in_any_mode():
    wall = Wall(42_000)
    c = SimClock(None, 1, wall)
    assert c.now_ms() == 42_000
    assert c.step(1000) == 43_000
    wall.t += 10
    assert c.now_ms() == 43_010
    with pytest.raises(ValueError):
        c.set(0)
    with pytest.raises(ValueError):
        c.step(-1)
    with pytest.raises(ValueError):
        c.set_speed(-2)


@given(ops=st.lists(st.tuples(st.sampled_from(["wall", "speed", "step", "set"]), st.integers(0, 10_000)),
                    max_size=30))
def test_monotonic_and_continuous(ops):
    wall = Wall()
    c = SimClock(0, 1, wall)
    last = c.now_ms()
    for kind, v in ops:
        before = c.now_ms()
        if kind == "wall":
            wall.t += v
        elif kind == "speed":
            c.set_speed(v / 100)
            assert c.now_ms() == before  # re-anchoring keeps time continuous
        elif kind == "step":
            c.step(v)
            assert c.now_ms() == before + v
        else:
            c.set(before + v)
        now = c.now_ms()
        assert now >= last
        last = now
