"""Episode samplers for ``torch.utils.data.DataLoader(dataset, batch_sampler=sampler)``.

Every episode's randomness comes from its own numpy generator seeded with
``SeedSequence([seed, epoch, i])`` (base seed, epoch, episode index): episode ``i`` of an epoch
is the same whoever draws it and whenever, which makes resuming, sharding and DataLoader
workers consistent. No global random state is read or changed. A DataLoader with workers asks
for episodes ahead of the loop: ``state_dict(consumed=n)`` saves the loop's place, not the
loader's.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import Sampler

from ._checks import check_int, preview
from .classes import ClassIndex
from .describers import Describer, FixedShots
from .drawer import draw_indices
from .spec import Episode

_STATE_KEYS = ("seed", "epoch", "position", "n_episodes", "world_size", "n_classes", "n_samples")


class SpecSampler(Sampler[List[int]]):
    """Yields the sample indices of ``n_episodes`` episodes per epoch, composed by a describer.

    Each yielded list is one episode: support indices class-major (class 0's support, then
    class 1's, ...), then query indices class-major, classes in the order of the episode's
    spec (so episode-local label ``j`` is the ``j``-th class). Support and query are disjoint.

    After a complete pass the sampler moves to the next epoch (``advance_epoch=True``), so the
    next pass draws new episodes; pass ``advance_epoch=False`` for an evaluation set that
    repeats. An interrupted pass is continued by the next ``iter()`` (from the last episode
    handed out: with DataLoader workers, load ``state_dict(consumed=n)`` to continue from the
    last one used). One pass at a time.

    Args:
        labels: label of every sample, or a data set :func:`episodes.labels_of` reads
            (``targets`` / ``labels``, learn2learn's MetaDataset, a Hugging Face data set).
        describer: decides each episode's composition (:mod:`episodes.describers`).
        n_episodes: episodes per epoch (over all shards).
        seed: base seed (int >= 0). Default 0 when no ``generator`` is given.
        generator: a ``torch.Generator`` to draw the base seed from (once, here).
        domains: optional domain id of every sample (for :class:`~episodes.ByDomain`).
        parents: optional super-category per sample or class (for :class:`~episodes.WithinParent`).
        drop_small_classes: leave out classes too small for the describer (with a warning)
            instead of raising ValueError.
        rank: which shard this sampler yields: episodes ``rank, rank + world_size, ...``.
        world_size: number of shards; their episodes are disjoint and together form the
            unsharded sequence.
        advance_epoch: move to the next epoch after each complete pass.
    """

    def __init__(self, labels: Any, describer: Describer, n_episodes: int = 1000,
                 seed: Optional[int] = None, *, generator: Optional[torch.Generator] = None,
                 domains: Any = None, parents: Any = None, drop_small_classes: bool = False,
                 rank: int = 0, world_size: int = 1, advance_epoch: bool = True) -> None:
        super().__init__()
        if not isinstance(describer, Describer):
            raise ValueError(f"describer must be an episodes.Describer, got {describer!r}")
        self.describer = describer
        self.n_episodes = check_int("n_episodes", n_episodes, 1)
        self.seed = _base_seed(seed, generator)
        self.world_size = check_int("world_size", world_size, 1)
        self.rank = check_int("rank", rank, 0)
        if self.rank >= self.world_size or self.world_size > self.n_episodes:
            raise ValueError(f"need 0 <= rank < world_size <= n_episodes, got rank={rank}, "
                             f"world_size={world_size}, n_episodes={n_episodes}")
        self.advance_epoch = bool(advance_epoch)
        self.index = _drop_or_refuse(ClassIndex.build(labels, domains, parents), describer,
                                     drop_small_classes)
        self._candidates = np.arange(self.index.n_classes, dtype=np.int64)
        describer.check(self.index, self._candidates)
        self._epoch = 0
        self._position = 0  # episodes of the current epoch this shard has yielded
        # Where the latest pass (iter() call) started and how many episodes it has yielded,
        # for state_dict(consumed=n).
        self._pass_start, self._pass_yielded = (0, 0), 0

    # ---- what the sampler holds -------------------------------------------------------
    @property
    def classes(self) -> np.ndarray:
        """(C,) original label of each usable class; specs refer to classes by position here."""
        return self.index.labels

    @property
    def fixed_shape(self):
        """``(n_way, k_shot, n_query)`` when every episode has that shape, else None."""
        return self.describer.fixed_shape

    @property
    def epoch(self) -> int:
        return self._epoch

    @property
    def position(self) -> int:
        """Episodes of the current epoch this shard has yielded."""
        return self._position

    def __len__(self) -> int:
        """Episodes this shard yields in a complete epoch."""
        return len(range(self.rank, self.n_episodes, self.world_size))

    # ---- drawing ----------------------------------------------------------------------
    def episode(self, i: int, epoch: Optional[int] = None) -> Episode:
        """Episode ``i`` (0..n_episodes-1, unsharded numbering) of ``epoch`` (default: current).

        Pure: does not move the sampler; the same (seed, epoch, i) always gives the same episode.
        """
        i = check_int("episode index", i, 0)
        if i >= self.n_episodes:
            raise IndexError(f"episode index {i} out of range for n_episodes={self.n_episodes}")
        epoch = self._epoch if epoch is None else check_int("epoch", epoch, 0)
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, epoch, i]))
        spec = self.describer(rng, self.index, self._candidates)
        return Episode(draw_indices(spec, self.index, rng), spec, epoch, i)

    def episode_indices(self, i: int) -> List[int]:
        """Sample indices of episode ``i`` of the current epoch (as yielded)."""
        return self.episode(i).indices.tolist()

    def iter_episodes(self) -> Iterator[Episode]:
        """Like ``iter(sampler)`` but yields :class:`Episode` objects (indices and spec).

        A pass starts here, when called (not at the first ``next``): ``state_dict(consumed=n)``
        counts from this point.
        """
        self._pass_start, self._pass_yielded = (self._epoch, self._position), 0
        return self._pass()

    def _pass(self) -> Iterator[Episode]:
        epoch = self._epoch
        while self._position < len(self):
            i = self.rank + self._position * self.world_size
            self._position += 1  # counted before yielding: a state saved now resumes after it
            self._pass_yielded += 1
            yield self.episode(i, epoch)
        self._position = 0
        if self.advance_epoch:
            self._epoch = epoch + 1

    def __iter__(self) -> Iterator[List[int]]:
        # The generator expression calls iter_episodes() now, so iter() marks the pass start.
        return (episode.indices.tolist() for episode in self.iter_episodes())

    # ---- epochs, shards, resuming -----------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Draw the episodes of ``epoch`` next. Setting the current epoch again keeps the
        position, so a loop that calls ``set_epoch`` after resuming continues where it was."""
        epoch = check_int("epoch", epoch, 0)
        if epoch != self._epoch:
            self._epoch, self._position = epoch, 0
            self._pass_start, self._pass_yielded = (epoch, 0), 0

    def shard(self, rank: int, world_size: int) -> "SpecSampler":
        """A copy yielding only episodes ``rank, rank + world_size, ...`` of each epoch.

        When ``n_episodes`` is not a multiple of ``world_size`` the first
        ``n_episodes % world_size`` ranks get one episode more (choose a multiple for DDP,
        whose ranks must take the same number of steps).
        """
        if self.world_size != 1:
            raise ValueError("shard() needs an unsharded sampler (world_size=1)")
        rank, world_size = check_int("rank", rank, 0), check_int("world_size", world_size, 1)
        if rank >= world_size or world_size > self.n_episodes:
            raise ValueError(f"need 0 <= rank < world_size <= n_episodes, got rank={rank}, "
                             f"world_size={world_size}, n_episodes={self.n_episodes}")
        shard = copy.copy(self)
        shard.rank, shard.world_size, shard._position = rank, world_size, 0
        shard._pass_start, shard._pass_yielded = (shard._epoch, 0), 0
        return shard

    def state_dict(self, consumed: Optional[int] = None) -> Dict[str, int]:
        """Everything needed to continue the episode sequence exactly.

        Keys: ``seed``, ``epoch``, ``position`` (episodes of ``epoch`` this shard has yielded)
        and, checked on loading, ``n_episodes``, ``world_size``, ``n_classes``, ``n_samples``.

        Args:
            consumed: the number of episodes your loop has taken from the current pass (since
                the latest ``iter(loader)`` / ``iter(sampler)``). A DataLoader with workers asks
                for episodes ahead of their use (``prefetch_factor * num_workers`` of them), so
                without ``consumed`` the state is where the *loader* is, and a resumed run skips
                the prefetched episodes; with it, the state is where the *loop* is, and a resumed
                run yields exactly the episodes not yet consumed. Not needed when the sampler is
                iterated directly or with ``num_workers=0`` (where the two agree).
        """
        epoch, position = self._epoch, self._position
        if consumed is not None:
            epoch, position = self._consumed_state(check_int("consumed", consumed, 0))
        return {"seed": self.seed, "epoch": epoch, "position": position,
                "n_episodes": self.n_episodes, "world_size": self.world_size,
                "n_classes": self.index.n_classes, "n_samples": self.index.n_samples}

    def _consumed_state(self, consumed: int) -> Tuple[int, int]:
        """(epoch, position) after ``consumed`` episodes of the latest pass."""
        if consumed > self._pass_yielded:
            raise ValueError(
                f"state_dict(consumed={consumed}), but the current pass has yielded only "
                f"{self._pass_yielded} episodes: count the episodes your loop took since its "
                "latest iter(loader) (e.g. the step of enumerate(loader) + 1)")
        epoch, start = self._pass_start
        position = start + consumed
        if position < len(self):
            return epoch, position
        return (epoch + 1 if self.advance_epoch else epoch), 0  # the pass is complete

    def load_state_dict(self, state: Dict[str, int]) -> None:
        """Continue from a :meth:`state_dict` (the seed comes from the state)."""
        missing = [key for key in _STATE_KEYS if key not in state]
        if missing:
            raise ValueError(f"sampler state lacks {missing}; expected keys {_STATE_KEYS}")
        current = self.state_dict()
        for key in ("n_episodes", "world_size", "n_classes", "n_samples"):
            if int(state[key]) != current[key]:
                raise ValueError(f"sampler state has {key}={state[key]} but this sampler has "
                                 f"{current[key]}: it was saved for a different set-up")
        position = check_int("position", state["position"], 0)
        if position > len(self):
            raise ValueError(f"position {position} exceeds the {len(self)} episodes per epoch")
        self.seed = check_int("seed", state["seed"], 0)
        self._epoch, self._position = check_int("epoch", state["epoch"], 0), position
        self._pass_start, self._pass_yielded = (self._epoch, position), 0

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.describer!r}, n_episodes={self.n_episodes}, "
                f"classes={self.index.n_classes}, seed={self.seed}, epoch={self._epoch}, "
                f"shard={self.rank}/{self.world_size})")


