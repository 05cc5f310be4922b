"""A tiny synthetic data set and config for tests that run whole trainings (in-process or as a
``python -m fewshot`` subprocess with ``FEWSHOT_PLUGINS=tiny_run``).

Not a test module (no ``test_`` prefix): test files import it after putting this folder on
``sys.path``; subprocesses get the folder through ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from fewshot.data.base import ImageSplit
from fewshot.data.registry import register_dataset

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SPLITS = {"train": (0, 8), "val": (100, 5), "test": (200, 5)}  # first class id, classes


@register_dataset("tiny")
def load_tiny(split: str, root=None, image_size: int = 16, seed: int = 0, per_class: int = 10,
              **options) -> ImageSplit:
    """Classes are fixed random blobs; images are noisy, shifted copies (learnable in a few steps)."""
    if split not in SPLITS:
        raise ValueError(f"data set 'tiny' has no split {split!r}; choose one of {', '.join(SPLITS)}")
    first, n_classes = SPLITS[split]
    images, labels = [], []
    for c in range(n_classes):
        rng = np.random.default_rng([seed, first + c])
        proto = rng.uniform(0, 255, (image_size, image_size))
        for _ in range(per_class):
            shifted = np.roll(proto, tuple(rng.integers(-1, 2, 2)), axis=(0, 1))
            images.append(np.clip(shifted + rng.normal(0, 40, proto.shape), 0, 255))
            labels.append(c)
    return ImageSplit(np.stack(images).astype(np.uint8), np.array(labels), [f"c{first + c}" for c in range(n_classes)],
                      f"tiny/{split}")


TINY_CONFIG = """\
data: {name: tiny, image_size: 16, train_split: train, val_split: val, test_split: test}
model: {backbone: conv4, learner: protonet, width: 8}
train: {n_way: 4, k_shot: 1, n_query: 2, episodes: 60, lr: 0.005, lr_step: 20, lr_gamma: 0.5,
        val_every: 30, val_episodes: 4, ckpt_every: 10, keep_last: 2, log_every: 5, seed: 3,
        threads: 1, progress: false, deterministic: true}
eval: {n_way: 3, shots: [1, 2], n_query: 2, episodes: 6, untrained_baseline: false}
"""


def write_config(folder: Path, extra: str = "") -> Path:
    """The tiny config (plus ``extra`` YAML lines merged by the caller's overrides) in ``folder``."""
    path = Path(folder) / "tiny.yaml"
    path.write_text(TINY_CONFIG + extra)
    return path


def subprocess_env() -> dict:
    """Environment for ``python -m fewshot`` that loads this module as a plugin."""
    env = dict(os.environ, FEWSHOT_PLUGINS="tiny_run", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(REPO), env.get("PYTHONPATH", "")])
    return env


def fewshot_command(*args: str) -> list:
    return [sys.executable, "-m", "fewshot", *args]


def write_image_folder(root: Path, splits=(("train", 8), ("val", 5), ("test", 5)), per_class: int = 6,
                       size: int = 16) -> Path:
    """``root/<split>/<class>/<i>.png`` with the tiny data set's images (for the imagefolder loader)."""
    from PIL import Image

    for split, n_classes in splits:
        data = load_tiny(split if split in SPLITS else "train", image_size=size, per_class=per_class)
        for i, (img, lab) in enumerate(zip(data.images, data.labels)):
            if lab >= n_classes:
                continue
            folder = Path(root) / split / data.class_names[lab]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(folder / f"{i:03d}.png")
    return Path(root)


def image_folder_overrides(root: Path, cache: Path) -> list:
    return ["data.name=imagefolder", f"data.root={root}",
            f"data.options={{cache_dir: '{cache}', progress: false, workers: 1, channels: 1}}"]


def leave_group(rank: int, store: str, times: str) -> None:
    """One rank of a 2-process gloo group (``test_distributed``): rank 0 is still busy (1 s)
    when rank 1 is done."""
    import json
    import time

    import torch.distributed as tdist

    from fewshot.runs import ranks

    tdist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    if rank == 0:
        time.sleep(1.0)
    before = time.time()
    ranks.cleanup(finished=True)
    Path(times, f"{rank}.json").write_text(json.dumps({"before": before, "after": time.time()}))

