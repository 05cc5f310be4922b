"""Timing helper shared by the ``bench_*.py`` scripts (not a benchmark itself)."""

from __future__ import annotations

import time
from typing import Callable, Dict, Tuple


def race(paths: Dict[str, Tuple[Callable[[int], None], int]], repeats: int) -> Dict[str, float]:
    """Episodes per second of each path, best of ``repeats`` rounds.

    ``paths`` maps a name to ``(fn, episodes)`` where ``fn(k)`` runs k episodes. The rounds are
    interleaved (every path once per round) so that a change in the machine's load during the run
    hits all paths alike instead of whichever was being timed at that moment.
    """
    for fn, episodes in paths.values():
        fn(min(episodes, 5))  # warm-up: first touches of memory, page cache, lazy imports
    best = {name: float("inf") for name in paths}
    for _ in range(repeats):
        for name, (fn, episodes) in paths.items():
            start = time.perf_counter()
            fn(episodes)
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: paths[name][1] / best[name] for name in paths}