class EpisodeSampler(SpecSampler):
    """N-way K-shot episodes with Q queries per class (the usual few-shot episode).

    Yields lists of ``n_way * (k_shot + n_query)`` indices: ``n_way * k_shot`` support indices
    (class 0's K shots, class 1's K shots, ...) then ``n_way * n_query`` query indices (same
    class order). See :class:`SpecSampler` for seeding, epochs, sharding and resuming.

    Example::

        sampler = EpisodeSampler(dataset.targets, n_way=5, k_shot=1, n_query=15,
                                 n_episodes=1000, seed=0)
        loader = DataLoader(dataset, batch_sampler=sampler,
                            collate_fn=EpisodeCollate.from_sampler(sampler), num_workers=4)
        for support, support_labels, query, query_labels in loader: ...
    """

    def __init__(self, labels: Any, n_way: int = 5, k_shot: int = 1, n_query: int = 15,
                 n_episodes: int = 1000, seed: Optional[int] = None, *,
                 generator: Optional[torch.Generator] = None, drop_small_classes: bool = False,
                 rank: int = 0, world_size: int = 1, advance_epoch: bool = True) -> None:
        super().__init__(labels, FixedShots(n_way, k_shot, n_query), n_episodes, seed,
                         generator=generator, drop_small_classes=drop_small_classes,
                         rank=rank, world_size=world_size, advance_epoch=advance_epoch)
        self.n_way, self.k_shot, self.n_query = n_way, k_shot, n_query


