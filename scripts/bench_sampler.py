"""Episodes per second: fewshot's sampler vs the plain one-gather limit, easyfsl and learn2learn.

Same in-memory data for everyone (uint8 colour images), same episode shape, and everyone
delivers the same thing: normalised float32 support and query tensors with labels 0..N-1.

    python scripts/bench_sampler.py [--classes 64 --per-class 100 --size 84 --episodes 100 --repeats 10]

The "plain gather" row is the limit: indices drawn in advance, then one tensor gather (over the
rows of a 2-D view, the fastest copy torch offers) plus float conversion and normalisation per
episode, with the same conversion every other row uses. Ratios are episodes/s relative to that row.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from benchlib import race

from episodes import EpisodeSampler, TensorEpisodes
from fewshot.runs.inputs import Normalizer

MEAN, STD = 0.45, 0.25
# uint8 (B, H, W, C) -> normalised float (B, C, H, W); the same conversion for every path
normalise = Normalizer([MEAN] * 3, [STD] * 3)




class ItemDataset(torch.utils.data.Dataset):
    """What the peers consume: one normalised float image per __getitem__."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return normalise(self.images[i: i + 1])[0], int(self.labels[i])

    def get_labels(self):
        return self.labels.tolist()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--classes", type=int, default=64)
    p.add_argument("--per-class", type=int, default=100)
    p.add_argument("--size", type=int, default=84)
    p.add_argument("--way", type=int, default=5)
    p.add_argument("--shot", type=int, default=5)
    p.add_argument("--query", type=int, default=15)
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--repeats", type=int, default=10, help="interleaved rounds; the best of each path counts")
    a = p.parse_args()
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    n = a.classes * a.per_class
    images = torch.randint(0, 256, (n, a.size, a.size, 3), dtype=torch.uint8, generator=g)
    labels = torch.arange(a.classes).repeat_interleave(a.per_class)
    per_ep = a.way * (a.shot + a.query)
    print(f"data: {n} images {a.size}x{a.size}x3 uint8 in memory; episodes {a.way}-way {a.shot}-shot "
          f"{a.query}-query ({per_ep} images each); "
          f"best of {a.repeats} interleaved rounds of {a.episodes} episodes, 1 thread")
    paths = {}

    rng = np.random.default_rng(0)
    plain_index = [torch.from_numpy(rng.integers(0, n, per_ep)) for _ in range(a.episodes)]

    rows = images.view(n, -1)  # a gather over whole rows of a 2-D view: the fastest plain copy

    def plain(k):  # indices drawn in advance: only the gather + conversion is timed
        for idx in plain_index[:k]:
            normalise(rows.index_select(0, idx).view(per_ep, *images.shape[1:]))
    paths["plain one-gather limit"] = (plain, a.episodes)

    def ours(k):
        sampler = EpisodeSampler(labels, a.way, a.shot, a.query, n_episodes=k, seed=0)
        for _episode in TensorEpisodes(images, sampler, transform=normalise):
            pass
    paths["fewshot EpisodeSampler + TensorEpisodes"] = (ours, a.episodes)

    dataset = ItemDataset(images, labels)

    def ours_loader(k):
        from episodes import EpisodeCollate
        sampler = EpisodeSampler(labels, a.way, a.shot, a.query, n_episodes=k, seed=0)
        loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler,
                                             collate_fn=EpisodeCollate.from_sampler(sampler))
        for _ in loader:
            pass
    paths["fewshot EpisodeSampler + DataLoader (per item)"] = (ours_loader, a.episodes)

    try:
        import easyfsl.samplers.task_sampler as ts

        def easyfsl_run(k):
            # easyfsl 1.5.0 calls Sampler.__init__(data_source=None), removed in torch 2.6: shim it.
            orig = torch.utils.data.Sampler.__init__
            torch.utils.data.Sampler.__init__ = lambda self, *args, **kw: None
            try:
                sampler = ts.TaskSampler(dataset, a.way, a.shot, a.query, k)
            finally:
                torch.utils.data.Sampler.__init__ = orig
            loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler,
                                                 collate_fn=sampler.episodic_collate_fn)
            for _ in loader:
                pass
        paths["easyfsl 1.5.0 TaskSampler"] = (easyfsl_run, a.episodes)
    except ImportError:
        print("easyfsl not installed: skipped (pip install --no-deps easyfsl==1.5.0 pandas)")

    try:
        import learn2learn as l2l

        meta = l2l.data.MetaDataset(dataset)

        def l2l_run(k):
            tasks = l2l.data.TaskDataset(meta, task_transforms=[
                l2l.data.transforms.NWays(meta, a.way), l2l.data.transforms.KShots(meta, a.shot + a.query),
                l2l.data.transforms.LoadData(meta), l2l.data.transforms.RemapLabels(meta)], num_tasks=-1)
            for _ in range(k):
                x, y = tasks.sample()
                order = torch.argsort(y, stable=True).view(a.way, a.shot + a.query)
                x[order[:, : a.shot].flatten()], x[order[:, a.shot:].flatten()]
        paths["learn2learn 0.2.0 TaskDataset"] = (l2l_run, a.episodes)
    except ImportError:
        print("learn2learn not installed: skipped")

    results = race(paths, a.repeats)
    limit = results["plain one-gather limit"]
    print("\n| path | episodes/s | ratio to plain gather |\n|---|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r:,.0f} | {r / limit:.2f}x |")


if __name__ == "__main__":
    main()
