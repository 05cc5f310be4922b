"""Episodes per second from image files: fewshot's pre-decoded cache vs a per-item PIL image folder.

Both paths read the same folder of JPEG files (written here, one sub-folder per class) and deliver
the same thing: normalised float32 (B, 3, S, S) episodes with labels 0..N-1, on one thread.

* per-item PIL: what most few-shot code does (torchvision's ImageFolder pattern): every image of
  every episode is opened, decoded and converted on its own, collated by a DataLoader that takes
  fewshot's EpisodeSampler as batch sampler.
* fewshot cache: ``fewshot data prepare`` decodes the folder once into a memory-mapped uint8 array
  (built here through the same loader, its one-off cost printed separately); each episode is then
  one gather from the memmap, converted and normalised as a batch (TensorEpisodes).

    python scripts/bench_cache.py [--classes 20 --per-class 60 --size 84 --episodes 300 --pil-episodes 30]

Files are stored at --size already (the cheapest case for the per-item path: no resize); real
miniImageNet JPEGs are larger, which widens the gap. Ratios compare episodes per second. Two rows
for the cache: episodes converted to normalised float here on the CPU (the same output as the
per-item path), and uint8 episodes as a GPU run moves them (the conversion then runs on the device,
where it is cheap).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from benchlib import race
from PIL import Image

from episodes import EpisodeCollate, EpisodeSampler, TensorEpisodes
from fewshot.runs.inputs import Normalizer

MEAN, STD = 0.45, 0.25
# uint8 (B, H, W, C) -> normalised float (B, C, H, W); the same conversion for every path
normalise = Normalizer([MEAN] * 3, [STD] * 3)




class PILFolder(torch.utils.data.Dataset):
    """One file opened and decoded per ``__getitem__``, as torchvision's ImageFolder does."""

    def __init__(self, files, labels, size: int):
        self.files, self.labels, self.size = files, labels, size

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        with Image.open(self.files[i]) as im:
            im = im.convert("RGB")
            if im.size != (self.size, self.size):
                im = im.resize((self.size, self.size), Image.BILINEAR)
            x = torch.from_numpy(np.asarray(im, dtype=np.uint8).copy())
        return normalise(x[None])[0], int(self.labels[i])


def write_folder(root: Path, classes: int, per_class: int, size: int, seed: int = 0):
    """JPEG files root/c###/i###.jpg of smooth random images (compressible like photos)."""
    rng = np.random.default_rng(seed)
    files, labels = [], []
    for c in range(classes):
        (root / f"c{c:03d}").mkdir(parents=True)
        for i in range(per_class):
            small = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
            im = Image.fromarray(small).resize((size, size), Image.BILINEAR)
            path = root / f"c{c:03d}" / f"i{i:03d}.jpg"
            im.save(path, quality=90)
            files.append(path)
            labels.append(c)
    return files, np.array(labels)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--classes", type=int, default=20)
    p.add_argument("--per-class", type=int, default=60)
    p.add_argument("--size", type=int, default=84)
    p.add_argument("--way", type=int, default=5)
    p.add_argument("--shot", type=int, default=5)
    p.add_argument("--query", type=int, default=15)
    p.add_argument("--episodes", type=int, default=300, help="episodes per timing of the cache path")
    p.add_argument("--pil-episodes", type=int, default=30, help="episodes per timing of the per-item path")
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(1)
    from fewshot.data.folder import load_image_folder

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "images"
        files, labels = write_folder(root, a.classes, a.per_class, a.size)
        per_ep = a.way * (a.shot + a.query)
        print(f"data: {len(files)} JPEG files {a.size}x{a.size} in {a.classes} class folders; episodes "
              f"{a.way}-way {a.shot}-shot {a.query}-query ({per_ep} images each); "
              f"best of {a.repeats} interleaved rounds, 1 thread")

        start = time.perf_counter()
        split = load_image_folder("all", root=root, image_size=a.size, cache_dir=str(Path(tmp) / "cache"),
                                  progress=False, workers=1)
        prepare = time.perf_counter() - start
        assert isinstance(split.images, np.memmap), type(split.images)
        assert np.array_equal(split.labels, labels)  # same files, same classes, same order

        dataset = PILFolder(files, labels, a.size)

        def pil(k):
            sampler = EpisodeSampler(labels, a.way, a.shot, a.query, n_episodes=k, seed=0)
            loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler,
                                                 collate_fn=EpisodeCollate.from_sampler(sampler))
            for _ in loader:
                pass

        def cache(k):
            sampler = EpisodeSampler(split.labels, a.way, a.shot, a.query, n_episodes=k, seed=0)
            for _ in TensorEpisodes(split.images, sampler, transform=normalise):
                pass

        # the two paths deliver the same episode (cache decoded by the same PIL, same sampler seed)
        s1, s2 = (EpisodeSampler(labels, a.way, a.shot, a.query, n_episodes=1, seed=0) for _ in range(2))
        xs_pil = next(iter(torch.utils.data.DataLoader(dataset, batch_sampler=s1,
                                                       collate_fn=EpisodeCollate.from_sampler(s1))))[0]
        xs_cache = next(iter(TensorEpisodes(split.images, s2, transform=normalise)))[0]
        same = torch.allclose(xs_pil, xs_cache, atol=1e-5)

        def cache_uint8(k):  # what a GPU run moves: uint8 episodes, normalised on the device
            sampler = EpisodeSampler(split.labels, a.way, a.shot, a.query, n_episodes=k, seed=0)
            for _ in TensorEpisodes(split.images, sampler):
                pass

        results = race({"per-item PIL image folder (DataLoader), float": (pil, a.pil_episodes),
                        "fewshot cache (memmap) + TensorEpisodes, float on this CPU": (cache, a.episodes),
                        "fewshot cache (memmap) + TensorEpisodes, uint8 for the device": (cache_uint8, a.episodes)},
                       a.repeats)
    base = results["per-item PIL image folder (DataLoader), float"]
    print(f"one-off decode into the cache: {prepare:.1f} s for {len(files)} files; "
          f"first support sets identical: {same}")
    print("\n| path | episodes/s | ratio to per-item PIL |\n|---|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r:,.0f} | {r / base:.1f}x |")


if __name__ == "__main__":
    main()
