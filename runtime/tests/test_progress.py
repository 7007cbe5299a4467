"""The ops commands' progress bars: events per second and the time left, for the whole run,
when the total grows as it is read (a replay reads past the count the topics held at its start)."""

from __future__ import annotations

from rich.console import Console

from orderflow.runtime.ops_cli import Pace, progress_bars


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_pace_is_the_average_since_the_first_update_and_gives_the_time_left() -> None:
    # given a pace on a clock of the test's own
    clock = Clock()
    pace = Pace(clock)

    # when a bar is first updated, then 4 s later has read 8,000 of 10,000
    first = pace("replay tracking", 0, 10_000)
    clock.now += 4
    later = pace("replay tracking", 8_000, 10_000)

    # then there was no pace yet at first, and later 2,000 events/s with 1 s left
    assert first is None
    assert later == (2_000.0, 1.0)


def test_a_bar_whose_total_grows_ends_with_its_rate_not_zero() -> None:
    # given a progress bar on a recorded console, its clock the test's own
    clock = Clock()
    screen = Console(record=True, width=120, force_terminal=False)

    # when it reads past the total it started with, at each update, and ends
    with progress_bars(["replay tracking"], Pace(clock), screen) as update:
        for read in range(0, 30_001, 5_000):
            update("replay tracking", read, 20_000)
            clock.now += 1

    # then its last line shows the run's pace (5,000 events/s), not 0 events/s
    last = screen.export_text().strip().splitlines()[-1]
    assert "30000/30000" in last
    assert "5,000 events/s" in last, last
