"""Which consumers keep falling behind: lag sampled at a fixed interval, per consumer."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Mapping

# A consumer whose lag grew at each of this many samples in a row is falling behind: a rebuild
# shrinks its lag, a burst grows it for a sample or two, one that cannot keep up grows it
# sample after sample.
GROWING_SAMPLES = 4
SAMPLE_SECONDS = 5.0


class LagWatch:
    """The last ``samples + 1`` lags of each consumer (O(consumers) memory).

    ``record`` takes one sample of every consumer's lag (events of the log or messages of the
    bus not yet taken in); ``falling_behind`` names those whose lag grew at every one of the
    last ``samples`` samples, with their lag now. One that catches up, or stops growing, is
    off the list at the next sample.
    """

    def __init__(self, samples: int = GROWING_SAMPLES) -> None:
        if samples < 1:
            raise ValueError(f"samples must be >= 1, got {samples}")
        self._samples = samples
        self._lags: dict[str, deque[int]] = {}

    def record(self, lags: Mapping[str, int]) -> None:
        for name, lag in lags.items():
            self._lags.setdefault(name, deque(maxlen=self._samples + 1)).append(lag)
        for gone in self._lags.keys() - lags.keys():
            del self._lags[gone]

    def falling_behind(self) -> dict[str, int]:
        return {name: lags[-1] for name, lags in self._lags.items()
                if len(lags) > self._samples
                and all(later > earlier for earlier, later in itertools.pairwise(lags))}