def _base_seed(seed: Optional[int], generator: Optional[torch.Generator]) -> int:
    if generator is None:
        return 0 if seed is None else check_int("seed", seed, 0)
    if seed is not None:
        raise ValueError("pass either seed or generator, not both")
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    return int(torch.randint(0, 2**62, (1,), generator=generator).item())


def _drop_or_refuse(index: ClassIndex, describer: Describer, drop: bool) -> ClassIndex:
    """Refuse classes smaller than the describer needs, or leave them out with a warning."""
    need = describer.min_class_size
    small = np.flatnonzero(index.sizes < need)
    if len(small) == 0:
        return index
    if not drop:
        c = small[0]
        others = (f"; {len(small) - 1} other classes are too small too: "
                  f"{preview(index.name(s) for s in small[1:])}" if len(small) > 1 else "")
        raise ValueError(
            f"{index.name(c)} has {index.sizes[c]} samples but an episode needs "
            f"{describer.size_requirement()} from each class{others}. Lower the shots or "
            "queries, or pass drop_small_classes=True to leave such classes out")
    warnings.warn(f"drop_small_classes: dropped {len(small)} of {index.n_classes} classes with "
                  f"fewer than {need} samples ({preview(index.name(s) for s in small)})",
                  UserWarning, stacklevel=3)
    return index.subset(index.sizes >= need)
