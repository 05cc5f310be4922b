"""Fast path for data held in one tensor or array: one gather per episode, no per-item Python."""

from __future__ import annotations

from typing import Callable, Iterator, List, Optional, Tuple, Union

import numpy as np
import torch

from ._checks import check_int
from .sampler import SpecSampler
from .spec import Episode

Batch = Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


class TensorEpisodes:
    """Iterate episodes of a sampler as tensors gathered from ``data`` in one indexing call.

    The data stay in their dtype (e.g. uint8 images) until they reach ``device``; ``transform``
    (e.g. conversion to float and normalisation) then runs there, on the whole gathered batch.
    Yields the same ``(support, support_labels, query, query_labels)`` as a DataLoader with
    :class:`~episodes.EpisodeCollate`, and moves the sampler exactly as iterating it would
    (so ``sampler.state_dict()`` resumes here too).

    Args:
        data: (n_samples, *sample_shape) tensor (any device) or numpy array (a memory-mapped
            array is read only at the gathered rows), e.g. uint8 images (N, H, W[, C]) or
            (N, D) features; row ``i`` is sample ``i`` of the sampler's labels.
        sampler: the episode sampler.
        device: where the episodes go (default: where the data are).
        transform: callable applied on ``device`` to each gathered (M, *sample_shape) batch,
            returning (M, ...); M = support + query samples of one episode or a meta-batch.
        meta_batch: gather B episodes at once and yield them stacked:
            support (B, n_way * k_shot, ...), support_labels (B, n_way * k_shot), query
            (B, n_way * n_query, ...), query_labels (B, n_way * n_query); the last meta-batch
            of an epoch may be smaller. Needs episodes of one shape (``sampler.fixed_shape``).
        pin_memory: gather into pinned memory for faster, asynchronous copies to a GPU.
    """

    def __init__(self, data: Union[torch.Tensor, np.ndarray], sampler: SpecSampler,
                 device: Optional[Union[str, torch.device]] = None,
                 transform: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
                 meta_batch: Optional[int] = None, pin_memory: bool = False) -> None:
        if not isinstance(data, (torch.Tensor, np.ndarray)):
            raise ValueError(f"data must be a tensor or numpy array, got {type(data).__name__}")
        if len(data) != sampler.index.n_samples:
            raise ValueError(f"data has {len(data)} rows but the sampler's labels describe "
                             f"{sampler.index.n_samples} samples")
        if meta_batch is not None:
            check_int("meta_batch", meta_batch, 1)
            if sampler.fixed_shape is None:
                raise ValueError("meta_batch needs episodes of one shape; this sampler's "
                                 f"{sampler.describer!r} varies them: iterate without it")
        self.data, self.sampler, self.transform = data, sampler, transform
        if isinstance(data, torch.Tensor):
            # index_select over rows of a 2-D view copies whole rows at once: about twice as
            # fast as over a 4-D image tensor (and ~20x faster than data[index_tensor]).
            self._rows = data.reshape(len(data), -1) if data.is_contiguous() else data
        self.device = None if device is None else torch.device(device)
        self.meta_batch, self.pin_memory = meta_batch, bool(pin_memory)

    def __len__(self) -> int:
        if self.meta_batch is None:
            return len(self.sampler)
        return -(-len(self.sampler) // self.meta_batch)

    def __iter__(self) -> Iterator[Batch]:
        group: List[Episode] = []
        for episode in self.sampler.iter_episodes():
            if self.meta_batch is None:
                yield self._single(episode)
                continue
            group.append(episode)
            if len(group) == self.meta_batch:
                yield self._stacked(group)
                group = []
        if group:
            yield self._stacked(group)

    def gather(self, indices: np.ndarray) -> torch.Tensor:
        """(len(indices), *sample_shape) rows of the data, on ``device``, transformed."""
        if isinstance(self.data, torch.Tensor):
            rows = self._rows.index_select(0, torch.from_numpy(indices).to(self.data.device))
            rows = rows.view(len(indices), *self.data.shape[1:])
        else:
            rows = torch.from_numpy(np.ascontiguousarray(np.asarray(self.data[indices])))
        if self.pin_memory and rows.device.type == "cpu":
            rows = rows.pin_memory()
        if self.device is not None:
            rows = rows.to(self.device, non_blocking=self.pin_memory)
        return rows if self.transform is None else self.transform(rows)

    def _labels(self, labels: np.ndarray, like: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(labels).to(like.device)

    def _single(self, episode: Episode) -> Batch:
        rows = self.gather(episode.indices)
        n = episode.spec.support_size
        return (rows[:n], self._labels(episode.spec.support_labels(), rows),
                rows[n:], self._labels(episode.spec.query_labels(), rows))

    def _stacked(self, episodes: List[Episode]) -> Batch:
        rows = self.gather(np.concatenate([e.indices for e in episodes]))
        rows = rows.reshape(len(episodes), -1, *rows.shape[1:])
        n = episodes[0].spec.support_size
        support_labels = np.stack([e.spec.support_labels() for e in episodes])
        query_labels = np.stack([e.spec.query_labels() for e in episodes])
        return (rows[:, :n], self._labels(support_labels, rows),
                rows[:, n:], self._labels(query_labels, rows))
