"""Turn an :class:`EpisodeSpec` into sample indices: the one drawing mechanism of the package."""

from __future__ import annotations

import numpy as np

from .classes import ClassIndex
from .spec import EpisodeSpec


def draw_indices(spec: EpisodeSpec, index: ClassIndex, rng: np.random.Generator) -> np.ndarray:
    """Draw the samples of one episode.

    For each class the support and query samples are drawn *jointly without replacement*
    (``n_support + n_query`` distinct samples, the first ones become support), so a sample
    never appears in both sets.

    Args:
        spec: the episode's composition.
        index: the samples of each class.
        rng: the episode's own generator (all randomness of the episode comes from it).

    Returns:
        (support_size + query_size,) int64 sample indices: support class-major, then query
        class-major, classes in the order of ``spec.classes``.
    """
    support, query = [], []
    for c, s, q in zip(spec.classes, spec.n_support, spec.n_query):
        members = index.of(c)
        if s + q > len(members):
            # Describers respect class sizes; reaching this is a bug in a custom describer.
            raise ValueError(f"{index.name(c)} has {len(members)} samples, the episode asks "
                             f"for {s} support + {q} query")
        chosen = members[rng.choice(len(members), size=int(s + q), replace=False)]
        support.append(chosen[:s])
        query.append(chosen[s:])
    return np.concatenate(support + query)
