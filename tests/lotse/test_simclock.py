"""The compressed clock a spawned ``lotse run`` shares with the stand-in."""

from __future__ import annotations

import pytest

from lotse.simclock import SimClock
from standin.clock import ScaledClock


def test_it_reads_what_it_writes() -> None:
    clock = SimClock(1_795_500_000.25, 12345.5, 60.0)
    assert SimClock.parse(clock.render()) == clock


@pytest.mark.parametrize("bad", ["1,2", "1,2,3,4", "a,2,3", "1,2,0", "1,2,-60", "1,nan,60"])
def test_bad_text_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        SimClock.parse(bad)


def test_it_agrees_with_the_stand_ins_clock() -> None:
    scaled = ScaledClock(60.0, start_epoch=1_795_500_000.0)
    epoch0, mono0 = scaled.reference
    shared = SimClock(epoch0, mono0, 60.0)
    # Read in between two readings of the other: the same time line.
    a = scaled.now()
    b = shared.now()
    c = scaled.now()
    assert a <= b <= c
    assert shared.wall().timestamp() >= b
