"""Which consumers /healthz reports as falling behind."""

from __future__ import annotations

import pytest

from mcburger.application.feeds.lag import LagWatch


def watched(*samples: dict[str, int], growing: int = 3) -> LagWatch:
    watch = LagWatch(growing)
    for lags in samples:
        watch.record(lags)
    return watch


def test_a_consumer_whose_lag_grows_sample_after_sample_is_falling_behind() -> None:
    watch = watched({"analytics": 0, "views": 0}, {"analytics": 40, "views": 3},
                    {"analytics": 90, "views": 0}, {"analytics": 150, "views": 5})

    assert watch.falling_behind() == {"analytics": 150}


@pytest.mark.parametrize("lags", [
    [5000, 4000, 2500, 900],  # a rebuild: far behind, catching up
    [0, 30, 30, 60],  # a burst that stopped growing for a sample
    [0, 10, 20],  # not enough samples yet to say
])
def test_a_consumer_catching_up_or_keeping_pace_is_not(lags: list[int]) -> None:
    watch = watched(*({"analytics": lag} for lag in lags))

    assert watch.falling_behind() == {}


def test_one_that_recovers_is_off_the_list_at_the_next_sample() -> None:
    watch = watched(*({"analytics": lag} for lag in (0, 10, 20, 30)))
    assert watch.falling_behind() == {"analytics": 30}

    watch.record({"analytics": 0})

    assert watch.falling_behind() == {}


def test_only_the_last_samples_count_and_gone_consumers_are_forgotten() -> None:
    watch = watched(*({"analytics": lag, "relay": 0} for lag in (9, 8, 7, 10, 20, 30)))
    assert watch.falling_behind() == {"analytics": 30}

    watch.record({"relay": 0})

    assert watch.falling_behind() == {}
